"""A draft from one submission: a new artifact with its first version, or a new version of an
existing artifact; both or neither."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction

from registry.actors import Actor
from registry.errors import Conflict
from registry.models import Artifact, Organization, ReleaseTarget, Version
from registry.services import artifacts, versions
from registry.services.versions import ComputeIn, LineageIn

# The services' own bodies, without their durable transactions, so that both run in this one
# transaction: a version refused after its new artifact was created leaves no artifact behind.
_artifact_create = inspect.unwrap(artifacts.artifact_create)
_version_create = inspect.unwrap(versions.version_create)


@dataclass(frozen=True)
class NewArtifact:
    slug: str
    kind: str
    sharing: str
    description: str = ""


@dataclass(frozen=True)
class DraftIn:
    """What a version declares (the same fields as the API's version creation)."""

    number: str
    license: str
    readme: str = ""
    metadata: dict[str, Any] | None = None
    compute: ComputeIn | None = None
    release_target: str = ReleaseTarget.HUB
    release_at: datetime | None = None
    lineage: list[LineageIn] | None = None


@transaction.atomic(durable=True)
def draft_create(
    *,
    actor: Actor,
    organization: Organization,
    draft: DraftIn,
    artifact: Artifact | None = None,
    new_artifact: NewArtifact | None = None,
) -> tuple[Version, bool]:
    """A draft version of `artifact`, or of `new_artifact` created with it in `organization`; or the
    same version pushed before with the same declarations (created False), as the API answers."""
    if new_artifact is not None:
        if artifact is not None:
            raise ValueError("give either an existing artifact or a new one, not both")
        artifact = _artifact_create(
            actor=actor,
            organization=organization,
            slug=new_artifact.slug,
            kind=new_artifact.kind,
            sharing=new_artifact.sharing,
            description=new_artifact.description,
        )
    elif artifact is None:
        raise ValueError("give an existing artifact or a new one")
    if artifact.organization_id != organization.pk:
        raise Conflict(f"'{artifact}' belongs to another organization than '{organization.slug}'", field="artifact")
    version, created = _version_create(
        actor=actor,
        artifact=artifact,
        number=draft.number,
        license=draft.license,
        metadata=draft.metadata,
        readme=draft.readme,
        compute=draft.compute,
        release_target=draft.release_target,
        release_at=draft.release_at,
        lineage=draft.lineage,
    )
    return version, created
