"""Notifications: what each person hears about, in the portal inbox and by email.

Each is one event for one person, with the reason they hear of it (their preferences decide
which reasons apply). Email is sent in batches: one message, or a digest when several wait.
"""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.utils import timezone

from registry.models.artifacts import Artifact
from registry.models.events import Event
from registry.models.organizations import User


class NotificationPreference(models.Model):
    """A person's choices; a person without a row has the defaults."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="notification_preference")
    reviews_waiting = models.BooleanField(default=True, help_text="Work waiting for my review.")
    org_changes = models.BooleanField(default=True, help_text="My orgs' versions changing state.")
    errors = models.BooleanField(default=True, help_text="Errored steps and failed publications.")
    watched_publications = models.BooleanField(default=True, help_text="Publications of artifacts I watch.")
    email = models.BooleanField(default=True, help_text="Also by email, batched into a digest.")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"notification preferences of {self.user}"


class Watch(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="watches")
    artifact = models.ForeignKey(Artifact, on_delete=models.CASCADE, related_name="watches")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints: ClassVar = [models.UniqueConstraint(fields=["user", "artifact"], name="watch_unique")]

    def __str__(self) -> str:
        return f"{self.user} watches {self.artifact}"


class Notification(models.Model):
    class Reason(models.TextChoices):
        REVIEW_WAITING = "review_waiting"
        ORG_CHANGE = "org_change"
        ERROR = "error"
        WATCHED_PUBLICATION = "watched_publication"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notifications")
    event = models.ForeignKey(Event, on_delete=models.PROTECT, related_name="notifications")
    reason = models.CharField(max_length=24, choices=Reason.choices)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    # Waiting for the next email batch (the person wants email); cleared when it is sent.
    email_pending = models.BooleanField(default=False)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints: ClassVar = [models.UniqueConstraint(fields=["user", "event"], name="notification_unique")]
        indexes: ClassVar = [
            models.Index(fields=["user", "-id"], name="notification_user_recent"),
            models.Index(fields=["user", "read_at"], name="notification_user_unread"),
            models.Index(fields=["email_pending", "user"], name="notification_email_pending"),
        ]

    def __str__(self) -> str:
        return f"{self.event.type} for {self.user} ({self.reason})"
