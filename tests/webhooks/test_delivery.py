"""Webhook deliveries end to end against a real receiver on 127.0.0.1 (allowed by the explicit
test setting): signed so the documented snippet verifies them, retried with backoff, logged,
replayable, switched off after a run of failures with the owners told, and never made or sent
for a version the webhook's org cannot see."""

from __future__ import annotations

import importlib.util
import inspect
import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from jobs.webhooks import delivery
from jobs.webhooks.outbound import display
from registry.models import AuditEvent, Event, Sharing, Version, Webhook, WebhookDelivery
from registry.services import webhooks
from tests import factories
from tests.conftest import Member
from tests.webhooks.receiver import Receiver, receiver_running

pytestmark = pytest.mark.django_db
State = Version.State
Status = WebhookDelivery.Status
ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "webhooks.md"


@pytest.fixture
def receiver(settings: object) -> Iterator[Receiver]:
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    settings.WEBHOOK_BACKOFF_SECONDS = 10
    with receiver_running() as running:
        yield running


def documented_verify():
    """The `verify` of docs/webhooks.md's Python block, run as a receiver would paste it."""
    code = re.search(r"```python\n(.*?)```", DOCS.read_text(), re.S)
    assert code is not None, "docs/webhooks.md has no python block"
    namespace: dict = {}
    exec(code.group(1), namespace)  # noqa: S102 - our own documentation, under test
    return namespace["verify"]


def hook(member: Member, url: str, *types: str, source: str = Webhook.Source.OWN) -> tuple[Webhook, str]:
    return webhooks.webhook_create(
        actor=member.actor,
        organization=member.organization,
        url=url,
        event_types=list(types or [Event.Type.PUBLICATION_PUBLISHED, Event.Type.VERSION_STATE_CHANGED]),
        source=source,
    )


def moved(member: Member, to: str, *, sharing: str = Sharing.ORG, start: str = State.IN_REVIEW) -> Version:
    artifact = factories.ArtifactFactory(organization=member.organization, created_by=member.user, sharing=sharing)
    version = factories.VersionFactory(artifact=artifact, state=start, manifest_sha256="a" * 64)
    with transaction.atomic():
        version.transition(to)
    return version


def send_due(webhook: Webhook) -> list[str]:
    """Run every due delivery of the webhook once, as the worker would."""
    due = WebhookDelivery.objects.filter(webhook=webhook, status=Status.PENDING, next_attempt_at__lte=timezone.now())
    return [delivery.delivery_execute(pk) for pk in due.values_list("pk", flat=True)]


def make_due(webhook: Webhook) -> None:
    WebhookDelivery.objects.filter(webhook=webhook, status=Status.PENDING).update(next_attempt_at=timezone.now())


def test_a_delivery_arrives_signed_and_the_documented_snippet_verifies_it(alice: Member, receiver: Receiver) -> None:
    webhook, secret = hook(alice, receiver.url)
    version = moved(alice, State.APPROVED)
    assert send_due(webhook) == [Status.SUCCEEDED]
    [got] = receiver.received
    verify = documented_verify()
    assert verify(secret, got.headers["Consortium-Signature"], got.body)
    assert not verify(secret, got.headers["Consortium-Signature"], got.body + b" ")
    assert not verify("whsec_wrong", got.headers["Consortium-Signature"], got.body)
    body = json.loads(got.body)
    event = Event.objects.get(version=version)
    assert body["id"] == got.headers["Consortium-Event"] == str(event.public_id)
    assert body["type"] == got.headers["Consortium-Event-Type"] == "version.state_changed"
    assert body["payload"] == {"from": "in_review", "to": "approved"}
    assert body["version"]["artifact"] == f"{alice.organization.slug}/{version.artifact.slug}"
    record = WebhookDelivery.objects.get(webhook=webhook)
    assert got.headers["Consortium-Delivery"] == str(record.public_id)
    [attempt] = record.attempt_log.all()
    assert (attempt.status_code, attempt.response_prefix) == (200, "answered 200")
    assert attempt.latency_ms is not None
    assert record.last_latency_ms == attempt.latency_ms


def test_the_example_receiver_verifies_with_the_documented_code() -> None:
    spec = importlib.util.spec_from_file_location("receiver", ROOT / "examples" / "webhooks" / "receiver.py")
    assert spec is not None
    assert spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    assert inspect.getsource(example.verify) in DOCS.read_text()


def test_an_old_signature_is_refused_by_the_snippet(alice: Member, receiver: Receiver) -> None:
    from jobs.webhooks.signing import signature_header

    verify = documented_verify()
    old = int(timezone.now().timestamp()) - 3600
    assert not verify("s", signature_header("s", old, b"{}"), b"{}")
    assert verify("s", signature_header("s", int(timezone.now().timestamp()), b"{}"), b"{}")


