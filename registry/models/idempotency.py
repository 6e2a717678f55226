"""Responses remembered per (actor, Idempotency-Key), so a retried POST is answered, not re-run."""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.utils import timezone


class IdempotencyRecord(models.Model):
    actor_key = models.CharField(max_length=64, help_text="user:<id> or token:<id>")
    key = models.CharField(max_length=255)
    request_digest = models.CharField(max_length=64, help_text="sha256 of method, path and body")
    status_code = models.PositiveSmallIntegerField(null=True, help_text="Empty while the first request runs.")
    content_type = models.CharField(max_length=100, blank=True)
    body = models.BinaryField(default=b"")
    location = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["actor_key", "key"], name="idempotency_actor_key_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.actor_key} {self.key}"
