"""The compute ledger for an actor: compute spent and avoided, per org and month and consortium-wide,
counting only the versions the actor can see (`visible_to`) and never drafts, deleted or rejected ones.

Spent: each recipe run once. A recipe artifact is one run, however many versions it has: the run is
dated by the month of its first version (when it was first reported) and measured by its newest
version that has figures (a fix is a new version), as its format check stored them (`RecipeFeatures`).

Avoided, credited to the org that did not re-run another org's run:
  (a) its recipe `reuses` that run → the run's compute;
  (b) its checkpoint is `derived_from` another org's checkpoint → the compute of the recipe runs that
      produced the parent (`produced_by`, when they have figures), else the parent's declared compute;
  (c) it acknowledged the run (`Acknowledgement`) → the run's compute (a checkpoint's, as in (b)).
A source counts once per org however many ways it is credited, in the month of its first credit.

Figures may be missing: a total sums the known ones and says how many are missing; it is None
(missing) only when every one is, never a zero standing in for "unknown".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from django.db.models import QuerySet

from jobs.ledger.compute import Compute, declared
from jobs.models import Acknowledgement, RecipeFeatures
from jobs.prior_art.evidence import RECIPE_KINDS
from registry.actors import Actor
from registry.models import Kind, LineageEdge, Organization, Relation, Version

UNCOUNTED = (Version.State.DRAFT, Version.State.DELETED, Version.State.REJECTED)
WAYS = ("reuses", "derived_from", "acknowledged")


def month_of(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m")


@dataclass(frozen=True)
class Run:
    """One recipe artifact's run, as the actor sees it."""

    key: str
    organization: str
    name: str  # org/artifact@number of the version whose figures count
    version_id: str
    kind: str
    month: str
    compute: Compute
    has_figures: bool  # its format check stored them (else the compute is all missing)
    versions: int = 1
    avoided_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class Source:
    """What an org avoided re-running: a recipe run, or a checkpoint measured by its declared compute."""

    key: str
    organization: str
    name: str
    kind: str  # "recipe" or "checkpoint"
    compute: Compute


@dataclass(frozen=True)
class Credit:
    """`organization` avoided re-running `source`, first credited in `month`, in these ways."""

    organization: str
    month: str
    source: Source
    ways: tuple[str, ...]


@dataclass(frozen=True)
class Tally:
    count: int = 0
    gpu_hours: float | None = 0.0
    gpu_hours_missing: int = 0
    flops: float | None = 0.0
    flops_missing: int = 0
    flops_estimated: int = 0  # how many of the summed FLOPs are estimates

    @classmethod
    def of(cls, items: Iterable[Compute]) -> Tally:
        items = list(items)
        hours = [c.gpu_hours for c in items if c.gpu_hours is not None]
        flops = [c.flops for c in items if c.flops is not None]
        return cls(
            count=len(items),
            gpu_hours=sum(hours) if hours or not items else None,
            gpu_hours_missing=len(items) - len(hours),
            flops=sum(flops) if flops or not items else None,
            flops_missing=len(items) - len(flops),
            flops_estimated=sum(1 for c in items if c.flops is not None and c.flops_estimated),
        )


@dataclass(frozen=True)
class Row:
    organization: str | None  # None: every org
    month: str | None  # None: every month
    spent: Tally
    avoided: Tally


@dataclass(frozen=True)
class Ledger:
    totals: Row
    by_organization: list[Row]
    by_month: list[Row]
    by_organization_month: list[Row]
    runs: list[Run]
    credits: list[Credit]
    filters: dict[str, str | None] = field(default_factory=dict)


def ledger(
    actor: Actor, *, organization: str | None = None, since: str | None = None, until: str | None = None
) -> Ledger:
    """The ledger `actor` may see, narrowed to one org (slug) and months `since`..`until` (YYYY-MM)."""
    counted = Version.objects.visible_to(actor).exclude(state__in=UNCOUNTED)
    runs, run_of_version, month_of_version = _runs(counted)
    credits = _credits(actor, counted, runs, run_of_version, month_of_version)
    return build(list(runs.values()), credits, organization=organization, since=since, until=until)


