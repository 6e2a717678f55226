"""Notifications: who hears of each event and why (their preferences, never what they cannot see,
once per event, nothing when the change rolls back), the inbox, watches, and the batched email."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection, transaction
from django.db.models import Q
from django.test.utils import CaptureQueriesContext

from jobs import pipeline
from jobs.models import Step
from jobs.publication import publish
from registry.actors import Actor
from registry.errors import NotFound
from registry.models import (
    Event,
    Membership,
    Notification,
    NotificationPreference,
    Organization,
    Sharing,
    User,
    Version,
    Watch,
)
from registry.permissions import Role
from registry.services import notifications
from registry.services.notification_email import notification_email_send
from registry.services.reviews import review_decide, version_override
from registry.services.tokens import token_authenticate
from tests import factories
from tests.conftest import Member

pytestmark = pytest.mark.django_db
State = Version.State
Reason = Notification.Reason


@pytest.fixture
def org_c() -> Organization:
    return factories.OrganizationFactory(slug="org-c", name="Org C")


@pytest.fixture
def rita(org_c: Organization) -> Member:
    """A reviewer of another org."""
    return Member(factories.member(org_c, Role.VIEWER, username="rita", is_reviewer=True), org_c)


def version_of(member: Member, state: str, *, sharing: str = Sharing.ORG, slug: str = "dense") -> Version:
    artifact = factories.ArtifactFactory(
        organization=member.organization, created_by=member.user, sharing=sharing, slug=slug
    )
    return factories.VersionFactory(artifact=artifact, number="3", state=state, manifest_sha256="a" * 64)


def heard(version: Version | None = None) -> set[tuple[str, str, str]]:
    """(username, event type, reason) of every notification (about `version`)."""
    found = Notification.objects.select_related("user", "event")
    if version is not None:
        found = found.filter(event__version=version)
    return {(n.user.username, n.event.type, n.reason) for n in found}


def publish_version(version: Version, steward: Member) -> None:
    """in_review → approved (a steward's override) → publishing → published, as the services do it."""
    version_override(actor=steward.actor, version=version, action="approve", reason="reviewers away")
    claimed = publish.publication_claim(version.publication.pk)
    assert claimed is not None
    assert publish._finish(claimed[0], claimed[1], "c0ffee", "https://hub.example/commit/c0ffee") == "published"


# Who hears of what


def test_work_entering_review_reaches_reviewers_of_other_orgs_and_its_own_org(
    alice: Member, bob: Member, charlie: Member, rita: Member, steward: Member, org_c: Organization
) -> None:
    version = version_of(alice, State.CHECKING, sharing=Sharing.CONSORTIUM)
    own_reviewer = factories.member(alice.organization, Role.VIEWER, username="dora", is_reviewer=True)
    factories.member(org_c, Role.VIEWER, username="gone", is_reviewer=True, is_active=False)
    version.transition(State.IN_REVIEW)
    change = Event.Type.VERSION_STATE_CHANGED
    assert heard() == {
        ("rita", change, Reason.REVIEW_WAITING),
        ("alice", change, Reason.ORG_CHANGE),
        ("bob", change, Reason.ORG_CHANGE),
        (own_reviewer.username, change, Reason.ORG_CHANGE),  # never asked to review their own org's work
    }, "charlie sees consortium-shared work in review but is told of it only as a reviewer would be"


def test_intermediate_states_are_not_heard_of(alice: Member, bob: Member) -> None:
    version = version_of(alice, State.SUBMITTED)
    version.transition(State.CHECKING)
    assert heard() == set()
    assert Event.objects.count() == 1


def test_a_review_decision_reaches_the_org_not_the_reviewer(alice: Member, bob: Member, rita: Member) -> None:
    version = version_of(alice, State.IN_REVIEW)
    review_decide(actor=rita.actor, version=version, decision="request_changes", comment="add the eval table")
    Type = Event.Type
    assert heard() == {
        ("alice", Type.VERSION_STATE_CHANGED, Reason.ORG_CHANGE),
        ("alice", Type.REVIEW_DECIDED, Reason.ORG_CHANGE),
        ("bob", Type.VERSION_STATE_CHANGED, Reason.ORG_CHANGE),
        ("bob", Type.REVIEW_DECIDED, Reason.ORG_CHANGE),
    }


def test_an_errored_step_reaches_the_org_and_stewards(
    alice: Member, bob: Member, charlie: Member, rita: Member, steward: Member
) -> None:
    version = version_of(alice, State.CHECKING)
    step = pipeline.run_create(version).steps.filter(gating=True).first()
    Step.objects.filter(pk=step.pk).update(attempts=3)
    assert pipeline.step_error(step.pk, Q(), "ConnectionError: s3 refused")
    assert heard() == {(name, Event.Type.STEP_ERRORED, Reason.ERROR) for name in ("alice", "bob", "stella")}
    (alices,) = Notification.objects.filter(user=alice.user)
    assert notifications.describe(alices.event) == f"Step {step.name} errored on org-a/dense@3"


def test_a_publication_reaches_the_org_and_watchers_once_each(alice: Member, charlie: Member, steward: Member) -> None:
    version = version_of(alice, State.IN_REVIEW, sharing=Sharing.CONSORTIUM)
    notifications.artifact_watch(actor=charlie.actor, artifact=version.artifact)
    notifications.artifact_watch(actor=alice.actor, artifact=version.artifact)  # also a member: heard once
    publish_version(version, steward)
    Type = Event.Type
    assert heard() == {
        ("alice", Type.VERSION_STATE_CHANGED, Reason.ORG_CHANGE),  # → approved
        ("alice", Type.STEWARD_OVERRIDE, Reason.ORG_CHANGE),
        ("alice", Type.VERSION_STATE_CHANGED, Reason.ORG_CHANGE),  # → published
        ("alice", Type.PUBLICATION_PUBLISHED, Reason.ORG_CHANGE),
        ("charlie", Type.PUBLICATION_PUBLISHED, Reason.WATCHED_PUBLICATION),
    }
    assert Notification.objects.filter(user=alice.user).count() == 4, "approved and published are two events"
    published = Notification.objects.get(user=charlie.user)
    assert notifications.describe(published.event) == "org-a/dense@3 was published to the Hub"


# Everyone's reasons in the scenario below, with no preference set.
SCENARIO_REASONS = {
    "alice": {Reason.ORG_CHANGE, Reason.ERROR},
    "bob": {Reason.ORG_CHANGE, Reason.ERROR},
    "charlie": {Reason.WATCHED_PUBLICATION},
    "rita": {Reason.REVIEW_WAITING},
    "stella": {Reason.ERROR},
}


@pytest.mark.parametrize(
    ("who", "preference", "reason"),
    [
        (None, None, None),  # the control: every reason heard
        ("rita", "reviews_waiting", Reason.REVIEW_WAITING),
        ("bob", "org_changes", Reason.ORG_CHANGE),
        ("stella", "errors", Reason.ERROR),
        ("charlie", "watched_publications", Reason.WATCHED_PUBLICATION),
    ],
)
def test_each_reason_is_off_when_its_preference_is(
    alice: Member,
    bob: Member,
    charlie: Member,
    rita: Member,
    steward: Member,
    who: str | None,
    preference: str | None,
    reason: str | None,
) -> None:
    if who is not None and preference is not None:
        notifications.preferences_set(actor=Actor.for_user(User.objects.get(username=who)), **{preference: False})
    reviewed = version_of(alice, State.CHECKING, sharing=Sharing.CONSORTIUM, slug="reviewed")
    reviewed.transition(State.IN_REVIEW)
    notifications.artifact_watch(actor=charlie.actor, artifact=reviewed.artifact)
    publish_version(reviewed, steward)
    errored = version_of(alice, State.CHECKING, slug="errored")
    step = pipeline.run_create(errored).steps.filter(gating=True).first()
    assert pipeline.step_error(step.pk, Q(), "boom")

    reasons: dict[str, set[str]] = {name: set() for name in SCENARIO_REASONS}
    for name, _, why in heard():
        reasons[name].add(why)
    expected = {name: found - {reason} if name == who else found for name, found in SCENARIO_REASONS.items()}
    assert reasons == expected


def test_notifying_an_event_again_adds_nothing(alice: Member, rita: Member) -> None:
    version = version_of(alice, State.CHECKING)
    version.transition(State.IN_REVIEW)
    event = Event.objects.get()
    before = Notification.objects.count()
    notifications.on_event(sender=Event, event=event)
    assert Notification.objects.count() == before == 2


def test_nobody_hears_of_a_publication_they_cannot_see(alice: Member, charlie: Member) -> None:
    """A watcher of an artifact whose version is not public and not shared with them hears nothing,
    even of a publication event (recorded here on an org-only version that is not published)."""
    version = version_of(alice, State.APPROVED)
    Watch.objects.create(user=charlie.user, artifact=version.artifact)  # watched when it was visible
    with transaction.atomic():
        Event.record(type=Event.Type.PUBLICATION_PUBLISHED, version=version, payload={"action": "version.published"})
    assert heard() == {("alice", Event.Type.PUBLICATION_PUBLISHED, Reason.ORG_CHANGE)}


def test_a_change_that_rolls_back_leaves_no_notification(alice: Member, rita: Member) -> None:
    version = version_of(alice, State.CHECKING)
    written = []

    def review_then_fail() -> None:
        with transaction.atomic():
            version.transition(State.IN_REVIEW)
            written.append(Notification.objects.count())
            raise RuntimeError("after the move")

    with pytest.raises(RuntimeError, match="after the move"):
        review_then_fail()
    assert written == [2], "written with the change"
    assert Notification.objects.count() == 0


def test_email_is_pending_only_for_people_who_want_it_and_have_an_address(
    alice: Member, bob: Member, org_a: Organization
) -> None:
    User.objects.filter(pk=bob.user.pk).update(email="")
    quiet = factories.member(org_a, Role.VIEWER, username="quiet")
    NotificationPreference.objects.create(user=quiet, email=False)
    version_of(alice, State.CHECKING).transition(State.IN_REVIEW)
    pending = dict(Notification.objects.values_list("user__username", "email_pending"))
    assert pending == {"alice": True, "bob": False, "quiet": False}


def test_the_fan_out_costs_the_same_queries_for_many_people(alice: Member, org_c: Organization) -> None:
    def queries_to_review(slug: str) -> int:
        version = version_of(alice, State.CHECKING, slug=slug)
        with CaptureQueriesContext(connection) as ctx:
            version.transition(State.IN_REVIEW)
        return len(ctx.captured_queries)

    factories.member(org_c, Role.VIEWER, is_reviewer=True)
    few = queries_to_review("few")
    for _ in range(12):
        factories.member(factories.OrganizationFactory(), Role.VIEWER, is_reviewer=True)
        factories.member(alice.organization, Role.VIEWER)
    many = queries_to_review("many")
    assert Notification.objects.filter(event__version__artifact__slug="many").count() == 12 + 12 + 1 + 1
    assert few == many


# The inbox


def test_the_inbox_lists_only_what_the_person_still_sees(alice: Member, rita: Member, steward: Member) -> None:
    version = version_of(alice, State.CHECKING)
    version.transition(State.IN_REVIEW)
    assert [n.reason for n in notifications.notification_list(actor=rita.actor)] == [Reason.REVIEW_WAITING]
    assert notifications.unread_count(actor=rita.actor) == 1
    version_override(actor=steward.actor, version=version, action="approve", reason="quorum elsewhere")
    assert list(notifications.notification_list(actor=rita.actor)) == [], "approved org-only work is out of sight"
    assert notifications.unread_count(actor=rita.actor) == 0
    assert notifications.unread_count(actor=alice.actor) == 3


def test_a_token_lists_only_its_orgs_notifications(alice: Member, charlie: Member, org_b: Organization) -> None:
    dora = Member(factories.member(alice.organization, Role.OWNER, username="dora"), alice.organization)
    Membership.objects.create(user=dora.user, organization=org_b, role=Role.OWNER)
    version_of(alice, State.CHECKING).transition(State.IN_REVIEW)
    version_of(charlie, State.CHECKING).transition(State.IN_REVIEW)
    token, _ = token_authenticate(dora.token("read", organization=org_b)[1])
    assert token is not None
    listed = notifications.notification_list(actor=Actor.for_token(token))
    assert [n.event.organization.slug for n in listed] == ["org-b"]
    assert notifications.notification_list(actor=dora.actor).count() == 2


def test_marking_read_one_or_all_and_never_someone_elses(alice: Member, bob: Member, rita: Member) -> None:
    version = version_of(alice, State.CHECKING)
    version.transition(State.IN_REVIEW)
    version.transition(State.APPROVED)
    first, _ = notifications.notification_list(actor=alice.actor)
    bobs = notifications.notification_list(actor=bob.actor).first()
    with pytest.raises(NotFound, match=f"id {bobs.pk}"):
        notifications.notifications_mark_read(actor=alice.actor, ids=[first.pk, bobs.pk])
    assert notifications.unread_count(actor=alice.actor) == 2, "refused as a whole"
    assert notifications.notifications_mark_read(actor=alice.actor, ids=[first.pk]) == 1
    assert notifications.notifications_mark_read(actor=alice.actor, ids=[first.pk]) == 0
    assert notifications.notifications_mark_read(actor=alice.actor) == 1
    assert notifications.unread_count(actor=alice.actor) == 0
    assert notifications.unread_count(actor=bob.actor) == 2


def test_preferences_default_to_everything_and_keep_what_is_not_named(alice: Member) -> None:
    current = notifications.preferences_get(actor=alice.actor)
    assert current.pk is None
    assert all(getattr(current, name) for name in notifications.PREFERENCE_FIELDS)
    notifications.preferences_set(actor=alice.actor, email=False)
    notifications.preferences_set(actor=alice.actor, errors=False)
    saved = notifications.preferences_get(actor=alice.actor)
    assert (saved.email, saved.errors, saved.org_changes) == (False, False, True)
    with pytest.raises(Exception, match="not a preference"):
        notifications.preferences_set(actor=alice.actor, everything=False)


def test_watching_needs_a_visible_artifact_and_is_one_watch(alice: Member, charlie: Member) -> None:
    private = version_of(alice, State.IN_REVIEW)
    with pytest.raises(NotFound):
        notifications.artifact_watch(actor=charlie.actor, artifact=private.artifact)
    watch, created = notifications.artifact_watch(actor=alice.actor, artifact=private.artifact)
    again, created_again = notifications.artifact_watch(actor=alice.actor, artifact=private.artifact)
    assert (created, created_again, again.pk) == (True, False, watch.pk)
    assert notifications.is_watching(actor=alice.actor, artifact=private.artifact)
    notifications.artifact_unwatch(actor=alice.actor, artifact=private.artifact)
    assert not notifications.is_watching(actor=alice.actor, artifact=private.artifact)
    with pytest.raises(NotFound, match="do not watch"):
        notifications.artifact_unwatch(actor=alice.actor, artifact=private.artifact)


# Email


class RefusingBackend(BaseEmailBackend):
    """An SMTP server that is down."""

    def send_messages(self, email_messages: Any) -> int:
        raise ConnectionRefusedError("smtp.example:587 refused the connection")


def test_one_notification_is_one_plain_message(alice: Member, rita: Member, mailoutbox: list, settings: Any) -> None:
    settings.PUBLIC_URL = "https://registry.example"
    User.objects.filter(pk=alice.user.pk).update(email="")
    version = version_of(alice, State.CHECKING)
    version.transition(State.IN_REVIEW)
    assert notification_email_send() == {"sent": 1, "skipped": 0, "failed": 0}
    (message,) = mailoutbox
    assert message.subject == "org-a/dense@3 is waiting for your review"
    assert message.to == ["rita@example.org"]
    assert f"https://registry.example/versions/{version.public_id}/" in message.body
    assert "org-a/dense@3 moved from checking to in_review." in message.body
    emailed = Notification.objects.get(user=rita.user)
    assert (emailed.email_pending, emailed.emailed_at is not None) == (False, True)


def test_several_notifications_are_one_digest_and_a_second_run_sends_nothing(
    alice: Member, rita: Member, steward: Member, mailoutbox: list
) -> None:
    version = version_of(alice, State.CHECKING)
    version.transition(State.IN_REVIEW)
    publish_version(version, steward)
    assert notification_email_send()["sent"] == 2  # alice's digest, rita's one message
    (digest,) = [m for m in mailoutbox if m.to == ["alice@example.org"]]
    assert digest.subject == "5 updates in the consortium registry"
    for line in (
        "- org-a/dense@3 moved from checking to in_review (your organization's work)",
        "- A steward approved org-a/dense@3 without the quorum",
        "- org-a/dense@3 was published to the Hub",
        f"/versions/{version.public_id}/",
    ):
        assert line in digest.body
    assert notification_email_send() == {"sent": 0, "skipped": 0, "failed": 0}
    assert len(mailoutbox) == 2


def test_a_failing_backend_leaves_them_pending_for_the_next_run(alice: Member, mailoutbox: list, settings: Any) -> None:
    version_of(alice, State.CHECKING).transition(State.IN_REVIEW)
    settings.EMAIL_BACKEND = f"{__name__}.RefusingBackend"
    assert notification_email_send() == {"sent": 0, "skipped": 0, "failed": 1}
    assert Notification.objects.get(user=alice.user).email_pending
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert notification_email_send() == {"sent": 1, "skipped": 0, "failed": 0}
    assert len(mailoutbox) == 1


def test_nobody_is_emailed_without_an_address_or_the_wish_or_the_sight(
    alice: Member, bob: Member, rita: Member, steward: Member, mailoutbox: list
) -> None:
    version = version_of(alice, State.CHECKING)
    version.transition(State.IN_REVIEW)
    User.objects.filter(pk=bob.user.pk).update(email="")  # after the notification was made
    notifications.preferences_set(actor=alice.actor, email=False)
    version_override(actor=steward.actor, version=version, action="approve", reason="quorum elsewhere")
    Notification.objects.update(email_pending=True)  # as if each had asked for email when it was made
    assert notification_email_send() == {"sent": 0, "skipped": 3, "failed": 0}
    assert mailoutbox == []
    assert not Notification.objects.filter(email_pending=True).exists()
    assert not Notification.objects.filter(emailed_at__isnull=False).exists()


@pytest.mark.django_db(transaction=True)
def test_a_run_skips_what_another_run_holds(alice: Member, mailoutbox: list) -> None:
    if connection.vendor != "postgresql":
        # SQLite has no row locks: the embedded default's runs take the database's one write lock
        # in turn, so a second run finds nothing pending (test_several_notifications_are_one_digest…).
        pytest.skip("SKIP LOCKED is Postgres-only (make test runs on SQLite without DATABASE_URL)")
    version_of(alice, State.CHECKING).transition(State.IN_REVIEW)
    held, release = threading.Event(), threading.Event()

    def other_run() -> None:
        try:
            with transaction.atomic():
                list(Notification.objects.select_for_update().filter(user=alice.user))
                held.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=other_run)
    thread.start()
    try:
        assert held.wait(10)
        assert notification_email_send() == {"sent": 0, "skipped": 0, "failed": 0}
    finally:
        release.set()
        thread.join(10)
    assert notification_email_send() == {"sent": 1, "skipped": 0, "failed": 0}
    assert len(mailoutbox) == 1
