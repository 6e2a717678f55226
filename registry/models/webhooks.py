"""Webhooks: an org's HTTP endpoints that receive its events, signed, with a delivery log.

A delivery is one event sent to one webhook; each try at it is an attempt, kept with its status
code, latency and a short prefix of the response, so the org can see what its receiver answered.
"""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.db import models
from django.utils import timezone

from registry.models.events import Event
from registry.models.organizations import Organization, User
from registry.querysets import WebhookQuerySet


class Webhook(models.Model):
    class Source(models.TextChoices):
        OWN = "own"  # events about the org's own versions
        VISIBLE = "visible"  # events about every version the org sees: other members' shared and published work too

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=2000)
    event_types = models.JSONField(default=list, help_text="The event types sent to this endpoint.")
    source = models.CharField(
        max_length=8,
        choices=Source.choices,
        default=Source.OWN,
        help_text="own: the org's own versions; visible: every version the org can see.",
    )
    description = models.CharField(max_length=200, blank=True)
    # The signing secret, encrypted at rest (registry.webhook_secrets): signing needs the secret
    # itself, so it cannot be stored as a digest like a token; a database dump alone does not hold it.
    secret_encrypted = models.TextField()
    is_active = models.BooleanField(default=True)
    consecutive_failures = models.PositiveIntegerField(default=0, help_text="Failed attempts since the last success.")
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = WebhookQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.organization} → {self.url}"


class WebhookDelivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"  # waiting for its next attempt (next_attempt_at)
        SENDING = "sending"  # a worker holds it until lease_expires_at
        SUCCEEDED = "succeeded"
        FAILED = "failed"  # out of attempts, refused (SSRF policy), or its webhook was switched off

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(Event, on_delete=models.PROTECT, related_name="deliveries")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    replay_of = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="replays")
    requested_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_latency_ms = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes: ClassVar = [
            models.Index(fields=["status", "next_attempt_at"], name="delivery_due"),
            models.Index(fields=["webhook", "-id"], name="delivery_webhook_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.event.type} → {self.webhook.url} ({self.status})"

    @property
    def organization(self) -> Organization:
        """The webhook's org: whose capabilities a write on this delivery needs."""
        return self.webhook.organization


class WebhookAttempt(models.Model):
    """One try at a delivery: what the receiver answered, or why nothing was sent."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    response_prefix = models.TextField(blank=True, help_text="The first bytes of the response body, nothing more.")

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["delivery", "number"], name="webhook_attempt_unique"),
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of delivery {self.delivery_id}: {self.status_code or self.error}"
