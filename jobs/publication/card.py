"""The model or dataset card a version is published with, and the check the publisher runs on it.

The YAML is built with huggingface_hub's own card classes, so the Hub reads what they write. The
body is the pusher's README followed by a provenance section holding only what the registry
recorded: nothing here is estimated. Cards are validated locally with the same parsers, because
`RepoCard.validate()` posts to the public Hub whatever endpoint the client was given.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from django.conf import settings
from django.db.models import Q
from django.urls import reverse
from django_countries.fields import Country
from huggingface_hub import DatasetCard, DatasetCardData, EvalResult, ModelCard, ModelCardData
from huggingface_hub.repocard import REGEX_YAML_BLOCK
from huggingface_hub.repocard_data import model_index_to_eval_results
from huggingface_hub.utils import HFValidationError, validate_repo_id

from jobs.models import EvalResult as StoredEvalResult
from jobs.models import PipelineRun, Publication, Step
from jobs.publication.hub import hub_web_url
from jobs.publication.targets import HUB_LICENSE_IDS, OTHER, hub_license, hub_target, version_tag
from jobs.scorecard import SCORED_KINDS, scorecard
from jobs.scorecard.model import Evidence
from registry.actors import Actor
from registry.digests import version_digests
from registry.models import AuditEvent, Kind, LineageEdge, Relation, Review, Sharing, Version

BASE_MODEL_RELATIONS = frozenset({"adapter", "merge", "quantized", "finetune"})
_LICENSE_NAME = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*\Z")
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+!|~])")


@dataclass(frozen=True)
class _Parent:
    """One lineage edge as the card shows it."""

    relation: str
    name: str  # the Hub repo id, or org/artifact vX for a registry version not on the Hub
    license: str
    registry_id: str | None = None
    hub_repo_type: str | None = None  # None: not on the Hub
    revision: str | None = None  # the tag or pinned commit the link opens

    def hub_url(self, endpoint: str) -> str | None:
        if self.hub_repo_type is None or self.revision is None:
            return None
        return hub_web_url(self.hub_repo_type, self.name, revision=self.revision, endpoint=endpoint)


def card_render(version: Version, *, endpoint: str, evals: Sequence[EvalResult] = ()) -> str:
    """The README.md that `version` is published with. `endpoint` is the Hub's web URL, for links
    to lineage on the Hub; `evals` become the card's model-index (model repos only)."""
    version = Version.objects.select_related("artifact__organization").get(pk=version.pk)
    artifact, endpoint = version.artifact, endpoint.rstrip("/")
    target = hub_target(artifact)
    paths = list(version.files.order_by("path").values_list("path", flat=True))
    parents = _parents(version)
    fields: dict[str, Any] = {**hub_license(version.license, paths=paths).card_fields(), "tags": list(target.tags)}
    if target.repo_type == "model":
        fields.update(_model_fields(artifact.kind, parents, paths))
        if evals:
            fields.update(eval_results=list(evals), model_name=artifact.slug)
        data: ModelCardData | DatasetCardData = ModelCardData(**fields)
    else:
        if evals:
            raise ValueError("eval results belong on model cards, not on dataset cards")
        data = DatasetCardData(**fields)
    body = _body(version, parents, paths, endpoint=endpoint, evals=evals)
    card_class = ModelCard if target.repo_type == "model" else DatasetCard
    return str(card_class(f"---\n{data.to_yaml()}\n---\n{body}"))


