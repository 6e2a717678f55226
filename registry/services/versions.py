"""Versions: create a draft with its declared metadata and lineage; delete a draft."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from registry.actors import Actor
from registry.declared_metadata import declared_metadata_errors
from registry.errors import Conflict
from registry.licenses import spdx_normalize
from registry.models import Artifact, HubRepoType, Kind, LineageEdge, Relation, ReleaseTarget, Version
from registry.models.artifacts import version_number_validator
from registry.permissions import Capability
from registry.services.audit import audit_record
from registry.services.housekeeping import uploads_release

MAX_METADATA_BYTES = 64 * 1024
MAX_README_CHARS = 200_000
HUB_REPO_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}")
COMMIT_RE = re.compile(r"[0-9a-f]{40}")

# What each relation may point at inside the registry.
PARENT_KINDS: dict[str, frozenset[str]] = {
    Relation.DERIVED_FROM: frozenset({Kind.CHECKPOINT, Kind.ADAPTER}),
    Relation.TRAINED_ON: frozenset({Kind.DATASET, Kind.RL_ENVIRONMENT}),
    Relation.PRODUCED_BY: frozenset({Kind.PRETRAINING_RECIPE, Kind.POSTTRAINING_RECIPE}),
    Relation.EVALUATED_WITH: frozenset({Kind.EVAL_SUITE}),
}


@dataclass(frozen=True)
class LineageIn:
    """One declared edge: `version` (a registry version's public id) or an external Hub repo."""

    relation: str
    version: str | None = None
    hub_repo: str | None = None
    hub_repo_type: str = HubRepoType.MODEL
    revision: str | None = None
    license: str | None = None


@dataclass(frozen=True)
class ComputeIn:
    gpu_hours: float | None = None
    flops: float | None = None
    hardware: str = ""
    notes: str = ""

    def as_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in (None, "")}


def _check_declared(kind: str, metadata: Any, readme: str, compute: ComputeIn) -> None:
    errors: dict[str, list[str]] = {}
    if not isinstance(metadata, dict):
        errors["metadata"] = ["metadata must be a JSON object"]
    elif len(json.dumps(metadata)) > MAX_METADATA_BYTES:
        errors["metadata"] = [f"metadata is at most {MAX_METADATA_BYTES // 1024} KiB of JSON"]
    else:
        errors.update(declared_metadata_errors(kind, metadata))
    if len(readme) > MAX_README_CHARS:
        errors["readme"] = [f"the README is at most {MAX_README_CHARS} characters"]
    for name in ("gpu_hours", "flops"):
        value = getattr(compute, name)
        if value is not None and not value >= 0:
            errors.setdefault("compute", []).append(f"{name} must be a number ≥ 0")
    if errors:
        raise ValidationError(errors)


def _edge(actor: Actor, item: LineageIn) -> LineageEdge:
    """The edge one declared item stands for, or ValueError saying what is wrong with it."""
    if item.relation not in Relation.values:
        raise ValueError(f"relation '{item.relation}' is not one of {Relation.values}")
    if (item.version is None) == (item.hub_repo is None):
        raise ValueError("give either 'version' (a registry version id) or 'hub_repo', not both")
    if item.version is not None:
        # What the pusher sees as a member: a reviewer's or steward's wider view is for reading, not
        # for tying its org's work to others' private versions. Invisible reads as nonexistent.
        visible = Version.objects.visible_to(actor.as_member()).select_related("artifact")
        parent = visible.filter(public_id=item.version).first() if _is_uuid(item.version) else None
        if parent is None or parent.state == Version.State.DELETED:
            raise ValueError(f"version '{item.version}' not found")
        if parent.state == Version.State.DRAFT:
            raise ValueError(f"version '{item.version}' is a draft; lineage points at finalized versions")
        if parent.artifact.kind not in PARENT_KINDS[item.relation]:
            allowed = " or ".join(sorted(PARENT_KINDS[item.relation]))
            raise ValueError(f"{item.relation} must point at a {allowed}, not a {parent.artifact.kind}")
        return LineageEdge(relation=item.relation, parent=parent)
    repo, revision = item.hub_repo or "", item.revision or ""
    if not HUB_REPO_RE.fullmatch(repo):
        raise ValueError(f"hub_repo '{repo}' is not a Hub repo id like 'namespace/name'")
    if not COMMIT_RE.fullmatch(revision):
        raise ValueError("revision must pin a commit: 40 lowercase hex characters")
    if item.hub_repo_type not in HubRepoType.values:
        raise ValueError(f"hub_repo_type must be one of {HubRepoType.values}")
    try:
        license_ = spdx_normalize(item.license or "")
    except ValidationError as exc:
        raise ValueError(f"license: {' '.join(exc.message_dict['license'])}") from None
    return LineageEdge(
        relation=item.relation,
        external_repo=repo,
        external_repo_type=item.hub_repo_type,
        external_revision=revision,
        external_license=license_,
    )


