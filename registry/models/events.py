"""Events: what happened to a version, as a feed its readers follow and the source of notifications
and webhook deliveries. Each row is written in the same transaction as the change it records, so a change
that rolls back leaves no event and a committed change always has one."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from django.db import models, transaction
from django.dispatch import Signal
from django.utils import timezone

from registry.models.artifacts import Version
from registry.models.organizations import Organization
from registry.querysets import EventQuerySet

# Sent inside the change's transaction for every event recorded: notifications and webhook
# deliveries are written with the event, so they exist exactly when it does.
event_recorded = Signal()


class Event(models.Model):
    class Type(models.TextChoices):
        VERSION_STATE_CHANGED = "version.state_changed"
        REVIEW_DECIDED = "review.decided"
        STEWARD_OVERRIDE = "steward.override"
        STEWARD_RERUN = "steward.rerun"
        VERSION_WITHDRAWN = "version.withdrawn"
        STEP_ERRORED = "step.errored"
        PUBLICATION_PUBLISHED = "publication.published"
        PUBLICATION_FAILED = "publication.failed"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    type = models.CharField(max_length=40, choices=Type.choices)
    # The version's org, kept on the row so an org's feed is one index range.
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="events")
    version = models.ForeignKey(Version, on_delete=models.PROTECT, related_name="events")
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = EventQuerySet.as_manager()

    class Meta:
        indexes: ClassVar = [
            models.Index(fields=["organization", "-id"], name="event_org_recent"),
            models.Index(fields=["type", "-id"], name="event_type_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.type} version {self.version_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise TypeError("events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("events are append-only")

    @classmethod
    def record(cls, *, type: str, version: Version, payload: dict[str, Any]) -> Event:
        """Append an event about `version`; refused outside a transaction, which must be the change's."""
        if not transaction.get_connection().in_atomic_block:
            raise RuntimeError("events must be recorded inside the transaction of the change they record")
        organization_id = version.artifact.organization_id
        event = cls.objects.create(type=type, organization_id=organization_id, version=version, payload=payload)
        event_recorded.send(sender=cls, event=event)
        return event