def hub_eval_results(version: Version) -> list[EvalResult]:
    """The registry's eval scores of `version` as model-index entries: each suite named by its Hub
    dataset repo and tag when it is published there, else by its registry name and number; the
    source is the registry's version page. Scores without a finite value are left out, and so are
    scores on a suite its org keeps to itself (neither published nor shared with the consortium):
    a public card never names what its owners did not share."""
    shared = Q(suite__state=Version.State.PUBLISHED) | Q(suite__artifact__sharing=Sharing.CONSORTIUM)
    scores = list(
        StoredEvalResult.objects.filter(shared, version=version, value__isnull=False)
        .select_related("suite__artifact__organization")
        .order_by("suite_id", "task", "metric", "filter")
    )
    published = dict(
        Publication.objects.filter(
            version_id__in={r.suite_id for r in scores}, status=Publication.Status.PUBLISHED
        ).values_list("version_id", "repo_id")
    )
    source_url = settings.PUBLIC_URL + reverse("version-detail", args=[version.public_id])
    results = []
    for score in scores:
        suite = score.suite
        on_hub = published.get(suite.pk)
        results.append(
            EvalResult(
                task_type="text-generation",
                dataset_type=on_hub or f"{suite.artifact.organization.slug}/{suite.artifact.slug}",
                dataset_name=score.task,
                # The Hub groups scores by dataset type, config, split and revision, not by name:
                # each task is a config of its suite, or the tasks' scores would merge into one.
                dataset_config=score.task,
                dataset_revision=version_tag(suite) if on_hub else suite.number,
                metric_type=score.metric,
                metric_name=score.metric if score.filter == "none" else f"{score.metric} ({score.filter})",
                metric_value=score.value,
                source_name=f"Consortium registry (lm-evaluation-harness {score.harness_version})",
                source_url=source_url,
            )
        )
    return results


def _parents(version: Version) -> list[_Parent]:
    """Lineage in reading order: bases, then data, recipes and eval suites."""
    edges = version.parent_edges.select_related("parent__artifact__organization", "child__artifact").order_by("id")
    order = {relation: i for i, relation in enumerate(_RELATION_LABELS)}
    return sorted((_parent(edge) for edge in edges), key=lambda p: order.get(p.relation, len(order)))


def _parent(edge: LineageEdge) -> _Parent:
    parent = edge.parent
    if parent is None:
        return _Parent(
            edge.relation,
            edge.external_repo,
            edge.external_license,
            hub_repo_type=edge.external_repo_type or "model",
            revision=edge.external_revision,
        )
    registry_id = str(parent.public_id)
    publication = Publication.objects.filter(version=parent).first()
    if parent.state == Version.State.PUBLISHED and publication is not None:
        return _Parent(
            edge.relation,
            publication.repo_id,
            parent.license,
            registry_id,
            hub_repo_type=publication.repo_type,
            revision=publication.tag,
        )
    if parent.artifact.organization_id != edge.child.artifact.organization_id:
        # Another member's unpublished work: the public card must not reveal what it is.
        return _Parent(edge.relation, "an unpublished version of another consortium member", parent.license)
    name = f"{parent.artifact.organization.slug}/{parent.artifact.slug} {version_tag(parent)}"
    return _Parent(edge.relation, name, parent.license, registry_id)


def _model_fields(kind: str, parents: list[_Parent], paths: list[str]) -> dict[str, Any]:
    """base_model, datasets and library_name: each only when the registry's records back it."""
    fields: dict[str, Any] = {}
    if kind in (Kind.CHECKPOINT, Kind.ADAPTER):
        derived = [p for p in parents if p.relation == Relation.DERIVED_FROM]
        bases = list(dict.fromkeys(p.name for p in derived if p.hub_repo_type == "model"))
        if bases:
            fields["base_model"] = bases[0] if len(bases) == 1 else bases
        # One base, named on the Hub: the relation is known. Several bases could be a merge or not.
        if len(derived) == 1 and len(bases) == 1:
            fields["base_model_relation"] = "adapter" if kind == Kind.ADAPTER else "finetune"
    trained_on = [p for p in parents if p.relation == Relation.TRAINED_ON]
    datasets = list(dict.fromkeys(p.name for p in trained_on if p.hub_repo_type == "dataset"))
    if datasets:
        fields["datasets"] = datasets
    if kind == Kind.ADAPTER and "adapter_config.json" in paths:
        fields["library_name"] = "peft"
    elif kind == Kind.CHECKPOINT and "config.json" in paths:
        fields["library_name"] = "transformers"
    return fields


