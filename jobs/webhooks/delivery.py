"""Sending deliveries: claim, sign, POST through the outbound policy, record the attempt, then
succeed, retry after an exponential backoff, or fail; switch a webhook off after a run of
failures and tell its org's owners.

The database is the source of truth and Celery only carries work, as in the pipeline: a delivery
is claimed with a lease before it is sent, so a duplicate message sends nothing, and the
reconciler (beat) sends what a lost message or a dead worker left behind.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import structlog
from celery.exceptions import SoftTimeLimitExceeded
from cryptography.fernet import InvalidToken
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from jobs.pipeline import backoff
from jobs.webhooks.outbound import OutboundFailed, OutboundRefused, OutboundResponse, display, post
from jobs.webhooks.signing import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, TYPE_HEADER, signature_header
from registry.actors import Actor
from registry.api.serializers import EventOut
from registry.models import Event, Membership, Webhook, WebhookAttempt, WebhookDelivery
from registry.permissions import Role
from registry.services.audit import audit_record
from registry.services.webhooks import SYSTEM, event_visible_to_org
from registry.webhook_secrets import secret_decrypt

log = structlog.get_logger(__name__)
Status = WebhookDelivery.Status
# A due delivery still pending this long after its time lost its message: the reconciler re-sends it.
OVERDUE = timedelta(seconds=60)
USER_AGENT = "consortium-registry-webhooks/1"


def attempt_seconds() -> float:
    """The wall-clock bound of one attempt (the task's soft time limit): connect and answer on each
    hop it may take. A receiver that answers slower, a byte at a time, is cut off there."""
    return 2 * settings.WEBHOOK_TIMEOUT_SECONDS * (settings.WEBHOOK_MAX_REDIRECTS + 1) + 5


def _lease() -> timedelta:
    # longer than the task's hard time limit: a lease never runs out under a worker still sending
    return timedelta(seconds=attempt_seconds() + 60)


def deliveries_dispatch(delivery_ids: Iterable[int], *, countdown: float = 0) -> int:
    """Send one message per delivery; a broker error leaves the rest to the reconciler."""
    from jobs.tasks import webhook_deliver_task

    sent = 0
    for delivery_id in delivery_ids:
        try:
            webhook_deliver_task.apply_async(args=[delivery_id], countdown=countdown, retry=False)
        except Exception as exc:  # kombu/redis raise several types for "broker unreachable"
            log.warning("webhook.dispatch_deferred", delivery_id=delivery_id, error=str(exc))
            break
        sent += 1
    return sent


def deliveries_dispatch_later(delivery_ids: list[int]) -> None:
    """Hand an event's deliveries to a worker in one message, which sends one per delivery."""
    from jobs.tasks import webhook_dispatch_task

    try:
        webhook_dispatch_task.apply_async(args=[delivery_ids], retry=False)
    except Exception as exc:
        log.warning("webhook.dispatch_deferred", deliveries=len(delivery_ids), error=str(exc))


def body_of(event: Event) -> bytes:
    """A delivery's body: the event exactly as GET /api/v1/events/ shows it."""
    return json.dumps(EventOut(event).data, separators=(",", ":"), sort_keys=True).encode()


def _claim(delivery_id: int) -> WebhookDelivery | None:
    """Take the delivery if it is due (or its worker died) and has attempts left; its `attempts`
    after the claim fences every later write (a worker whose lease ran out writes nothing)."""
    now = timezone.now()
    due = Q(status=Status.PENDING, next_attempt_at__lte=now) | Q(status=Status.SENDING, lease_expires_at__lt=now)
    claimed = WebhookDelivery.objects.filter(due, pk=delivery_id, attempts__lt=settings.WEBHOOK_MAX_ATTEMPTS).update(
        status=Status.SENDING, lease_expires_at=now + _lease(), attempts=F("attempts") + 1
    )
    if claimed != 1:
        return None
    return WebhookDelivery.objects.select_related(
        "webhook__organization", "event__version__artifact__organization"
    ).get(pk=delivery_id)


def delivery_execute(delivery_id: int) -> str:
    """Make one attempt at a delivery, if it is due and nobody else holds it."""
    delivery = _claim(delivery_id)
    if delivery is None:
        return "skipped"
    webhook, event = delivery.webhook, delivery.event
    structlog.contextvars.bind_contextvars(delivery_id=delivery.pk, webhook_id=webhook.pk, event_type=event.type)
    if not webhook.is_active:
        return _close(delivery, Status.FAILED, "the webhook is switched off; not sent")
    if not event_visible_to_org(event, webhook.organization_id):
        return _close(delivery, Status.FAILED, f"'{webhook.organization.slug}' can no longer see this event; not sent")
    try:
        secret = secret_decrypt(webhook.secret_encrypted)
    except InvalidToken:
        return _close(
            delivery,
            Status.FAILED,
            "the signing secret cannot be decrypted (WEBHOOK_SECRETS_KEY or DJANGO_SECRET_KEY changed); "
            "make a new secret for this webhook, then replay",
        )
    body, timestamp, started = body_of(event), int(time.time()), timezone.now()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: signature_header(secret, timestamp, body),
        EVENT_HEADER: str(event.public_id),
        TYPE_HEADER: event.type,
        DELIVERY_HEADER: str(delivery.public_id),
    }
    response: OutboundResponse | None = None
    final = False
    try:
        response = post(webhook.url, body=body, headers=headers)
        error = "" if 200 <= response.status_code < 300 else f"the receiver answered HTTP {response.status_code}"
    except OutboundRefused as exc:
        error, final = str(exc), True  # the policy refuses this target: retrying would change nothing
    except OutboundFailed as exc:
        error = str(exc)
    except SoftTimeLimitExceeded:
        error = f"the receiver did not finish answering within {attempt_seconds():.0f} s"
    return _record(delivery, started, response, error, final=final)


