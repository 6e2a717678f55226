"""Housekeeping of remembered Idempotency-Key responses."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone

from registry.models import IdempotencyRecord


def idempotency_purge() -> int:
    """Delete records past the TTL. Running it twice is harmless."""
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=timezone.now() - settings.IDEMPOTENCY_TTL).delete()
    return deleted
