"""Reads. Each starts from `visible_to(actor)`, so nothing here can widen what an actor sees."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Window
from django.http import Http404
from django.shortcuts import get_object_or_404

from jobs.measures.results import Measurements, measurements_of
from jobs.models import EvalSuiteDefault, PipelineRun, Step
from registry import search as search_
from registry.actors import Actor
from registry.models import (
    ApiToken,
    Artifact,
    AuditEvent,
    Event,
    Invitation,
    Kind,
    LineageEdge,
    Membership,
    Organization,
    Review,
    ReviewPolicy,
    Version,
    Webhook,
    WebhookDelivery,
)


def organization_list(*, actor: Actor) -> QuerySet[Organization]:
    return Organization.objects.visible_to(actor).order_by("slug")


def membership_list(*, actor: Actor, organization: Organization) -> QuerySet[Membership]:
    return (
        Membership.objects.visible_to(actor)
        .filter(organization=organization)
        .select_related("user", "organization")
        .order_by("user__username")
    )


def my_membership_list(*, actor: Actor) -> QuerySet[Membership]:
    """The actor's own memberships with their orgs, by org name (one query)."""
    return (
        Membership.objects.visible_to(actor)
        .filter(user=actor.user)
        .select_related("organization")
        .order_by("organization__name", "organization__slug")
    )


def token_list(*, actor: Actor, organization: Organization) -> QuerySet[ApiToken]:
    return (
        ApiToken.objects.visible_to(actor)
        .filter(organization=organization)
        .select_related("created_by", "organization")
        .order_by("-created_at")
    )


def audit_list(
    *,
    actor: Actor,
    organization: Organization,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    by: str | None = None,
) -> QuerySet[AuditEvent]:
    """`by` is a username (or, for the registry itself, the system actor's name), exactly."""
    qs = AuditEvent.objects.visible_to(actor).filter(organization=organization)
    if action:
        qs = qs.filter(action__startswith=action)
    if by:
        qs = qs.filter(Q(actor__username=by) | Q(actor__isnull=True, actor_label=by))
    if since:
        qs = qs.filter(created_at__gte=since)
    if until:
        qs = qs.filter(created_at__lt=until)
    return qs.order_by("-created_at", "-id")


def event_list(
    *, actor: Actor, type: str | None = None, org: str | None = None, since: datetime | None = None
) -> QuerySet[Event]:
    """Events of the versions the actor sees, newest first; `org` is the version's org's slug."""
    qs = Event.objects.visible_to(actor).select_related("organization", "version__artifact__organization")
    if type:
        qs = qs.filter(type=type)
    if org:
        qs = qs.filter(organization__slug=org)
    if since:
        qs = qs.filter(created_at__gte=since)
    return qs.order_by("-id")


def webhook_list(*, actor: Actor, organization: Organization) -> QuerySet[Webhook]:
    """The org's webhooks the actor may read, newest first."""
    return (
        Webhook.objects.visible_to(actor)
        .filter(organization=organization)
        .select_related("organization", "created_by")
        .order_by("-id")
    )


def delivery_list(*, actor: Actor, webhook: Webhook) -> QuerySet[WebhookDelivery]:
    """A webhook (found through webhook_list) and its deliveries, newest first, leaving out those
    whose event the actor can no longer see (a version another org stopped sharing)."""
    visible = Event.objects.visible_to(actor).filter(pk=OuterRef("event_id"))
    return (
        WebhookDelivery.objects.filter(Exists(visible), webhook=webhook)
        .select_related("webhook__organization", "event__organization", "event__version__artifact__organization")
        .select_related("replay_of", "requested_by")
        .order_by("-id")
    )


def invitation_list(*, actor: Actor, organization: Organization) -> QuerySet[Invitation]:
    return (
        Invitation.objects.visible_to(actor)
        .filter(organization=organization)
        .select_related("created_by", "accepted_by")
        .order_by("-created_at", "-id")
    )


def version_audit_list(*, actor: Actor, version: Version) -> QuerySet[AuditEvent]:
    """What the audit log recorded about a version, newest first: only for those who may read
    its org's audit log (empty for anyone else)."""
    return (
        AuditEvent.objects.visible_to(actor)
        .filter(organization_id=version.artifact.organization_id, target_type="version")
        .filter(target_id=str(version.public_id))
        .order_by("-created_at", "-id")
    )