def test_failures_are_retried_with_growing_backoff_then_succeed(alice: Member, receiver: Receiver) -> None:
    webhook, _ = hook(alice, receiver.url)
    moved(alice, State.APPROVED)
    receiver.answer(500, 503)
    delays = []
    for _ in range(2):
        started = timezone.now()
        assert send_due(webhook) == [Status.PENDING]
        record = WebhookDelivery.objects.get(webhook=webhook)
        delays.append((record.next_attempt_at - started).total_seconds())
        assert send_due(webhook) == []  # not due yet
        make_due(webhook)
    assert send_due(webhook) == [Status.SUCCEEDED]
    assert 8 <= delays[0] <= 12.5
    assert 16 <= delays[1] <= 24.5
    record = WebhookDelivery.objects.get(webhook=webhook)
    assert [a.status_code for a in record.attempt_log.order_by("number")] == [500, 503, 200]
    assert record.attempts == 3
    assert record.finished_at is not None
    assert "HTTP 500" in record.attempt_log.get(number=1).error
    assert len({r.headers["Consortium-Event"] for r in receiver.received}) == 1
    assert Webhook.objects.get(pk=webhook.pk).consecutive_failures == 0


def test_a_delivery_out_of_attempts_fails(alice: Member, receiver: Receiver, settings: object) -> None:
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    webhook, _ = hook(alice, receiver.url)
    moved(alice, State.APPROVED)
    receiver.answer(500, 500)
    send_due(webhook)
    make_due(webhook)
    assert send_due(webhook) == [Status.FAILED]
    record = WebhookDelivery.objects.get(webhook=webhook)
    assert (record.attempts, record.last_status_code, record.next_attempt_at) == (2, 500, None)


def test_a_run_of_failures_switches_the_webhook_off_and_tells_the_owners(
    alice: Member, receiver: Receiver, settings: object, django_capture_on_commit_callbacks
) -> None:
    settings.WEBHOOK_DISABLE_AFTER_FAILURES = 3
    alice.user.email = "alice@lab.example"
    alice.user.save()
    webhook, _ = hook(alice, receiver.url)
    for _ in range(3):
        moved(alice, State.APPROVED)
    receiver.answer(500, 502, 500)
    with django_capture_on_commit_callbacks(execute=True):  # the owners' email goes once the switch-off commits
        send_due(webhook)
    webhook.refresh_from_db()
    assert not webhook.is_active
    assert webhook.disabled_reason == "switched off after 3 failed attempts in a row"
    assert WebhookDelivery.objects.filter(webhook=webhook, status=Status.PENDING).count() == 0
    assert AuditEvent.objects.filter(action="webhook.switched_off", organization=alice.organization).exists()
    [message] = mail.outbox
    assert message.to == ["alice@lab.example"]
    assert message.subject == f"Webhook switched off: {display(receiver.url)}", "no path (it may hold a secret)"
    assert receiver.url in message.body
    assert "3 failed attempts in a row" in message.body
    moved(alice, State.APPROVED)
    assert WebhookDelivery.objects.filter(webhook=webhook).count() == 3  # nothing new for a switched-off hook
    webhooks.webhook_update(actor=alice.actor, webhook=webhook, is_active=True)
    webhook.refresh_from_db()
    assert webhook.is_active
    assert webhook.consecutive_failures == 0
    assert not webhook.disabled_reason


def test_a_replay_is_a_new_delivery_of_the_same_event(alice: Member, receiver: Receiver) -> None:
    webhook, _ = hook(alice, receiver.url)
    moved(alice, State.APPROVED)
    send_due(webhook)
    original = WebhookDelivery.objects.get(webhook=webhook)
    replay = webhooks.delivery_replay(actor=alice.actor, delivery=original)
    assert send_due(webhook) == [Status.SUCCEEDED]
    first, second = receiver.received
    assert first.headers["Consortium-Event"] == second.headers["Consortium-Event"]
    assert second.headers["Consortium-Delivery"] == str(replay.public_id) != first.headers["Consortium-Delivery"]
    assert replay.replay_of == original
    assert replay.requested_by == alice.user


def test_a_new_secret_signs_from_now_on(alice: Member, receiver: Receiver) -> None:
    webhook, old = hook(alice, receiver.url)
    new = webhooks.webhook_rotate_secret(actor=alice.actor, webhook=webhook)
    moved(alice, State.APPROVED)
    send_due(webhook)
    [got] = receiver.received
    verify = documented_verify()
    assert verify(new, got.headers["Consortium-Signature"], got.body)
    assert not verify(old, got.headers["Consortium-Signature"], got.body)


def test_the_secret_is_not_stored_in_the_clear(alice: Member, receiver: Receiver) -> None:
    webhook, secret = hook(alice, receiver.url)
    row = Webhook.objects.values().get(pk=webhook.pk)
    assert secret not in json.dumps(row, default=str)