def _body(
    version: Version, parents: list[_Parent], paths: list[str], *, endpoint: str, evals: Sequence[EvalResult]
) -> str:
    artifact = version.artifact
    # Only what was reviewed: the artifact's description can change any time, so it stays out.
    parts = [f"# {artifact.slug}"]
    if readme := readme_strip_front_matter(version.readme).strip():
        parts.append(readme)
    if evals:
        parts.append(_evaluation(evals))
    if artifact.kind in SCORED_KINDS:
        parts.append(_scorecard(version, endpoint=endpoint))
    parts.append(_provenance(version, parents, len(paths), endpoint=endpoint))
    return "\n" + "\n\n".join(parts) + "\n"


def readme_strip_front_matter(readme: str) -> str:
    """The README without any YAML front matter it starts with (found with the Hub's own regex),
    so that nothing the pusher wrote can stand in for the card's metadata."""
    while match := REGEX_YAML_BLOCK.search(readme):
        readme = readme[match.end() :]
    return readme


def _evaluation(evals: Sequence[EvalResult]) -> str:
    rows = [
        f"| {_md(r.task_name or r.task_type)} | {_md(r.dataset_name)} | {_md(r.metric_name or r.metric_type)} "
        f"| {_md(r.metric_value)} |"
        for r in evals
    ]
    return "\n".join(["## Evaluation", "", "| Task | Dataset | Metric | Value |", "| --- | --- | --- | --- |", *rows])


def _scorecard(version: Version, *, endpoint: str) -> str:
    """The adoption scorecard as the public sees it (an anonymous reader: published work only), with
    each factor's evidence as links and what is missing said as missing."""
    card = scorecard(actor=Actor.anonymous(), version=version)
    page = settings.PUBLIC_URL + reverse("portal-version", args=[version.public_id])

    def link(e: Evidence) -> str:
        if e.kind == "version":
            return f"[{_md(e.label)}]({settings.PUBLIC_URL}{reverse('portal-version', args=[e.ref])})"
        if e.kind == "hub":
            return f"[{_md(e.label)}]({hub_web_url(e.repo_type, e.ref, revision=e.revision, endpoint=endpoint)})"
        if e.kind == "step":
            return f"[{_md(e.label)}]({page}#measure-{e.ref}-heading)"
        return _md(e.label)

    rows = [
        f"| {f.title} | {f.status} | {_md(f.headline)} | {', '.join(link(e) for e in f.evidence) or 'none'} |"
        for f in card.factors
    ]
    lines = [
        "## Adoption scorecard",
        "",
        "Computed by the consortium registry from what it shows the public; missing evidence is shown as missing.",
        "",
        "| Factor | Status | Summary | Evidence |",
        "| --- | --- | --- | --- |",
        *rows,
    ]
    missing = [f"- {f.title}: {_md(what)}" for f in card.factors if f.key != "readiness" for what in f.missing]
    if missing:
        lines += ["", "Missing:", "", *missing]
    if card.contamination:
        lines += ["", "Declared contamination (a dataset or recipe upstream overlaps these eval tasks):", ""]
        lines += [
            f"- {_md(flag.suite.artifact.organization.slug)}/{_md(flag.suite.artifact.slug)} {_md(flag.suite.number)}, "
            f"{_md(flag.task)}: {_md(flag.declared_by.ref)} declares {_md(flag.overlap)}"
            for flag in card.contamination
        ]
    return "\n".join(lines)


def _provenance(version: Version, parents: list[_Parent], file_count: int, *, endpoint: str) -> str:
    org = version.artifact.organization
    country: Country = org.country  # type: ignore[assignment]  # django-countries' descriptor, typed as str
    origin = _md(org.name) + (f" ({_md(country.name)})" if country.code else "")
    registry_url = settings.PUBLIC_URL + reverse("version-detail", args=[version.public_id])
    lines = [
        "## Provenance",
        "",
        "Generated by the consortium registry from its records of this version.",
        "",
        f"- **Produced by:** {origin}",
        f"- **Registry version:** [`{version.public_id}`]({registry_url}) ({version_tag(version)})",
        f"- **Declared license:** {_md(version.license)}",
        f"- **Files:** {file_count}; manifest digest `sha256:{version.manifest_sha256}`",
        "",
        "### Lineage",
        "",
        *([_lineage_line(p, endpoint) for p in parents] or ["No lineage was declared."]),
        "",
        "### Checks passed",
        "",
        *_checks(version),
        "",
        "### Review",
        "",
        _reviewers(version),
    ]
    if compute := _compute(version.compute):
        lines += ["", "### Declared compute", "", "As declared by the producing organization.", "", *compute]
    return "\n".join(lines)


