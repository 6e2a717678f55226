"""Reads. Each starts from `visible_to(actor)`, so nothing here can widen what an actor sees."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404

from jobs.models import PipelineRun, Step
from registry.actors import Actor
from registry.models import (
    ApiToken,
    Artifact,
    AuditEvent,
    Kind,
    LineageEdge,
    Membership,
    Organization,
    Review,
    ReviewPolicy,
    Version,
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
) -> QuerySet[AuditEvent]:
    qs = AuditEvent.objects.visible_to(actor).filter(organization=organization)
    if action:
        qs = qs.filter(action__startswith=action)
    if since:
        qs = qs.filter(created_at__gte=since)
    if until:
        qs = qs.filter(created_at__lt=until)
    return qs.order_by("-created_at", "-id")


def artifact_list(
    *,
    actor: Actor,
    kind: str | None = None,
    org: str | None = None,
    slug: str | None = None,
    license: str | None = None,
    state: str | None = None,
    search: str | None = None,
) -> QuerySet[Artifact]:
    qs = Artifact.objects.visible_to(actor).select_related("organization")
    if kind:
        qs = qs.filter(kind=kind)
    if org:
        qs = qs.filter(organization__slug=org)
    if slug:
        qs = qs.filter(slug=slug)
    if license or state:
        # Filter on versions the actor sees, so an invisible version never makes its artifact match.
        versions = Version.objects.visible_to(actor).filter(artifact_id=OuterRef("pk"))
        if license:
            versions = versions.filter(license__iexact=license)
        if state:
            versions = versions.filter(state=state)
        qs = qs.filter(Exists(versions))
    if search:
        qs = qs.filter(Q(slug__icontains=search) | Q(description__icontains=search))
    return qs.order_by("-id")


def version_list(
    *,
    actor: Actor,
    artifact: str | None = None,
    kind: str | None = None,
    org: str | None = None,
    license: str | None = None,
    state: str | None = None,
) -> QuerySet[Version]:
    qs = version_lookup(actor=actor)
    if artifact:
        qs = qs.filter(artifact__public_id=artifact)
    if kind:
        qs = qs.filter(artifact__kind=kind)
    if org:
        qs = qs.filter(artifact__organization__slug=org)
    if license:
        qs = qs.filter(license__iexact=license)
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
    return qs.prefetch_related("files", "parent_edges__parent", "reviews")


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


def lineage_of(*, actor: Actor, version: Version) -> Lineage:
    visible = Version.objects.visible_to(actor)
    parents = (
        LineageEdge.objects.filter(child=version)
        .filter(Q(parent__isnull=True) | Q(parent__in=visible))
        .select_related("parent__artifact__organization")
        .order_by("relation", "id")
    )
    children = (
        LineageEdge.objects.filter(parent=version, child__in=visible)
        .exclude(child__state=Version.State.DELETED)
        .select_related("child__artifact__organization")
        .order_by("relation", "id")
    )
    return Lineage(parents=list(parents), children=list(children))