def test_events_are_never_delivered_for_versions_the_org_cannot_see(
    alice: Member, charlie: Member, receiver: Receiver
) -> None:
    theirs, _ = hook(charlie, receiver.url, Event.Type.VERSION_STATE_CHANGED, source=Webhook.Source.VISIBLE)
    own_only, _ = hook(charlie, receiver.url, Event.Type.VERSION_STATE_CHANGED)
    private = moved(alice, State.APPROVED)  # org-only: charlie's org never sees it
    assert not WebhookDelivery.objects.filter(webhook=theirs).exists()
    shared = moved(alice, State.CHECKING, sharing=Sharing.CONSORTIUM, start=State.SUBMITTED)
    made = WebhookDelivery.objects.get(webhook=theirs)
    assert made.event.version == shared != private
    assert not WebhookDelivery.objects.filter(webhook=own_only).exists(), "own: only charlie's org's versions"
    # the version becomes invisible before the send: the send-time check drops it
    shared.artifact.sharing = Sharing.ORG
    shared.artifact.save()
    assert send_due(theirs) == [Status.FAILED]
    made.refresh_from_db()
    assert "can no longer see" in made.last_error
    assert made.attempts == 0
    assert receiver.received == []


def test_a_target_refused_at_send_time_is_not_retried(alice: Member, receiver: Receiver, settings: object) -> None:
    webhook, _ = hook(alice, receiver.url)
    moved(alice, State.APPROVED)
    settings.WEBHOOK_ALLOWED_NETWORKS = []  # the operator withdrew the allowance
    assert send_due(webhook) == [Status.FAILED]
    record = WebhookDelivery.objects.get(webhook=webhook)
    assert "loopback" in record.last_error
    assert record.attempt_log.get().status_code is None
    assert receiver.received == []


def test_the_reconciler_takes_back_abandoned_and_overdue_deliveries(alice: Member, receiver: Receiver) -> None:
    webhook, _ = hook(alice, receiver.url)
    for _ in range(2):
        moved(alice, State.APPROVED)
    lost, abandoned = WebhookDelivery.objects.filter(webhook=webhook).order_by("id")
    WebhookDelivery.objects.filter(pk=lost.pk).update(next_attempt_at=timezone.now() - timedelta(minutes=5))
    WebhookDelivery.objects.filter(pk=abandoned.pk).update(
        status=Status.SENDING, lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert delivery.webhook_reconcile() == {"abandoned": 1, "overdue": 1, "sent": 2, "spent": 0}
    assert delivery.delivery_execute(abandoned.pk) == Status.SUCCEEDED
    assert delivery.delivery_execute(abandoned.pk) == "skipped"  # a duplicate message sends nothing


def test_a_worker_whose_lease_ran_out_writes_nothing(alice: Member, receiver: Receiver) -> None:
    webhook, _ = hook(alice, receiver.url)
    moved(alice, State.APPROVED)
    row = WebhookDelivery.objects.get(webhook=webhook)
    stale = delivery._claim(row.pk)
    assert stale is not None
    WebhookDelivery.objects.filter(pk=row.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert delivery.delivery_execute(row.pk) == Status.SUCCEEDED  # the reconciler's re-send took it over
    assert delivery._record(stale, timezone.now(), None, "the receiver answered HTTP 500", final=False) == "superseded"
    row.refresh_from_db()
    assert (row.status, row.attempts, row.attempt_log.count()) == (Status.SUCCEEDED, 2, 1)
    assert Webhook.objects.get(pk=webhook.pk).consecutive_failures == 0


def test_an_attempt_cut_off_by_its_time_limit_or_an_unreadable_secret_is_logged_not_looped(
    alice: Member, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, settings: object
) -> None:
    from celery.exceptions import SoftTimeLimitExceeded

    def slow(*args: object, **kwargs: object) -> None:
        raise SoftTimeLimitExceeded

    settings.WEBHOOK_MAX_ATTEMPTS = 2
    webhook, _ = hook(alice, receiver.url)
    moved(alice, State.APPROVED)
    monkeypatch.setattr(delivery, "post", slow)
    assert send_due(webhook) == [Status.PENDING]
    row = WebhookDelivery.objects.get(webhook=webhook)
    assert "did not finish answering within 45 s" in row.attempt_log.get().error
    # an abandoned last attempt is failed by the reconciler, never claimed again
    WebhookDelivery.objects.filter(pk=row.pk).update(
        status=Status.SENDING, attempts=2, lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert delivery.webhook_reconcile()["spent"] == 1
    assert delivery.delivery_execute(row.pk) == "skipped"
    row.refresh_from_db()
    assert (row.status, row.last_error) == (Status.FAILED, "the worker stopped during the last attempt")

    Webhook.objects.filter(pk=webhook.pk).update(secret_encrypted="not-a-fernet-token")
    moved(alice, State.APPROVED)
    assert send_due(webhook) == [Status.FAILED]
    assert "cannot be decrypted" in WebhookDelivery.objects.latest("id").last_error