def artifact_list(
    *,
    actor: Actor,
    kind: str | None = None,
    org: str | None = None,
    slug: str | None = None,
    license: str | None = None,
    state: str | None = None,
    search: str | None = None,
    country: str | None = None,
    architecture: str | None = None,
    size: str | None = None,
    text: str | None = None,
    sort: str | None = None,
    matched: search_.TextMatches | None = None,
) -> QuerySet[Artifact]:
    """Visible artifacts. Version-level filters (license, state, architecture, size: a key of
    search.SIZES) must all hold on one version the actor sees. `search` is a substring of the slug or
    description; `text` is full-text over names, description and visible versions' README and
    declared metadata (`matched`: what artifact_text_matches found for it, when the caller already
    asked). `sort` is one of search.SORTS (default: newest id first)."""
    base = Artifact.objects.select_related("organization")  # artifact_search keeps what the actor sees
    if slug:
        base = base.filter(slug=slug)
    filters = search_.Filters(
        kind=kind or "",
        org=org or "",
        country=country or "",
        license=license or "",
        state=state or "",
        architecture=architecture or "",
        size=size or "",
        text=text or "",
    )
    qs = search_.artifact_search(actor, filters, artifacts=base, matched=matched)
    if search:
        qs = qs.filter(Q(slug__icontains=search) | Q(description__icontains=search))
    return search_.sorted_by(qs, actor, sort, text or "") if sort else qs.order_by("-id")


def artifact_text_matches(*, actor: Actor, text: str) -> search_.TextMatches:
    """The artifacts `text` matches (names, description, visible versions' README and metadata), for
    a page that filters on it several times."""
    return search_.text_matches(actor, text)


def artifact_facets(
    *, actor: Actor, filters: search_.Filters, matched: search_.TextMatches | None = None
) -> dict[str, list[tuple[str, int]]]:
    """Each browse facet's values with the number of visible artifacts each would match."""
    return search_.facet_counts(actor, filters, matched=matched)


def artifact_latest_versions(*, actor: Actor, artifacts: list[Artifact]) -> dict[int, Version]:
    """The newest version the actor sees of each artifact (none for those without), in two queries."""
    newest: dict[int, int] = {}
    candidates = (
        Version.objects.visible_to(actor)
        .exclude(state=Version.State.DELETED)
        .filter(artifact__in=[a.pk for a in artifacts])
        .order_by("artifact_id", "-state_changed_at", "-id")
        .values_list("artifact_id", "pk")
    )
    for artifact_id, pk in candidates:
        newest.setdefault(artifact_id, pk)
    found = Version.objects.filter(pk__in=newest.values()).select_related("pipeline")
    return {v.artifact_id: v for v in found}


def version_list(
    *,
    actor: Actor,
    artifact: str | None = None,
    kind: str | None = None,
    org: str | None = None,
    license: str | None = None,
    state: str | None = None,
    states: Collection[str] | None = None,
    mine: bool = False,
) -> QuerySet[Version]:
    """Visible versions, newest id first; `mine` keeps those of the actor's own orgs."""
    qs = version_lookup(actor=actor)
    if artifact:
        qs = qs.filter(artifact__public_id=artifact)
    if kind:
        qs = qs.filter(artifact__kind=kind)
    if org:
        qs = qs.filter(artifact__organization__slug=org)
    if license:
        qs = qs.filter(license__iexact=license)
    if mine:
        qs = qs.filter(artifact__organization_id__in=actor.org_ids)
    if states is not None:
        qs = qs.filter(state__in=list(states))
    qs = qs.filter(state=state) if state else qs.exclude(state=Version.State.DELETED)
    return qs.order_by("-id")


def version_lookup(*, actor: Actor) -> QuerySet[Version]:
    """Visible versions in every state (a deleted draft stays readable by id), ready to render."""
    return Version.objects.visible_to(actor).select_related(
        "artifact__organization", "created_by", "pipeline", "publication"
    )


