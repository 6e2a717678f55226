"""Which audited changes of a version are also events, and what each event tells its readers.

`audit_record` calls `event_for_audit` in the same transaction, so every audited change listed
here has its event exactly when it commits. State changes are recorded by `Version.transition`.
An event's payload is read by everyone who sees the version (the public, for a published one),
so it carries only what the version's own pages show them: never a reviewer's comment or name
(those are for members), nor an infrastructure error (for the org and stewards).
"""

from __future__ import annotations

from typing import Any

from django.db import models

from registry.models import Event, Version

Type = Event.Type

# audited action → (event type, the keys of the audit data the event's payload keeps)
EVENT_OF_ACTION: dict[str, tuple[str, tuple[str, ...]]] = {
    "review.approve": (Type.REVIEW_DECIDED, ("approvals", "required")),
    "review.request_changes": (Type.REVIEW_DECIDED, ("approvals", "required")),
    "review.reject": (Type.REVIEW_DECIDED, ("approvals", "required")),
    "version.override_approve": (Type.STEWARD_OVERRIDE, ("reason", "from", "to")),
    "version.override_waive": (Type.STEWARD_OVERRIDE, ("reason", "from", "to")),
    "check.rerun": (Type.STEWARD_RERUN, ("step", "reason")),
    "measure.rerun": (Type.STEWARD_RERUN, ("step", "reason")),
    "version.withdrawn": (Type.VERSION_WITHDRAWN, ("reason", "repo", "tag")),
    "check.errored": (Type.STEP_ERRORED, ("step", "attempts")),
    "measure.errored": (Type.STEP_ERRORED, ("step", "attempts")),
    "version.published": (Type.PUBLICATION_PUBLISHED, ("repo", "tag", "commit", "url")),
    "publication.failed": (Type.PUBLICATION_FAILED, ("repo", "tag", "reason")),
}


def event_for_audit(*, action: str, target: models.Model, data: dict[str, Any]) -> Event | None:
    """Record the event an audited change stands for, or None when the action is not an event.
    The payload names the audited `action` (for a review, `review.<decision>`)."""
    found = EVENT_OF_ACTION.get(action)
    if found is None:
        return None
    if not isinstance(target, Version):
        raise TypeError(f"the event of '{action}' needs a version as its target, not {type(target).__name__}")
    event_type, keys = found
    payload = {"action": action} | {key: data[key] for key in keys if key in data}
    return Event.record(type=event_type, version=target, payload=payload)