def _record(
    delivery: WebhookDelivery, started: datetime, response: OutboundResponse | None, error: str, *, final: bool
) -> str:
    """Log the attempt and decide what follows, unless another worker took the delivery over since
    (its lease ran out): then this worker's result is dropped whole."""
    now = timezone.now()
    with transaction.atomic():
        fields: dict[str, Any] = {
            "last_status_code": response.status_code if response else None,
            "last_latency_ms": response.latency_ms if response else None,
            "last_error": error[:500],
            "lease_expires_at": None,
        }
        delay = 0.0
        if not error:
            outcome = Status.SUCCEEDED
            fields |= {"status": outcome, "finished_at": now}
        else:
            retry = not final and delivery.attempts < settings.WEBHOOK_MAX_ATTEMPTS
            outcome = Status.PENDING if retry else Status.FAILED
            delay = backoff(
                delivery.attempts, first=settings.WEBHOOK_BACKOFF_SECONDS, most=settings.WEBHOOK_BACKOFF_MAX_SECONDS
            )
            fields |= {"status": outcome, "finished_at": None if retry else now}
            fields["next_attempt_at"] = now + timedelta(seconds=delay) if retry else None
        held = WebhookDelivery.objects.filter(pk=delivery.pk, status=Status.SENDING, attempts=delivery.attempts)
        if held.update(**fields) != 1:
            log.warning("webhook.attempt_dropped", attempt=delivery.attempts, reason="taken over by another worker")
            return "superseded"
        WebhookAttempt.objects.create(
            delivery=delivery,
            number=delivery.attempts,
            started_at=started,
            status_code=response.status_code if response else None,
            latency_ms=response.latency_ms if response else None,
            error=error[:500],
            response_prefix=response.body_prefix if response else "",
        )
        failures = 0 if not error else F("consecutive_failures") + 1
        Webhook.objects.filter(pk=delivery.webhook_id).update(consecutive_failures=failures)
        if outcome == Status.PENDING:
            transaction.on_commit(lambda: deliveries_dispatch([delivery.pk], countdown=delay), robust=True)
    log.info(
        "webhook.attempt",
        outcome=outcome,
        attempt=delivery.attempts,
        status_code=fields["last_status_code"],
        latency_ms=fields["last_latency_ms"],
        error=error or None,
    )
    if error:
        _switch_off_if_failing(delivery.webhook_id)
    return outcome


