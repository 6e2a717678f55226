"""Artifacts: create and change an org's named lines of work."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from registry.actors import Actor
from registry.errors import Conflict
from registry.models import Artifact, Organization
from registry.permissions import Capability
from registry.services.audit import audit_record


@transaction.atomic(durable=True)
def artifact_create(
    *, actor: Actor, organization: Organization, slug: str, kind: str, sharing: str, description: str = ""
) -> Artifact:
    actor.require(organization, Capability.PUSH)
    artifact = Artifact(
        organization=organization, slug=slug, kind=kind, sharing=sharing, description=description, created_by=actor.user
    )
    # Uniqueness is the database's to tell (a 409 naming the slug below), not a validation error.
    artifact.full_clean(validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            artifact.save()
    except IntegrityError:
        raise Conflict(f"artifact '{organization.slug}/{slug}' already exists", field="slug") from None
    audit_record(
        actor=actor,
        action="artifact.created",
        target=artifact,
        organization=organization,
        data={"slug": slug, "kind": kind, "sharing": sharing},
    )
    return artifact


@transaction.atomic(durable=True)
def artifact_update(
    *, actor: Actor, artifact: Artifact, sharing: str | None = None, description: str | None = None
) -> Artifact:
    """Change what may change: who inside the consortium sees it, and its description."""
    actor.require(artifact.organization, Capability.MANAGE)
    artifact = Artifact.objects.select_for_update().select_related("organization").get(pk=artifact.pk)
    changes: dict[str, object] = {}
    if sharing is not None and sharing != artifact.sharing:
        changes["sharing"] = {"from": artifact.sharing, "to": sharing}
        artifact.sharing = sharing
    if description is not None and description != artifact.description:
        changes["description"] = "changed"
        artifact.description = description
    if changes:
        artifact.full_clean(validate_unique=False)
        artifact.save(update_fields=["sharing", "description"])
        audit_record(
            actor=actor, action="artifact.updated", target=artifact, organization=artifact.organization, data=changes
        )
    return artifact
