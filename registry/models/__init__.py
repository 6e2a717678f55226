from registry.models.artifacts import (
    Artifact,
    HubRepoType,
    Kind,
    LineageEdge,
    Relation,
    ReleaseTarget,
    Sharing,
    Version,
    VersionFile,
)
from registry.models.audit import AuditEvent
from registry.models.blobs import Blob, Upload
from registry.models.events import Event
from registry.models.idempotency import IdempotencyRecord
from registry.models.invitations import Invitation
from registry.models.notifications import Notification, NotificationPreference, Watch
from registry.models.organizations import ApiToken, Membership, Organization, User
from registry.models.reviews import Review, ReviewPolicy
from registry.models.webhooks import Webhook, WebhookAttempt, WebhookDelivery

__all__ = [
    "ApiToken",
    "Artifact",
    "AuditEvent",
    "Blob",
    "Event",
    "HubRepoType",
    "IdempotencyRecord",
    "Invitation",
    "Kind",
    "LineageEdge",
    "Membership",
    "Notification",
    "NotificationPreference",
    "Organization",
    "Relation",
    "ReleaseTarget",
    "Review",
    "ReviewPolicy",
    "Sharing",
    "Upload",
    "User",
    "Version",
    "VersionFile",
    "Watch",
    "Webhook",
    "WebhookAttempt",
    "WebhookDelivery",
]
