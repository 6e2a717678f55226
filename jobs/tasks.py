"""Celery tasks: thin and idempotent; each calls one service."""

from __future__ import annotations

import structlog
from celery import shared_task

from registry.services.housekeeping import storage_sweep
from registry.services.idempotency import idempotency_purge

log = structlog.get_logger(__name__)


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
