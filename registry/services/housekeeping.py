"""Storage housekeeping: nothing a failed or abandoned push leaves behind survives in S3.

Rows are the record: an Upload row for every S3 multipart upload the registry may finish, a Blob
row for every object a file may point at. The sweep removes what has no row (or a stale one):
idle uploads, S3 uploads whose row never committed, unreferenced blobs after a grace period, and
objects under an org's prefix that no row knows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import partial

import structlog
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from registry import storage
from registry.models import Blob, Upload, Version, VersionFile

log = structlog.get_logger(__name__)


def uploads_release(*, organization_id: int, digests: set[str]) -> int:
    """In the caller's transaction: drop the uploads of `digests` that no live draft of the org
    still declares, aborting them in S3 once the transaction commits (the sweep retries a failure)."""
    still_declared = VersionFile.objects.filter(
        version__artifact__organization_id=organization_id,
        version__state=Version.State.DRAFT,
        sha256=OuterRef("sha256"),
        blob__isnull=True,
    )
    released = list(
        Upload.objects.filter(organization_id=organization_id, sha256__in=digests)
        .exclude(Exists(still_declared))
        .values_list("pk", "organization_id", "sha256", "s3_upload_id")
    )
    Upload.objects.filter(pk__in=[pk for pk, *_ in released]).delete()
    for _, org_id, sha256, s3_upload_id in released:
        key = storage.safe_key(org_id=org_id, sha256=sha256)
        transaction.on_commit(partial(abort_quietly, key, s3_upload_id))
    return len(released)


def _delete_quietly(key: str) -> None:
    try:
        storage.object_delete(key)
    except Exception as exc:  # the next pass deletes the rowless object
        log.warning("object.delete_failed", key=key, error=str(exc))


def abort_quietly(key: str, s3_upload_id: str) -> None:
    try:
        storage.multipart_abort(key, s3_upload_id)
    except Exception as exc:  # the sweep finds rowless uploads and retries
        log.warning("upload.abort_failed", key=key, error=str(exc))


@dataclass
class SweepReport:
    uploads_aborted: int = 0
    strays_aborted: int = 0
    blobs_deleted: int = 0
    objects_deleted: int = 0


def storage_sweep(*, now: datetime | None = None) -> SweepReport:
    """One pass of the janitor. Safe to run twice or concurrently: every step rechecks its rows."""
    now = now or timezone.now()
    report = SweepReport()
    # What has a row when the pass starts is not a stray, even if a step below drops the row.
    known = set(Upload.objects.values_list("s3_upload_id", flat=True))
    known_keys = {b.key for b in Blob.objects.only("organization_id", "sha256")}
    known_keys |= {u.key for u in Upload.objects.only("organization_id", "sha256")}
    for upload in Upload.objects.filter(touched_at__lt=now - settings.UPLOAD_IDLE_TTL):
        with transaction.atomic():
            if Upload.objects.filter(pk=upload.pk, touched_at=upload.touched_at).delete()[0]:
                transaction.on_commit(partial(abort_quietly, upload.key, upload.s3_upload_id))
                report.uploads_aborted += 1

    for key, s3_upload_id, started in storage.multipart_uploads(prefix="orgs/"):
        if s3_upload_id not in known and started < now - settings.UPLOAD_IDLE_TTL:
            abort_quietly(key, s3_upload_id)
            report.strays_aborted += 1

    unreferenced = Blob.objects.filter(created_at__lt=now - settings.BLOB_GRACE).exclude(
        Exists(VersionFile.objects.filter(blob=OuterRef("pk")))
    )
    for blob in unreferenced:
        with transaction.atomic():
            # Locked, then checked again: a push linking this blob right now either committed first
            # (the blob is referenced and stays) or waits and finds it gone (its bytes upload again).
            locked = Blob.objects.select_for_update(skip_locked=True).filter(pk=blob.pk).first()
            if locked is None or VersionFile.objects.filter(blob=locked).exists():
                continue
            locked.delete()
            transaction.on_commit(partial(_delete_quietly, blob.key))
            report.blobs_deleted += 1

    for key, modified in storage.objects(prefix="orgs/"):
        if key not in known_keys and modified < now - settings.UPLOAD_IDLE_TTL:
            storage.object_delete(key)
            report.objects_deleted += 1
    log.info("storage.swept", **report.__dict__)
    return report
