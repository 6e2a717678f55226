"""Celery tasks: thin and idempotent; each calls one service."""

from __future__ import annotations

import structlog
from celery import shared_task
from django.conf import settings

from jobs.pipeline import pipeline_reconcile, step_execute
from jobs.publication.publish import publication_execute, publication_reconcile
from jobs.webhooks.delivery import attempt_seconds, deliveries_dispatch, delivery_execute, webhook_reconcile
from registry.services.housekeeping import storage_sweep
from registry.services.idempotency import idempotency_purge
from registry.services.notification_email import notification_email_send

log = structlog.get_logger(__name__)


@shared_task(
    acks_late=True,
    # A check that runs away is stopped (SoftTimeLimitExceeded is retried like any infrastructure
    # error, then `errored`); the heartbeat would otherwise keep its lease alive forever.
    soft_time_limit=settings.PIPELINE_STEP_TIME_LIMIT_SECONDS,
    time_limit=settings.PIPELINE_STEP_TIME_LIMIT_SECONDS + 60,
)
def step_run_task(step_id: int) -> str:
    """Run one pipeline step. Safe to deliver any number of times: the step's lease decides who
    runs it, and a finished step is never run again."""
    return step_execute(step_id)


@shared_task(acks_late=True)
def pipeline_reconcile_task() -> dict[str, int]:
    """Requeue steps whose worker died and send steps that were never sent (beat)."""
    return pipeline_reconcile()


@shared_task(
    acks_late=True,
    soft_time_limit=settings.PIPELINE_STEP_TIME_LIMIT_SECONDS,
    time_limit=settings.PIPELINE_STEP_TIME_LIMIT_SECONDS + 60,
)
def publish_task(publication_id: int) -> str:
    """Publish one approved version to the Hub. Safe to deliver any number of times: the lease
    decides who works on it, and the marked commit is found again instead of made twice."""
    return publication_execute(publication_id)


@shared_task(acks_late=True)
def publication_reconcile_task() -> dict[str, int]:
    """Send publications that are due (release dates, backoffs) or whose worker died (beat)."""
    return publication_reconcile()


@shared_task(acks_late=True)
def idempotency_purge_task() -> int:
    """Forget Idempotency-Key records older than the TTL (beat, hourly)."""
    purged = idempotency_purge()
    log.info("idempotency.purged", count=purged)
    return purged


@shared_task(acks_late=True)
def storage_sweep_task() -> dict[str, int]:
    """Abort idle and stray multipart uploads; delete unreferenced blobs and orphaned objects (beat)."""
    return storage_sweep().__dict__


@shared_task(acks_late=True, soft_time_limit=attempt_seconds(), time_limit=attempt_seconds() + 30)
def webhook_deliver_task(delivery_id: int) -> str:
    """Make one attempt at a webhook delivery. Safe to deliver any number of times: the claim
    decides who sends, and a finished delivery is never sent again."""
    return delivery_execute(delivery_id)


@shared_task(acks_late=True)
def webhook_dispatch_task(delivery_ids: list[int]) -> int:
    """Send one message per delivery of an event (queued once by the event's transaction)."""
    return deliveries_dispatch(delivery_ids)


@shared_task(acks_late=True)
def webhook_reconcile_task() -> dict[str, int]:
    """Send deliveries whose message was lost or whose worker died (beat)."""
    return webhook_reconcile()


@shared_task(acks_late=True)
def notification_email_task() -> dict[str, int]:
    """Email each person their waiting notifications, one message or a digest (beat)."""
    return notification_email_send()
