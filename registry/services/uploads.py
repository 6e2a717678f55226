"""Pushing a version's bytes: declare the manifest, upload missing blobs straight to S3 through
presigned multipart URLs, let the server verify each blob itself, then finalize.

Long S3 I/O (starting, completing and hashing uploads) runs outside database transactions; rows
are written only around it, so a crash at any point leaves nothing half-written: a blob row exists
only for bytes the server hashed, and an upload row only for an S3 upload it can finish or abort.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from botocore.exceptions import ClientError
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from jobs.pipeline import run_create
from registry import storage
from registry.actors import Actor
from registry.digests import manifest_digest
from registry.errors import Conflict, DigestMismatch, InvalidTransition, QuotaExceeded
from registry.models import Blob, Organization, Upload, Version, VersionFile
from registry.paths import check_manifest_paths
from registry.permissions import Capability
from registry.services.audit import audit_record
from registry.services.housekeeping import abort_quietly

_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class FileIn:
    path: str
    size: int
    sha256: str


def storage_used(organization_id: int) -> int:
    """Bytes an org holds: verified blobs plus uploads in flight."""
    blobs = Blob.objects.filter(organization_id=organization_id).aggregate(n=Sum("size"))["n"] or 0
    pending = Upload.objects.filter(organization_id=organization_id).aggregate(n=Sum("size"))["n"] or 0
    return blobs + pending


def _check_quota(organization: Organization, files: list[FileIn], stored: set[str]) -> None:
    pending = set(Upload.objects.filter(organization=organization).values_list("sha256", flat=True))
    new = {f.sha256: f.size for f in files if f.sha256 not in stored and f.sha256 not in pending}
    quota = organization.storage_quota_bytes
    quota = settings.ORG_STORAGE_QUOTA_BYTES if quota is None else quota
    used, needed = storage_used(organization.pk), sum(new.values())
    if used + needed > quota:
        gib = 1024**3
        raise QuotaExceeded(
            f"storage quota of '{organization.slug}' exceeded: {used / gib:.2f} GiB used + {needed / gib:.2f} GiB "
            f"new in this push > {quota / gib:.2f} GiB; delete drafts or ask a steward for more",
            field="files",
        )


def _check_files(files: list[FileIn]) -> None:
    problems = {f"files[{i}].path": [p] for i, p in check_manifest_paths([f.path for f in files]).items()}
    for i, f in enumerate(files):
        if not (isinstance(f.size, int) and 0 <= f.size <= storage.MAX_OBJECT):
            problems[f"files[{i}].size"] = [f"a file holds 0 to {storage.MAX_OBJECT} bytes"]
        if not _SHA256.fullmatch(f.sha256 or ""):
            problems[f"files[{i}].sha256"] = ["a sha256 is 64 lowercase hex characters"]
    sizes: dict[str, int] = {}
    for i, f in enumerate(files):
        if sizes.setdefault(f.sha256, f.size) != f.size:
            problems[f"files[{i}].size"] = [f"another file has the same sha256 with {sizes[f.sha256]} bytes"]
    if not files:
        problems["files"] = ["a version needs at least one file"]
    if problems:
        raise ValidationError(problems)


def _same_manifest_or_conflict(version: Version, files: list[FileIn]) -> list[VersionFile]:
    """A finalized version's files never change: the same manifest again is a no-op (a re-run
    push), anything else a conflict naming the files that differ."""
    current = {f.path: (f.size, f.sha256) for f in version.files.all()}
    wanted = {f.path: (f.size, f.sha256) for f in files}
    if current == wanted:
        return list(version.files.order_by("path"))
    differing = [f"{p} (other bytes)" for p in sorted(current.keys() & wanted.keys()) if current[p] != wanted[p]]
    differing += [f"{p} (not in {version.number})" for p in sorted(wanted.keys() - current.keys())]
    differing += [f"{p} (only in {version.number})" for p in sorted(current.keys() - wanted.keys())]
    shown = ", ".join(differing[:20]) + (f" and {len(differing) - 20} more" if len(differing) > 20 else "")
    raise InvalidTransition(
        f"version {version.number} is {version.state}: its files never change, a fix is a new version; "
        f"differs in {shown}",
        field="files",
    )


@transaction.atomic(durable=True)
def files_declare(*, actor: Actor, version: Version, files: list[FileIn]) -> list[VersionFile]:
    """Set a draft's manifest to `files` (declaring the same set again changes nothing). Files
    whose bytes the org already stores are linked at once: nothing to transfer."""
    actor.require(version.artifact.organization, Capability.PUSH)
    version = Version.objects.select_for_update().select_related("artifact__organization").get(pk=version.pk)
    if version.state != Version.State.DRAFT:
        return _same_manifest_or_conflict(version, files)
    _check_files(files)
    org_id = version.artifact.organization_id
    # Locked until this declaration commits, so the storage sweep (which skips locked rows) cannot
    # delete a blob this manifest is about to point at.
    stored = Blob.objects.select_for_update().filter(organization_id=org_id, sha256__in={f.sha256 for f in files})
    blobs = {b.sha256: b for b in stored}
    mismatched = {
        f"files[{i}].size": [f"the stored bytes with this sha256 are {blobs[f.sha256].size} bytes"]
        for i, f in enumerate(files)
        if f.sha256 in blobs and blobs[f.sha256].size != f.size
    }
    if mismatched:
        raise ValidationError(mismatched)
    _check_quota(version.artifact.organization, files, set(blobs))

    existing = {vf.path: vf for vf in version.files.all()}
    wanted = {f.path: f for f in files}
    VersionFile.objects.filter(version=version).exclude(path__in=list(wanted)).delete()
    for f in files:
        current = existing.get(f.path)
        if current is not None and (current.size, current.sha256) == (f.size, f.sha256):
            if current.blob_id is None and f.sha256 in blobs:
                current.blob = blobs[f.sha256]
                current.save(update_fields=["blob"])
            continue
        VersionFile.objects.update_or_create(
            version=version, path=f.path, defaults={"size": f.size, "sha256": f.sha256, "blob": blobs.get(f.sha256)}
        )
    audit_record(
        actor=actor,
        action="version.files_declared",
        target=version,
        organization=version.artifact.organization,
        data={"files": len(files), "bytes": sum(f.size for f in files)},
    )
    return list(version.files.order_by("path"))


def uploads_ensure(*, actor: Actor, version: Version) -> dict[str, Upload]:
    """An upload (sha256 → Upload) for every digest of the draft that is not stored yet; an
    upload already in flight for the same bytes is shared, not started again."""
    actor.require(version.artifact.organization, Capability.PUSH)
    org_id = version.artifact.organization_id
    missing = dict(version.files.filter(blob__isnull=True).values_list("sha256", "size"))
    uploads = {u.sha256: u for u in Upload.objects.filter(organization_id=org_id, sha256__in=list(missing))}
    for sha256, size in missing.items():
        if sha256 in uploads:
            if uploads[sha256].size != size:
                raise Conflict(
                    f"another push is uploading the bytes with sha256 {sha256} as {uploads[sha256].size} "
                    f"bytes, not {size}",
                    field="files",
                )
            continue
        key = storage.safe_key(org_id=org_id, sha256=sha256)
        s3_upload_id = storage.multipart_start(key)  # S3 first, then the row that lets us finish or abort it
        try:
            with transaction.atomic():
                uploads[sha256] = Upload.objects.create(
                    organization_id=org_id,
                    sha256=sha256,
                    size=size,
                    part_size=storage.part_size_for(size),
                    s3_upload_id=s3_upload_id,
                )
        except IntegrityError:  # another push of the same bytes started one meanwhile: use it
            storage.multipart_abort(key, s3_upload_id)
            existing = Upload.objects.filter(organization_id=org_id, sha256=sha256).first()
            if existing is None:  # ...and finished it already: the files are linked now
                continue
            uploads[sha256] = existing
    return uploads


def upload_part_urls(*, upload: Upload, parts: list[int] | None = None) -> dict[int, str]:
    """Presigned URLs for `parts`, or for every part S3 does not hold yet (a resume sends only those)."""
    if parts is None:
        held = storage.parts_uploaded(upload.key, upload.s3_upload_id)
        parts = [n for n in range(1, upload.part_count + 1) if n not in held]
    bad = [n for n in parts if not 1 <= n <= upload.part_count]
    if bad:
        raise ValidationError({"parts": [f"part numbers run from 1 to {upload.part_count}; not {bad}"]})
    Upload.objects.filter(pk=upload.pk).update(touched_at=timezone.now())
    # Each URL is signed for its part's exact length, so no part can hold more than was declared.
    sizes = {n: min(upload.part_size, upload.size - (n - 1) * upload.part_size) for n in parts}
    return storage.part_urls(upload.key, upload.s3_upload_id, sizes, expires=settings.UPLOAD_URL_TTL)


def upload_complete(*, actor: Actor, upload: Upload) -> Blob:
    """Assemble the parts, hash the stored bytes (the client's digest is a claim, this is the
    truth) and record the blob, linking every file of the org that declared these bytes."""
    actor.require(upload.organization, Capability.PUSH)
    # Activity: the sweep leaves an upload alone while it is being completed and verified.
    Upload.objects.filter(pk=upload.pk).update(touched_at=timezone.now())
    if Blob.objects.filter(organization_id=upload.organization_id, sha256=upload.sha256).exists():
        # Another push verified these bytes meanwhile. Never assemble onto (or delete) the key a
        # blob owns: drop this upload's parts and link the files to the stored bytes.
        abort_quietly(upload.key, upload.s3_upload_id)
        return _blob_record(actor=actor, upload=upload)
    try:
        held = storage.parts_uploaded(upload.key, upload.s3_upload_id)
    except ClientError as exc:
        if storage.error_code(exc) != "NoSuchUpload":
            raise
        held = None  # completed by an earlier call that died before recording the blob
    if held is not None:
        missing = [n for n in range(1, upload.part_count + 1) if n not in held]
        if missing:
            shown = ", ".join(map(str, missing[:20])) + (" …" if len(missing) > 20 else "")
            raise Conflict(
                f"parts missing: {shown} (of {upload.part_count}); upload them, then complete", field="parts"
            )
        try:
            storage.multipart_complete(upload.key, upload.s3_upload_id, held)
        except ClientError as exc:
            if storage.error_code(exc) != "NoSuchUpload":
                raise  # else a concurrent complete assembled it: verify what is there
    try:
        size, sha256 = storage.object_digest(upload.key)
    except ClientError as exc:
        if storage.error_code(exc) not in {"NoSuchKey", "404"}:
            raise
        Upload.objects.filter(pk=upload.pk).delete()
        raise Conflict("this upload was aborted before completion; declare the files again", field="upload") from None
    if (size, sha256) != (upload.size, upload.sha256):
        with transaction.atomic():
            # Delete the bytes only while no blob owns the key (checked under the upload's row lock).
            Upload.objects.select_for_update().filter(pk=upload.pk).delete()
            owned = Blob.objects.filter(organization_id=upload.organization_id, sha256=upload.sha256).exists()
        if not owned:
            storage.object_delete(upload.key)
        raise DigestMismatch(
            f"the uploaded bytes are {size} bytes with sha256 {sha256}, not the declared {upload.size} bytes with "
            f"sha256 {upload.sha256}; the file stays unverified: upload it again",
            field="sha256",
        )
    return _blob_record(actor=actor, upload=upload)


@transaction.atomic(durable=True)
def _blob_record(*, actor: Actor, upload: Upload) -> Blob:
    blob, _ = Blob.objects.get_or_create(
        organization_id=upload.organization_id, sha256=upload.sha256, defaults={"size": upload.size}
    )
    linked = VersionFile.objects.filter(
        version__artifact__organization_id=upload.organization_id,
        sha256=upload.sha256,
        size=upload.size,
        blob__isnull=True,
    ).update(blob=blob)
    Upload.objects.filter(pk=upload.pk).delete()
    audit_record(
        actor=actor,
        action="blob.verified",
        target=upload.organization,
        organization=upload.organization,
        data={"sha256": upload.sha256, "size": upload.size, "files_linked": linked},
    )
    return blob


@transaction.atomic(durable=True)
def version_finalize(*, actor: Actor, version: Version) -> Version:
    """Freeze a draft's files (all verified, manifest digest recorded), move it to `submitted` and
    create its check pipeline in the same transaction."""
    actor.require(version.artifact.organization, Capability.PUSH)
    version = Version.objects.select_for_update().select_related("artifact__organization").get(pk=version.pk)
    if version.state != Version.State.DRAFT:
        raise InvalidTransition(f"version {version.number} is {version.state}, not a draft", field="state")
    files = list(version.files.order_by("path"))
    if not files:
        raise ValidationError({"files": ["declare the version's files before finalizing"]})
    unverified = [f.path for f in files if f.blob_id is None]
    if unverified:
        raise ValidationError({"files": [f"{path}: upload not completed and verified" for path in unverified]})
    version.manifest_sha256 = manifest_digest(files)
    version.save(update_fields=["manifest_sha256"])
    version.transition(Version.State.SUBMITTED)
    run_create(version)  # its steps are sent after this transaction commits
    audit_record(
        actor=actor,
        action="version.finalized",
        target=version,
        organization=version.artifact.organization,
        data={"manifest_sha256": version.manifest_sha256, "files": len(files)},
    )
    return version