def _resolve_lineage(actor: Actor, items: list[LineageIn]) -> list[LineageEdge]:
    """Edges for `items`, or one ValidationError naming every bad item by its index (`lineage[2]`)."""
    edges: list[LineageEdge] = []
    problems: dict[str, list[str]] = {}
    seen: dict[tuple[object, ...], int] = {}
    for i, item in enumerate(items):
        try:
            edge = _edge(actor, item)
        except ValueError as exc:
            problems[f"lineage[{i}]"] = [str(exc)]
            continue
        key = (edge.relation, edge.parent_id, edge.external_repo, edge.external_revision)
        if key in seen:
            problems[f"lineage[{i}]"] = [f"repeats lineage[{seen[key]}]"]
            continue
        seen[key] = i
        edges.append(edge)
    if problems:
        raise ValidationError(problems)
    return edges


def _is_uuid(value: str) -> bool:
    return bool(re.fullmatch(r"[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}", value))


@transaction.atomic(durable=True)
def version_create(
    *,
    actor: Actor,
    artifact: Artifact,
    number: str,
    license: str,
    metadata: dict[str, Any] | None = None,
    readme: str = "",
    compute: ComputeIn | None = None,
    release_target: str = ReleaseTarget.HUB,
    release_at: datetime | None = None,
    lineage: list[LineageIn] | None = None,
) -> tuple[Version, bool]:
    """A new draft version with its declared metadata and lineage, all or nothing; or, when the
    same version was pushed before with the same declarations, that version (created False)."""
    actor.require(artifact.organization, Capability.PUSH)
    if artifact.withdrawn_at is not None:
        raise Conflict(f"'{artifact}' was withdrawn; it takes no new versions", field="artifact")
    metadata = {} if metadata is None else metadata
    compute = compute or ComputeIn()
    edges: list[LineageEdge] = []
    errors: dict[str, list[str]] = {}

    def collect(field: str, check: Any) -> None:
        try:
            check()
        except ValidationError as exc:
            found = exc.message_dict if hasattr(exc, "error_dict") else {field: exc.messages}
            for name, messages in found.items():
                errors.setdefault(name, []).extend(messages)

    collect("number", lambda: version_number_validator(number))
    collect("license", lambda: spdx_normalize(license))
    collect("metadata", lambda: _check_declared(artifact.kind, metadata, readme, compute))
    collect("lineage", lambda: edges.extend(_resolve_lineage(actor, lineage or [])))
    if release_target not in ReleaseTarget.values:
        errors["release_target"] = [f"must be one of {ReleaseTarget.values}"]
    elif release_at is not None and release_target != ReleaseTarget.HUB:
        errors["release_at"] = ["a release date (embargo) is for versions published to the Hub (release_target 'hub')"]
    if errors:
        raise ValidationError(errors)

    version = Version(
        artifact=artifact,
        number=number,
        license=spdx_normalize(license),
        metadata=metadata,
        readme=readme,
        compute=compute.as_json(),
        release_target=release_target,
        release_at=release_at,
        created_by=actor.user,
    )
    try:
        with transaction.atomic():
            version.save()
    except IntegrityError:
        return _existing_or_conflict(artifact=artifact, wanted=version, edges=edges), False
    for edge in edges:
        edge.child = version
    LineageEdge.objects.bulk_create(edges)
    audit_record(
        actor=actor,
        action="version.created",
        target=version,
        organization=artifact.organization,
        data={"artifact": str(artifact), "number": number, "license": version.license, "lineage": len(edges)},
    )
    return version, True


def _edge_key(edge: LineageEdge) -> tuple[object, ...]:
    return (edge.relation, edge.parent_id, edge.external_repo, edge.external_revision, edge.external_license)


def _existing_or_conflict(*, artifact: Artifact, wanted: Version, edges: list[LineageEdge]) -> Version:
    """Pushing the same version again returns it; the same number declared otherwise is a conflict
    naming what differs (a fix is a new version)."""
    existing = Version.objects.get(artifact=artifact, number=wanted.number)
    if existing.state == Version.State.DELETED:
        raise Conflict(f"version {wanted.number} of '{artifact}' was deleted; numbers are not reused", field="number")
    fields = ("license", "metadata", "readme", "compute", "release_target", "release_at")
    differing = [name for name in fields if getattr(existing, name) != getattr(wanted, name)]
    if sorted(map(_edge_key, existing.parent_edges.filter(measured=False))) != sorted(map(_edge_key, edges)):
        differing.append("lineage")
    if differing:
        raise Conflict(
            f"version {wanted.number} of '{artifact}' exists ({existing.state}) with another "
            f"{', '.join(differing)}; a fix is a new version",
            field="number",
        )
    return existing


@transaction.atomic(durable=True)
def version_delete(*, actor: Actor, version: Version) -> Version:
    """Delete a draft (kept as a `deleted` row so its number and audit trail stay)."""
    actor.require(version.artifact.organization, Capability.PUSH)
    version.transition(Version.State.DELETED)
    digests = set(version.files.values_list("sha256", flat=True))
    version.files.all().delete()  # its blobs, now unreferenced, are swept after the grace period
    aborted = uploads_release(organization_id=version.artifact.organization_id, digests=digests)
    audit_record(
        actor=actor,
        action="version.deleted",
        target=version,
        organization=version.artifact.organization,
        data={"uploads_aborted": aborted},
    )
    return version
