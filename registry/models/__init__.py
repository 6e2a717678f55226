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
from registry.models.organizations import ApiToken, Membership, Organization, User
from registry.models.reviews import Review, ReviewPolicy

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
]