def review_queue(
    *, actor: Actor, kind: str | None = None, org: str | None = None, reviewed: bool = False
) -> QuerySet[Version]:
    """Versions awaiting review that `actor` may review: in_review, of other orgs, and (unless
    `reviewed`) not yet decided by them. Empty for anyone who is not a reviewer."""
    if not actor.is_reviewer or actor.user is None:
        return Version.objects.none()
    qs = version_lookup(actor=actor).filter(state=Version.State.IN_REVIEW)
    own = Membership.objects.filter(user=actor.user).values("organization_id")  # all of the person's orgs
    qs = qs.exclude(artifact__organization_id__in=own)
    if not reviewed:
        qs = qs.exclude(reviews__reviewer=actor.user)
    if kind:
        qs = qs.filter(artifact__kind=kind)
    if org:
        qs = qs.filter(artifact__organization__slug=org)
    # What each row's standing needs (digests, approvals, your decision), a few queries per page.
    return qs.prefetch_related("files", "parent_edges__parent__artifact__organization", "reviews")


def review_list(*, version: Version) -> QuerySet[Review]:
    """The decisions on a version the caller already found through `visible_to`, oldest first."""
    return version.reviews.select_related("reviewer", "organization").order_by("created_at", "id")


def review_policy_list() -> list[ReviewPolicy]:
    """Every kind with the approvals it needs (kinds without a row need the default)."""
    stored = {p.kind: p for p in ReviewPolicy.objects.select_related("updated_by")}
    return [stored.get(kind) or ReviewPolicy(kind=kind) for kind in Kind.values]


def pipeline_get(*, version: Version) -> PipelineRun:
    """The check pipeline of a version the caller already found through `visible_to`."""
    run = PipelineRun.objects.filter(version=version).select_related("version").prefetch_related("steps").first()
    if run is None:
        raise Http404("this version has no checks yet: they start when it is finalized")
    return run


def step_get(*, version: Version, name: str) -> Step:
    """A step of a version the caller already found through `visible_to`."""
    return get_object_or_404(Step, run__version=version, name=name)


@dataclass(frozen=True)
class Lineage:
    parents: list[LineageEdge]  # what this version comes from (registry parents the actor sees, or Hub repos)
    children: list[LineageEdge]  # visible versions that point at this one


def lineage_parents(*, actor: Actor, version: Version) -> list[LineageEdge]:
    """What `version` comes from: registry parents the actor sees, or Hub repos (one query)."""
    visible = Version.objects.visible_to(actor)
    parents = (
        LineageEdge.objects.filter(child=version)
        .filter(Q(parent__isnull=True) | Q(Exists(visible.filter(pk=OuterRef("parent_id")))))
        .select_related("parent__artifact__organization")
        .order_by("relation", "id")
    )
    return list(parents)


def lineage_of(*, actor: Actor, version: Version) -> Lineage:
    visible = Version.objects.visible_to(actor)
    children = (
        LineageEdge.objects.filter(parent=version)
        .filter(Exists(visible.filter(pk=OuterRef("child_id"))))
        .exclude(child__state=Version.State.DELETED)
        .select_related("child__artifact__organization")
        .order_by("relation", "id")
    )
    return Lineage(parents=lineage_parents(actor=actor, version=version), children=list(children))


LINEAGE_HOPS = 3  # ancestors and descendants shown this many edges away
LINEAGE_EDGES_PER_HOP = 24  # edges read per hop and direction; the rest are counted, not loaded
LINEAGE_MAX_NODES = 36  # versions and Hub repos drawn, the version itself included


@dataclass(frozen=True)
class LineageGraph:
    version: Version
    edges: list[LineageEdge]  # child --relation--> parent, both ends visible (or the parent a Hub repo)
    hidden_ancestors: int  # visible edges further up that the bounds left out
    hidden_descendants: int  # the same, further down