def _close(delivery: WebhookDelivery, status: str, error: str) -> str:
    """End a delivery without sending it (no attempt is made, so none is counted)."""
    WebhookDelivery.objects.filter(pk=delivery.pk, status=Status.SENDING, attempts=delivery.attempts).update(
        status=status,
        attempts=F("attempts") - 1,
        last_error=error,
        lease_expires_at=None,
        finished_at=timezone.now(),
    )
    log.info("webhook.closed", status=status, error=error)
    return status


def _switch_off_if_failing(webhook_id: int) -> None:
    limit = settings.WEBHOOK_DISABLE_AFTER_FAILURES
    with transaction.atomic():
        webhook = (
            Webhook.objects.select_for_update()
            .select_related("organization")
            .filter(pk=webhook_id, is_active=True, consecutive_failures__gte=limit)
            .first()
        )
        if webhook is None:
            return
        reason = f"switched off after {webhook.consecutive_failures} failed attempts in a row"
        webhook.is_active, webhook.disabled_at, webhook.disabled_reason = False, timezone.now(), reason
        webhook.save(update_fields=["is_active", "disabled_at", "disabled_reason", "updated_at"])
        dropped = WebhookDelivery.objects.filter(webhook=webhook, status=Status.PENDING).update(
            status=Status.FAILED, last_error="the webhook was switched off; not sent", finished_at=timezone.now()
        )
        audit_record(
            actor=Actor.of_system(SYSTEM),
            action="webhook.switched_off",
            target=webhook,
            organization=webhook.organization,
            data={"reason": reason, "dropped": dropped},
        )
        transaction.on_commit(lambda: _tell_owners(webhook), robust=True)
    log.warning("webhook.switched_off", webhook_id=webhook.pk, url=display(webhook.url), dropped=dropped)


def _tell_owners(webhook: Webhook) -> None:
    owners = Membership.objects.filter(organization=webhook.organization, role=Role.OWNER, user__is_active=True)
    emails = sorted({e for e in owners.values_list("user__email", flat=True) if e})
    if not emails:
        return
    page = settings.PUBLIC_URL + reverse("portal-org-webhook", args=[webhook.organization.slug, webhook.public_id])
    send_mail(
        subject=f"Webhook switched off: {display(webhook.url)}",
        message=(
            f"The registry switched off a webhook of {webhook.organization.name}:\n\n"
            f"  {webhook.url}\n  {webhook.disabled_reason}.\n\n"
            f"Events are no longer sent to it. Its delivery log shows what the receiver answered:\n  {page}\n\n"
            "Switch it on again there (or with `consortium webhooks enable`) once the receiver is fixed;\n"
            "deliveries that were dropped can be replayed from the log.\n"
        ),
        from_email=None,
        recipient_list=emails,
        fail_silently=False,
    )


def webhook_reconcile() -> dict[str, int]:
    """Send deliveries whose message was lost, and take back those whose worker died mid-attempt."""
    now = timezone.now()
    expired = WebhookDelivery.objects.filter(status=Status.SENDING, lease_expires_at__lt=now)
    spent = expired.filter(attempts__gte=settings.WEBHOOK_MAX_ATTEMPTS).update(
        status=Status.FAILED,
        lease_expires_at=None,
        finished_at=now,
        last_error="the worker stopped during the last attempt",
    )
    abandoned = list(expired.values_list("pk", flat=True))
    overdue = list(
        WebhookDelivery.objects.filter(status=Status.PENDING, next_attempt_at__lt=now - OVERDUE).values_list(
            "pk", flat=True
        )[:1000]
    )
    counts = {"abandoned": len(abandoned), "overdue": len(overdue), "spent": spent}
    counts["sent"] = deliveries_dispatch(abandoned + overdue) if abandoned or overdue else 0
    if any(counts.values()):
        log.info("webhook.reconciled", **counts)
    return counts
