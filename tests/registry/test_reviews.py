"""Review by other members: the other-org rule, the quorum per kind, decisions, approvals bound to
what was reviewed, and stewards' overrides with reasons."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from jobs.models import PipelineRun
from registry.actors import Actor
from registry.digests import manifest_digest
from registry.errors import Conflict, Forbidden, InvalidTransition
from registry.models import AuditEvent, Membership, Organization, Review, Version, VersionFile
from registry.permissions import Role
from registry.selectors import review_queue
from registry.services.reviews import approvals_current, review_decide, review_policy_set, version_override
from registry.services.tokens import token_authenticate
from tests import factories
from tests.conftest import Member

pytestmark = pytest.mark.django_db
State = Version.State


def reviewer(org: Organization, name: str) -> Actor:
    return Actor.for_user(factories.member(org, Role.VIEWER, username=name, is_reviewer=True))


@pytest.fixture
def version(alice: Member) -> Version:
    artifact = factories.ArtifactFactory(organization=alice.organization, created_by=alice.user)
    return factories.VersionFactory(artifact=artifact, state=State.IN_REVIEW, manifest_sha256="a" * 64)


def test_a_reviewer_of_another_org_approves_and_one_approval_is_the_default_quorum(
    version: Version, org_b: Organization
) -> None:
    review = review_decide(actor=reviewer(org_b, "rita"), version=version, decision="approve")
    version.refresh_from_db()
    assert version.state == State.APPROVED
    assert (review.organization, review.manifest_sha256) == (org_b, manifest_digest([]))
    assert AuditEvent.objects.filter(action="review.approve", data__reviewer_org="org-b").count() == 1


def test_reviewers_never_review_their_own_org_and_members_never_review(
    version: Version, alice: Member, charlie: Member
) -> None:
    own = reviewer(alice.organization, "insider")
    with pytest.raises(Forbidden, match="own organization"):
        review_decide(actor=own, version=version, decision="approve")
    with pytest.raises(Forbidden, match="only consortium reviewers"):
        review_decide(actor=charlie.actor, version=version, decision="approve")
    assert Review.objects.count() == 0


def test_the_quorum_is_set_per_kind_by_stewards(version: Version, org_b: Organization, steward: Member) -> None:
    rita = reviewer(org_b, "rita")
    with pytest.raises(Forbidden):
        review_policy_set(actor=rita, kind="checkpoint", approvals_required=2)
    review_policy_set(actor=steward.actor, kind="checkpoint", approvals_required=2)
    review_decide(actor=rita, version=version, decision="approve")
    version.refresh_from_db()
    assert version.state == State.IN_REVIEW, "one of two approvals"
    with pytest.raises(Conflict, match="already reviewed"):
        review_decide(actor=rita, version=version, decision="approve")
    org_c = factories.OrganizationFactory(slug="org-c")
    review_decide(actor=reviewer(org_c, "ravi"), version=version, decision="approve")
    version.refresh_from_db()
    assert version.state == State.APPROVED


def test_request_changes_and_reject_need_a_comment_and_move_the_version(
    version: Version, org_b: Organization, alice: Member
) -> None:
    rita = reviewer(org_b, "rita")
    with pytest.raises(ValidationError):
        review_decide(actor=rita, version=version, decision="request_changes", comment=" ")
    review_decide(actor=rita, version=version, decision="request_changes", comment="add the eval data card")
    version.refresh_from_db()
    assert version.state == State.CHANGES_REQUESTED
    with pytest.raises(InvalidTransition):
        review_decide(actor=reviewer(org_b, "rob"), version=version, decision="approve")
    other = factories.VersionFactory(artifact=version.artifact, state=State.IN_REVIEW, manifest_sha256="b" * 64)
    review_decide(actor=rita, version=other, decision="reject", comment="trained on data we cannot share")
    other.refresh_from_db()
    assert other.state == State.REJECTED


def test_an_approval_no_longer_counts_once_the_manifest_or_declared_metadata_changed(
    version: Version, org_b: Organization, steward: Member
) -> None:
    review_policy_set(actor=steward.actor, kind="checkpoint", approvals_required=2)
    review_decide(actor=reviewer(org_b, "rita"), version=version, decision="approve")
    assert approvals_current(version) == 1
    Version.objects.filter(pk=version.pk).update(metadata={"parameters": 7})
    version.refresh_from_db()
    assert approvals_current(version) == 0
    Version.objects.filter(pk=version.pk).update(metadata={})
    version.refresh_from_db()
    assert approvals_current(version) == 1
    VersionFile.objects.create(version=version, path="late.bin", size=1, sha256="c" * 64)
    assert approvals_current(version) == 0


def test_stewards_override_with_a_reason_kept_in_the_audit_log(
    version: Version, steward: Member, alice: Member
) -> None:
    with pytest.raises(Forbidden):
        version_override(actor=alice.actor, version=version, action="approve", reason="ship it")
    with pytest.raises(ValidationError):
        version_override(actor=steward.actor, version=version, action="approve", reason="")
    version_override(actor=steward.actor, version=version, action="approve", reason="reviewers unavailable for a week")
    version.refresh_from_db()
    assert version.state == State.APPROVED
    with pytest.raises(InvalidTransition):
        version_override(actor=steward.actor, version=version, action="waive", reason="x")
    failed = factories.VersionFactory(artifact=version.artifact, state=State.CHANGES_REQUESTED)
    asked = factories.VersionFactory(artifact=version.artifact, state=State.CHANGES_REQUESTED)
    with pytest.raises(InvalidTransition, match="no failed checks to waive"):
        version_override(actor=steward.actor, version=asked, action="waive", reason="a reviewer asked, not a check")
    PipelineRun.objects.create(version=failed, status=PipelineRun.Status.FAILED)
    version_override(
        actor=steward.actor, version=failed, action="waive", reason="the scanner flags a known-safe global"
    )
    failed.refresh_from_db()
    assert failed.state == State.IN_REVIEW
    reasons = set(
        AuditEvent.objects.filter(action__startswith="version.override_").values_list("data__reason", flat=True)
    )
    assert reasons == {"reviewers unavailable for a week", "the scanner flags a known-safe global"}


def test_a_reviewer_never_reviews_any_org_they_belong_to_even_through_another_orgs_token(
    version: Version, alice: Member, org_b: Organization
) -> None:
    alice.user.is_reviewer = True
    alice.user.save(update_fields=["is_reviewer"])
    Membership.objects.create(user=alice.user, organization=org_b, role=Role.VIEWER)
    _, secret = alice.token("read", "review", organization=org_b)
    token, _ = token_authenticate(secret)
    assert token is not None
    as_org_b = Actor.for_token(token)
    with pytest.raises(Forbidden, match="own organization"):
        review_decide(actor=as_org_b, version=version, decision="approve")
    assert not review_queue(actor=as_org_b).filter(pk=version.pk).exists()


def test_the_quorum_counts_organizations_not_reviewers(version: Version, org_b: Organization, steward: Member) -> None:
    review_policy_set(actor=steward.actor, kind="checkpoint", approvals_required=2)
    review_decide(actor=reviewer(org_b, "rita"), version=version, decision="approve")
    review_decide(actor=reviewer(org_b, "rosa"), version=version, decision="approve")
    version.refresh_from_db()
    assert (version.state, approvals_current(version)) == (State.IN_REVIEW, 1)
    review_decide(
        actor=reviewer(factories.OrganizationFactory(slug="org-c"), "ravi"), version=version, decision="approve"
    )
    version.refresh_from_db()
    assert version.state == State.APPROVED