def build(
    runs: list[Run],
    credits: list[Credit],
    *,
    organization: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> Ledger:
    """The arithmetic, on runs and credits already limited to what the actor sees."""
    credits = dedupe(credits)
    avoided_by: dict[str, set[str]] = defaultdict(set)
    for credit in credits:
        avoided_by[credit.source.key].add(credit.organization)
    runs = [replace(run, avoided_by=tuple(sorted(avoided_by[run.key]))) for run in runs]

    def kept(org: str, month: str) -> bool:
        return (organization in (None, org)) and (since is None or month >= since) and (until is None or month <= until)

    runs = sorted((r for r in runs if kept(r.organization, r.month)), key=lambda r: (r.month, r.organization, r.name))
    credits = [c for c in credits if kept(c.organization, c.month)]
    spent: dict[tuple[str, str], list[Compute]] = defaultdict(list)
    avoided: dict[tuple[str, str], list[Compute]] = defaultdict(list)
    for run in runs:
        spent[run.organization, run.month].append(run.compute)
    for credit in credits:
        avoided[credit.organization, credit.month].append(credit.source.compute)

    def rows(key: Callable[[str, str], tuple[str | None, str | None]]) -> list[Row]:
        grouped_spent: dict[tuple[str | None, str | None], list[Compute]] = defaultdict(list)
        grouped_avoided: dict[tuple[str | None, str | None], list[Compute]] = defaultdict(list)
        for (org, month), items in spent.items():
            grouped_spent[key(org, month)].extend(items)
        for (org, month), items in avoided.items():
            grouped_avoided[key(org, month)].extend(items)
        keys = sorted(set(grouped_spent) | set(grouped_avoided), key=lambda k: tuple(x or "" for x in k))
        return [Row(k[0], k[1], Tally.of(grouped_spent[k]), Tally.of(grouped_avoided[k])) for k in keys]

    return Ledger(
        totals=Row(None, None, Tally.of(r.compute for r in runs), Tally.of(c.source.compute for c in credits)),
        by_organization=rows(lambda org, month: (org, None)),
        by_month=rows(lambda org, month: (None, month)),
        by_organization_month=rows(lambda org, month: (org, month)),
        runs=runs,
        credits=sorted(credits, key=lambda c: (c.month, c.organization, c.source.name)),
        filters={"organization": organization, "since": since, "until": until},
    )


def dedupe(credits: Iterable[Credit]) -> list[Credit]:
    """One credit per (org, source): the earliest month, every way it was credited."""
    first: dict[tuple[str, str], Credit] = {}
    for credit in credits:
        if credit.source.organization == credit.organization:
            continue  # one's own run is spent, never avoided
        key = (credit.organization, credit.source.key)
        seen = first.get(key)
        if seen is None:
            first[key] = credit
        else:
            ways = tuple(w for w in WAYS if w in seen.ways or w in credit.ways)
            first[key] = replace(seen, month=min(seen.month, credit.month), ways=ways)
    return list(first.values())


def _runs(counted: QuerySet[Version]) -> tuple[dict[str, Run], dict[int, str], dict[int, str]]:
    """Each visible recipe artifact's run; and each counted recipe version's run key and month."""
    rows = (
        counted.filter(artifact__kind__in=RECIPE_KINDS)
        .order_by("created_at", "pk")
        .values_list(
            "pk",
            "public_id",
            "number",
            "created_at",
            "artifact_id",
            "artifact__slug",
            "artifact__kind",
            "artifact__organization__slug",
            "recipe_features__pk",
            "recipe_features__gpu_hours",
            "recipe_features__flops",
            "recipe_features__flops_estimated",
        )
    )
    by_artifact: dict[int, list[tuple]] = defaultdict(list)
    run_of_version: dict[int, str] = {}
    month_of_version: dict[int, str] = {}
    for row in rows:
        by_artifact[row[4]].append(row)
        run_of_version[row[0]] = f"run:{row[4]}"
        month_of_version[row[0]] = month_of(row[3])
    runs: dict[str, Run] = {}
    for artifact_id, versions in by_artifact.items():
        with_figures = [v for v in versions if v[8] is not None]
        counting = (with_figures or versions)[-1]
        _, public_id, number, _, _, slug, kind, org, features, gpu_hours, flops, estimated = counting
        key = f"run:{artifact_id}"
        runs[key] = Run(
            key=key,
            organization=org,
            name=f"{org}/{slug}@{number}",
            version_id=str(public_id),
            kind=kind,
            month=month_of(versions[0][3]),
            compute=Compute(gpu_hours, flops, bool(estimated)) if features else Compute(),
            has_figures=features is not None,
            versions=len(versions),
        )
    return runs, run_of_version, month_of_version


def _credits(
    actor: Actor,
    counted: QuerySet[Version],
    runs: dict[str, Run],
    run_of_version: dict[int, str],
    month_of_version: dict[int, str],
) -> list[Credit]:
    """Every credit (duplicates included) among what the actor sees."""
    raw: list[tuple[str, str, str, str]] = []  # (org, month, source key or "checkpoint:<pk>", way)
    reuses = RecipeFeatures.reuses.through.objects.filter(
        recipefeatures__version__in=counted, version__in=counted
    ).values_list("recipefeatures__version_id", "version_id")
    for recipe_id, reused_id in reuses:
        if recipe_id in run_of_version and reused_id in run_of_version:
            crediting = runs[run_of_version[recipe_id]].organization
            raw.append((crediting, month_of_version[recipe_id], run_of_version[reused_id], "reuses"))
    checkpoints = counted.filter(artifact__kind=Kind.CHECKPOINT)
    derived = LineageEdge.objects.filter(
        relation=Relation.DERIVED_FROM, child__in=checkpoints, parent__in=checkpoints
    ).values_list("child__artifact__organization__slug", "child__created_at", "parent_id")
    for org, created_at, parent_id in derived:
        raw.append((org, month_of(created_at), f"checkpoint:{parent_id}", "derived_from"))
    acknowledged = Acknowledgement.objects.filter(
        source__in=counted, organization__in=Organization.objects.visible_to(actor)
    ).values_list("organization__slug", "created_at", "source_id", "source__artifact__kind")
    for org, created_at, source_id, kind in acknowledged:
        if kind in RECIPE_KINDS and source_id in run_of_version:
            raw.append((org, month_of(created_at), run_of_version[source_id], "acknowledged"))
        elif kind == Kind.CHECKPOINT:
            raw.append((org, month_of(created_at), f"checkpoint:{source_id}", "acknowledged"))

    sources = {key: _run_source(run) for key, run in runs.items()}
    parents = {int(key.split(":")[1]) for _, _, key, _ in raw if key.startswith("checkpoint:")}
    measured_by = _checkpoint_sources(counted, parents, runs, run_of_version)
    credits = []
    for org, month, key, way in raw:
        for source in measured_by.get(key, []) if key.startswith("checkpoint:") else [sources[key]]:
            credits.append(Credit(organization=org, month=month, source=source, ways=(way,)))
    return credits


def _run_source(run: Run) -> Source:
    return Source(key=run.key, organization=run.organization, name=run.name, kind="recipe", compute=run.compute)


def _checkpoint_sources(
    counted: QuerySet[Version], parents: set[int], runs: dict[str, Run], run_of_version: dict[int, str]
) -> dict[str, list[Source]]:
    """What a credited checkpoint cost: the visible recipe runs that produced it and have figures,
    else its own declared compute."""
    if not parents:
        return {}
    produced: dict[int, set[str]] = defaultdict(set)
    edges = LineageEdge.objects.filter(
        relation=Relation.PRODUCED_BY, child_id__in=parents, parent__in=counted
    ).values_list("child_id", "parent_id")
    for child_id, recipe_id in edges:
        key = run_of_version.get(recipe_id)
        if key is not None and runs[key].has_figures:
            produced[child_id].add(key)
    found: dict[str, list[Source]] = {}
    rows = counted.filter(pk__in=parents).values_list(
        "pk", "number", "compute", "artifact__slug", "artifact__organization__slug"
    )
    for pk, number, compute, slug, org in rows:
        if produced[pk]:
            found[f"checkpoint:{pk}"] = [_run_source(runs[key]) for key in sorted(produced[pk])]
        else:
            name = f"{org}/{slug}@{number}"
            found[f"checkpoint:{pk}"] = [Source(f"checkpoint:{pk}", org, name, "checkpoint", declared(compute))]
    return found