_RELATION_LABELS: dict[str, str] = {
    Relation.DERIVED_FROM: "Derived from",
    Relation.TRAINED_ON: "Trained on",
    Relation.PRODUCED_BY: "Produced by",
    Relation.EVALUATED_WITH: "Evaluated with",
}


def _lineage_line(parent: _Parent, endpoint: str) -> str:
    label = _RELATION_LABELS.get(parent.relation, parent.relation)
    url = parent.hub_url(endpoint)
    shown = f"[{_md(parent.name)}]({url})" if url else _md(parent.name)
    notes = []
    if parent.registry_id is None and parent.revision is None:
        notes.append("shared inside the consortium, not on the Hub")
    elif parent.registry_id is None:
        notes.append(f"external, pinned to revision `{parent.revision}`")
    else:
        notes.append(f"registry version `{parent.registry_id}`")
        notes.append(f"tag `{parent.revision}`" if url else "not published on the Hub")
    if parent.license:
        notes.append(f"declared license {_md(parent.license)}")
    return f"- {label}: {shown} ({'; '.join(notes)})"


def _checks(version: Version) -> list[str]:
    """The checks that passed, and any failed check a steward waived (said as such)."""
    run = PipelineRun.objects.filter(version=version).first()
    steps = (
        list(run.steps.filter(gating=True, status__in=[Step.Status.PASSED, Step.Status.FAILED]).order_by("position"))
        if run
        else []
    )
    if not steps:
        return ["No automated check is recorded as passed."]
    waived = "failed; waived by a consortium steward"
    rows = [f"| {_md(s.name)} | {_md(s.summary) if s.status == Step.Status.PASSED else waived} |" for s in steps]
    return ["| Check | Result |", "| --- | --- |", *rows]


def _reviewers(version: Version) -> str:
    """Organizations whose reviewers approved what is published (approvals bound to the current
    manifest and declared metadata). People are not named."""
    manifest, metadata = version_digests(version)
    approvals = Review.objects.filter(
        version=version, decision=Review.Decision.APPROVE, manifest_sha256=manifest, metadata_sha256=metadata
    )
    names = sorted(set(approvals.values_list("organization__name", flat=True)))
    if (
        not names
        and AuditEvent.objects.filter(
            action="version.override_approve", target_type="version", target_id=str(version.public_id)
        ).exists()
    ):
        return "Approved by a consortium steward's override (its reason is kept in the registry's audit log)."
    if not names:
        return "No current approval by a member organization's reviewer is recorded."
    return "Approved by reviewers of: " + ", ".join(_md(name) for name in names) + "."


_COMPUTE_LABELS = (("gpu_hours", "GPU hours"), ("flops", "FLOPs"), ("hardware", "Hardware"), ("notes", "Notes"))


