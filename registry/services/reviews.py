"""Review by other members: decisions, the approval quorum per kind, and stewards' overrides.

An approval is bound to the version's manifest digest and to a digest of its declared metadata
(license, metadata, README, compute, release target, lineage). What the registry adds later (eval
results, probes) is outside it. Publication refuses when either digest no longer matches.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from jobs.models import PipelineRun
from jobs.publication.publish import publication_schedule
from registry.actors import Actor
from registry.digests import version_digests
from registry.errors import Conflict, Forbidden, InvalidTransition
from registry.models import Kind, Membership, Organization, Review, ReviewPolicy, User, Version
from registry.services.audit import audit_record

Decision = Review.Decision


def approvals_current(version: Version, digests: tuple[str, str] | None = None) -> int:
    """Member organizations whose reviewers approved the version as it is now (`digests`, when the
    caller has them): the quorum counts organizations, so two reviewers of one org are one. Reads
    `version.reviews.all()`, so a prefetched page costs no query per version."""
    current = digests or version_digests(version)
    return len(
        {
            r.organization_id
            for r in version.reviews.all()
            if r.decision == Decision.APPROVE and (r.manifest_sha256, r.metadata_sha256) == current
        }
    )


def review_summary(
    version: Version, user: User | None, *, required: int | None = None, digests: tuple[str, str] | None = None
) -> dict[str, object]:
    """Where the version's review stands: current approvals, how many its kind needs (`required`
    when the caller looked the policies up once for a page), and the decision `user` took on it."""
    mine = next((r.decision for r in version.reviews.all() if user and r.reviewer_id == user.pk), None)
    return {
        "approvals": approvals_current(version, digests),
        "approvals_required": ReviewPolicy.approvals_for(version.artifact.kind) if required is None else required,
        "mine": mine,
    }


def _reviewer(actor: Actor, version: Version) -> tuple[User, Organization]:
    """Who reviews, and the member org they review for: never the version's own org."""
    if not actor.is_reviewer or actor.user is None:
        raise Forbidden("only consortium reviewers review versions")
    # Every org the person belongs to counts, not only the one a token acts for.
    if Membership.objects.filter(user=actor.user, organization_id=version.artifact.organization_id).exists():
        raise Forbidden("reviewers never review a version of their own organization")
    if not actor.org_ids:
        raise Forbidden("a reviewer reviews for the member organization they belong to")
    # A token reviews for its org; a person in several orgs for the first of them by id.
    return actor.user, Organization.objects.get(pk=min(actor.org_ids))


@transaction.atomic(durable=True)
def review_decide(*, actor: Actor, version: Version, decision: str, comment: str = "") -> Review:
    """Record a reviewer's decision: request changes (→ changes_requested) and reject (→ rejected)
    need a comment; an approval moves the version to `approved` once the kind's quorum of
    current approvals is reached."""
    version = Version.objects.select_for_update().select_related("artifact__organization").get(pk=version.pk)
    user, organization = _reviewer(actor, version)
    if version.state != Version.State.IN_REVIEW:
        raise InvalidTransition(f"version {version.number} is {version.state}, not in_review", field="state")
    if decision not in Decision.values:
        raise ValidationError({"decision": [f"one of {', '.join(Decision.values)}"]})
    if decision != Decision.APPROVE and not comment.strip():
        raise ValidationError({"comment": ["say what must change, or why it is rejected"]})
    manifest, metadata = version_digests(version)
    try:
        with transaction.atomic():
            review = Review.objects.create(
                version=version,
                reviewer=user,
                organization=organization,
                decision=decision,
                comment=comment,
                manifest_sha256=manifest,
                metadata_sha256=metadata,
            )
    except IntegrityError:
        raise Conflict(f"you have already reviewed version {version.number}", field="decision") from None
    required = ReviewPolicy.approvals_for(version.artifact.kind)
    approvals = approvals_current(version, (manifest, metadata))
    if decision == Decision.REQUEST_CHANGES:
        version.transition(Version.State.CHANGES_REQUESTED)
    elif decision == Decision.REJECT:
        version.transition(Version.State.REJECTED)
    elif approvals >= required:
        version.transition(Version.State.APPROVED)
        publication_schedule(version, (manifest, metadata))
    audit_record(
        actor=actor,
        action=f"review.{decision}",
        target=version,
        organization=version.artifact.organization,
        data={"reviewer_org": organization.slug, "comment": comment, "approvals": approvals, "required": required},
    )
    return review


class Override:
    APPROVE = "approve"  # in_review → approved without the quorum
    WAIVE = "waive"  # changes_requested → in_review despite failed checks

    MOVES = {
        APPROVE: (Version.State.IN_REVIEW, Version.State.APPROVED),
        WAIVE: (Version.State.CHANGES_REQUESTED, Version.State.IN_REVIEW),
    }


@transaction.atomic(durable=True)
def version_override(*, actor: Actor, version: Version, action: str, reason: str) -> Version:
    """A steward's override of the lifecycle, always with a reason kept in the audit log."""
    if not actor.is_steward:
        raise Forbidden("only a steward can override a review or a check")
    if action not in Override.MOVES:
        raise ValidationError({"action": [f"one of {', '.join(Override.MOVES)}"]})
    if not reason.strip():
        raise ValidationError({"reason": ["an override needs a reason"]})
    version = Version.objects.select_for_update().select_related("artifact__organization").get(pk=version.pk)
    source, target = Override.MOVES[action]
    if version.state != source:
        raise InvalidTransition(f"{action}: version {version.number} is {version.state}, not {source}", field="state")
    if (
        action == Override.WAIVE
        and not PipelineRun.objects.filter(version=version, status=PipelineRun.Status.FAILED).exists()
    ):
        raise InvalidTransition(
            f"waive: version {version.number} has no failed checks to waive (a reviewer asked for changes)",
            field="action",
        )
    version.transition(target)
    if target == Version.State.APPROVED:
        publication_schedule(version)
    audit_record(
        actor=actor,
        action=f"version.override_{action}",
        target=version,
        organization=version.artifact.organization,
        data={"reason": reason, "from": source, "to": target},
    )
    return version


@transaction.atomic(durable=True)
def review_policy_set(*, actor: Actor, kind: str, approvals_required: int) -> ReviewPolicy:
    """Stewards set how many approvals a kind needs."""
    if not actor.is_steward:
        raise Forbidden("only a steward sets review policies")
    if kind not in Kind.values:
        raise ValidationError({"kind": [f"one of {', '.join(Kind.values)}"]})
    if not 1 <= approvals_required <= 20:
        raise ValidationError({"approvals_required": ["between 1 and 20"]})
    policy, _ = ReviewPolicy.objects.update_or_create(
        kind=kind,
        defaults={"approvals_required": approvals_required, "updated_by": actor.user, "updated_at": timezone.now()},
    )
    audit_record(
        actor=actor,
        action="review_policy.set",
        target=policy,
        organization=None,
        data={"kind": kind, "approvals_required": approvals_required},
    )
    return policy
