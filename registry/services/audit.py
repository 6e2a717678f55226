"""audit_record: the one way to append to the audit log, inside the caller's transaction, with
the event the change stands for (registry/services/events.py)."""

from __future__ import annotations

from typing import Any

from django.db import models, transaction

from registry.actors import Actor
from registry.models import AuditEvent, Organization
from registry.services.events import event_for_audit


def audit_record(
    *,
    actor: Actor,
    action: str,
    target: models.Model,
    organization: Organization | None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_record must run inside the transaction of the write it records")
    entry = AuditEvent.objects.create(
        organization=organization,
        actor=actor.user,
        token=actor.token,
        actor_label=actor.label,
        action=action,
        target_type=target._meta.model_name or "",
        target_id=str(getattr(target, "public_id", None) or getattr(target, "slug", None) or target.pk),
        data=data or {},
    )
    event_for_audit(action=action, target=target, data=entry.data)
    return entry
