"""Events: each kind of change writes its event row in the change's own transaction, payloads keep
to what the version's readers may see, and events are seen exactly as their version is."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.db.models import Q

from jobs import pipeline
from jobs.models import Step
from jobs.publication import publish
from registry.actors import Actor
from registry.errors import InvalidTransition
from registry.models import Event, Organization, Sharing, Version
from registry.permissions import Role
from registry.services.reviews import review_decide, version_override
from tests import factories
from tests.conftest import Member

pytestmark = pytest.mark.django_db
State = Version.State
Type = Event.Type


def version_of(member: Member, state: str, sharing: str = Sharing.ORG) -> Version:
    artifact = factories.ArtifactFactory(organization=member.organization, created_by=member.user, sharing=sharing)
    return factories.VersionFactory(artifact=artifact, state=state, manifest_sha256="a" * 64)


def events(version: Version) -> list[tuple[str, dict]]:
    return [(e.type, e.payload) for e in Event.objects.filter(version=version).order_by("id")]


def test_a_review_decision_is_a_state_change_and_a_decision_without_the_comment(
    alice: Member, org_b: Organization
) -> None:
    version = version_of(alice, State.IN_REVIEW)
    rita = Actor.for_user(factories.member(org_b, Role.VIEWER, username="rita", is_reviewer=True))
    review_decide(actor=rita, version=version, decision="request_changes", comment="rita's private note")
    assert events(version) == [
        (Type.VERSION_STATE_CHANGED, {"from": "in_review", "to": "changes_requested"}),
        (Type.REVIEW_DECIDED, {"action": "review.request_changes", "approvals": 0, "required": 1}),
    ]
    assert Event.objects.get(type=Type.REVIEW_DECIDED).organization == alice.organization


def test_a_steward_override_then_a_failed_and_a_finished_publication(alice: Member, steward: Member) -> None:
    version = version_of(alice, State.IN_REVIEW)
    version_override(actor=steward.actor, version=version, action="approve", reason="reviewers away")
    publication = version.publication
    claimed = publish.publication_claim(publication.pk)
    assert claimed is not None
    publish._fail(publication, claimed[1], "the Hub said 503")
    publish.Publication.objects.filter(pk=publication.pk).update(status=publish.Status.WAITING)
    claimed = publish.publication_claim(publication.pk)
    assert claimed is not None
    assert publish._finish(publication, claimed[1], "c0ffee", "https://hub.example/commit/c0ffee") == "published"
    tag = publication.tag
    assert events(version) == [
        (Type.VERSION_STATE_CHANGED, {"from": "in_review", "to": "approved"}),
        (
            Type.STEWARD_OVERRIDE,
            {"action": "version.override_approve", "reason": "reviewers away", "from": "in_review", "to": "approved"},
        ),
        (Type.VERSION_STATE_CHANGED, {"from": "approved", "to": "publishing"}),
        (Type.VERSION_STATE_CHANGED, {"from": "publishing", "to": "approved"}),
        (
            Type.PUBLICATION_FAILED,
            {"action": "publication.failed", "repo": publication.repo_id, "tag": tag, "reason": "the Hub said 503"},
        ),
        (Type.VERSION_STATE_CHANGED, {"from": "approved", "to": "publishing"}),
        (Type.VERSION_STATE_CHANGED, {"from": "publishing", "to": "published"}),
        (
            Type.PUBLICATION_PUBLISHED,
            {
                "action": "version.published",
                "repo": publication.repo_id,
                "tag": tag,
                "commit": "c0ffee",
                "url": "https://hub.example/commit/c0ffee",
            },
        ),
    ]


def test_an_errored_step_keeps_its_error_out_of_the_event_and_a_steward_re_runs_it(
    alice: Member, steward: Member
) -> None:
    version = version_of(alice, State.CHECKING)
    run = pipeline.run_create(version)
    step = run.steps.filter(gating=True).first()
    Step.objects.filter(pk=step.pk).update(attempts=3)
    assert pipeline.step_error(step.pk, Q(), "ConnectionError: s3.internal:8333 refused")
    pipeline.step_rerun(actor=steward.actor, step=step, reason="storage is back")
    assert events(version) == [
        (Type.STEP_ERRORED, {"action": "check.errored", "step": step.name, "attempts": 3}),
        (Type.STEWARD_RERUN, {"action": "check.rerun", "step": step.name, "reason": "storage is back"}),
    ]


def test_a_change_that_fails_or_rolls_back_leaves_no_event(alice: Member, steward: Member) -> None:
    version = version_of(alice, State.IN_REVIEW)
    with pytest.raises(InvalidTransition):
        version_override(actor=steward.actor, version=version, action="waive", reason="nothing failed")

    def approve_then_fail() -> None:
        with transaction.atomic():
            version.transition(State.APPROVED)
            raise RuntimeError("after the move")

    with pytest.raises(RuntimeError, match="after the move"):
        approve_then_fail()
    assert Event.objects.count() == 0


def test_events_are_seen_exactly_as_their_version(alice: Member, charlie: Member, org_b: Organization) -> None:
    private, awaiting, published = (
        version_of(alice, state) for state in (State.SUBMITTED, State.CHECKING, State.PUBLISHING)
    )
    private.transition(State.CHECKING)
    awaiting.transition(State.IN_REVIEW)
    published.transition(State.PUBLISHED)
    rita = factories.member(org_b, Role.VIEWER, username="rita", is_reviewer=True)

    def seen(actor: Actor) -> set[int]:
        return set(Event.objects.visible_to(actor).values_list("version_id", flat=True))

    assert seen(alice.actor) == {private.pk, awaiting.pk, published.pk}
    assert seen(charlie.actor) == {published.pk}, "another org sees its published versions only"
    assert seen(Actor.for_user(rita)) == {awaiting.pk, published.pk}, "a reviewer sees work in review"
    assert seen(Actor.anonymous()) == {published.pk}