def lineage_graph(*, actor: Actor, version: Version) -> LineageGraph:
    """The lineage around a visible version: up to LINEAGE_HOPS edges each way, at most
    LINEAGE_MAX_NODES nodes, every end visible to `actor`, and how many visible edges the bounds
    left out. One query per hop and direction (and one count where the depth bound cuts), whatever
    the number of edges; both ends of each edge come loaded with their artifact and org."""
    nodes: dict[int, Version] = {version.pk: version}
    externals: set[tuple[str, str]] = set()
    edges: dict[int, LineageEdge] = {}
    hidden = {"up": 0, "down": 0}
    for direction in ("up", "down"):
        up = direction == "up"
        frontier = {version.pk}
        for _ in range(LINEAGE_HOPS):
            if not frontier:
                break
            rows = list(_lineage_hop(actor, frontier, up=up)[:LINEAGE_EDGES_PER_HOP])
            hidden[direction] += rows[0].total - len(rows) if rows else 0  # type: ignore[attr-defined]
            frontier = set()
            for edge in rows:
                far = edge.parent_id if up else edge.child_id
                external = (edge.external_repo, edge.external_revision)
                known = far in nodes if far is not None else external in externals
                if not known and len(nodes) + len(externals) >= LINEAGE_MAX_NODES:
                    hidden[direction] += 1
                    continue
                # The near end is loaded already: reuse it, never query it again.
                if up:
                    edge.child = nodes[edge.child_id]
                else:
                    edge.parent = nodes[cast(int, edge.parent_id)]
                far_version = edge.parent if up else edge.child
                edges.setdefault(edge.pk, edge)
                if far_version is None:
                    externals.add(external)
                elif not known:
                    nodes[far_version.pk] = far_version
                    frontier.add(far_version.pk)
        if frontier:  # the last hop found new versions: count what lies beyond them
            hidden[direction] += _lineage_hop(actor, frontier, up=up).count()
    return LineageGraph(version, list(edges.values()), hidden_ancestors=hidden["up"], hidden_descendants=hidden["down"])


def _lineage_hop(actor: Actor, frontier: set[int], *, up: bool) -> QuerySet[LineageEdge]:
    """The edges one step away from `frontier` (up: to parents; down: to children), each visible
    end loaded; `total` on each row counts the matches before a limit. Visibility is probed per
    edge (EXISTS), never by building the set of everything the actor sees."""
    visible = Version.objects.visible_to(actor)
    if up:
        seen = Exists(visible.filter(pk=OuterRef("parent_id")))
        query = (
            LineageEdge.objects.filter(child_id__in=frontier)
            .filter(Q(parent__isnull=True) | (Q(seen) & ~Q(parent__state=Version.State.DELETED)))
            .select_related("parent__artifact__organization")
        )
    else:
        query = (
            LineageEdge.objects.filter(parent_id__in=frontier)
            .filter(Exists(visible.filter(pk=OuterRef("child_id"))))
            .exclude(child__state=Version.State.DELETED)
            .select_related("child__artifact__organization")
        )
    return query.annotate(total=Window(Count("*"))).order_by("relation", "id")


def version_measurements(*, actor: Actor, version: Version) -> Measurements:
    """The measurements of a version the caller already found through `visible_to`, less what names
    an eval suite version the caller cannot see (its scores, its entry in the evals evidence): a
    published model scored on an org's private suite shows the public nothing of that suite."""
    found = measurements_of(version)
    if actor.is_steward:
        return found
    evals_step = found.step("evals")
    named = [s.get("suite") for s in (evals_step.details.get("suites", []) if evals_step else [])]
    uuids = [n for n in named if isinstance(n, str)]
    suite_ids = {r.suite_id for r in found.evals}
    if not suite_ids and not uuids:
        return found
    seen = Version.objects.visible_to(actor).filter(Q(pk__in=suite_ids) | Q(public_id__in=_uuids(uuids)))
    pks, public_ids = set(), set()
    for pk, public_id in seen.values_list("pk", "public_id"):
        pks.add(pk)
        public_ids.add(str(public_id))
    if evals_step is not None and "suites" in evals_step.details:
        # The row was read for this answer alone and is never saved: narrowing it in memory is safe.
        suites = [s for s in evals_step.details["suites"] if s.get("suite") in public_ids]
        evals_step.details = {**evals_step.details, "suites": suites}
    return Measurements(steps=found.steps, evals=[r for r in found.evals if r.suite_id in pks])


def _uuids(values: list[str]) -> list[uuid.UUID]:
    found = []
    for value in values:
        try:
            found.append(uuid.UUID(value))
        except ValueError:
            continue
    return found


def eval_suite_default_list(*, actor: Actor) -> QuerySet[EvalSuiteDefault]:
    """The stewards' default eval suites whose suite the actor sees (one made private since is not
    listed to others)."""
    return (
        EvalSuiteDefault.objects.filter(suite__in=Artifact.objects.visible_to(actor).values("pk"))
        .select_related("suite__organization")
        .order_by("kind", "suite__organization__slug", "suite__slug")
    )