def _compute(compute: Any) -> list[str]:
    if not isinstance(compute, dict):
        return []
    present = [(label, compute[key]) for key, label in _COMPUTE_LABELS if compute.get(key) not in (None, "")]
    return [f"- {label}: {_md(_number(value))}" for label, value in present]


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def _md(text: object) -> str:
    """User text on one line, with Markdown's specials escaped: safe in a table cell or link text."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def card_validate(text: str, repo_type: str) -> list[str]:
    """What keeps `text` from being a card the Hub accepts for a `repo_type` repo, read with
    huggingface_hub's own parsers (strictly: a bad model-index is an error, not dropped); [] if
    nothing. Offline by design."""
    if repo_type not in ("model", "dataset"):
        return [f"repo type '{repo_type}' has no card here: expected 'model' or 'dataset'"]
    match = REGEX_YAML_BLOCK.search(text)
    if match is None:
        return ["the card has no YAML front matter (a block between '---' lines at the very top)"]
    try:
        metadata = yaml.safe_load(match.group(2))
    except yaml.YAMLError as exc:
        return [f"the YAML front matter does not parse: {' '.join(str(exc).split())}"]
    if not isinstance(metadata, dict) or not all(isinstance(key, str) for key in metadata):
        return ["the YAML front matter must be a mapping with string keys"]
    if "model-index" in metadata and (errors := _model_index_errors(metadata["model-index"], repo_type)):
        return errors  # the card classes would refuse it too, with a less precise message
    try:
        (ModelCard if repo_type == "model" else DatasetCard)(text, ignore_metadata_errors=False)
    except (ValueError, TypeError, KeyError) as exc:
        return [f"huggingface_hub cannot read the card: {exc}"]
    errors = _license_errors(metadata)
    errors += _repo_list_errors(metadata, "base_model") + _repo_list_errors(metadata, "datasets")
    relation = metadata.get("base_model_relation")
    if relation is not None and relation not in BASE_MODEL_RELATIONS:
        errors.append(f"base_model_relation '{relation}' is not one of {sorted(BASE_MODEL_RELATIONS)}")
    if relation is not None and not metadata.get("base_model"):
        errors.append("base_model_relation is set without a base_model")
    tags = metadata.get("tags")
    if tags is not None and not (isinstance(tags, list) and all(isinstance(t, str) and t for t in tags)):
        errors.append("tags must be a list of strings")
    return errors


def _license_errors(metadata: dict[str, Any]) -> list[str]:
    license_ = metadata.get("license")
    if license_ is None:
        return ["the card declares no license"]
    ids = license_ if isinstance(license_, list) else [license_]
    errors = [
        f"license '{value}' is not one of the Hub's license identifiers (or 'other' with a license_name)"
        for value in ids
        if not isinstance(value, str) or value not in HUB_LICENSE_IDS
    ]
    if "unknown" in ids:
        errors.append("license 'unknown': every published version declares its license")
    name = metadata.get("license_name")
    if OTHER in ids:
        if not isinstance(name, str) or not _LICENSE_NAME.match(name):
            errors.append("license 'other' needs a license_name of lowercase letters, digits and hyphens")
        link = metadata.get("license_link")
        if link is not None and (not isinstance(link, str) or not link or any(c.isspace() for c in link)):
            errors.append("license_link must be a URL or a path in the repo")
    return errors


def _repo_list_errors(metadata: dict[str, Any], key: str) -> list[str]:
    value = metadata.get(key)
    if value is None:
        return []
    errors = []
    for repo_id in value if isinstance(value, list) else [value]:
        try:
            if not isinstance(repo_id, str) or not repo_id:
                raise HFValidationError("not a non-empty string")
            validate_repo_id(repo_id)
        except HFValidationError as exc:
            errors.append(f"{key} '{repo_id}' is not a Hub repo id: {exc}")
    return errors


def _model_index_errors(model_index: Any, repo_type: str) -> list[str]:
    if repo_type != "model":
        return ["model-index belongs on model cards only"]
    try:
        name, results = model_index_to_eval_results(model_index)
    except KeyError as exc:
        return [
            f"model-index is invalid: an entry lacks {exc} (each result needs task.type, dataset.name, "
            "dataset.type and metrics, each metric a type and a value)"
        ]
    except (ValueError, TypeError) as exc:
        return [f"model-index is invalid: {exc}"]
    errors = [] if isinstance(name, str) and name else ["model-index needs a model name"]
    return errors + list(_eval_result_errors(results))


def _eval_result_errors(results: Iterable[EvalResult]) -> Iterable[str]:
    for result in results:
        for field in ("task_type", "dataset_type", "dataset_name", "metric_type"):
            if not isinstance(getattr(result, field), str) or not getattr(result, field):
                yield f"model-index: {field.replace('_', ' ')} must be a non-empty string"
        if isinstance(result.metric_value, bool) or not isinstance(result.metric_value, int | float | str):
            yield f"model-index: metric '{result.metric_type}' needs a number (or a string) as its value"
