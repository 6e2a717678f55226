"""The storage sweep and draft deletion against the real SeaweedFS: nothing a failed or abandoned
push leaves behind survives, and nothing still in use is touched."""

from __future__ import annotations

import hashlib
import os
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from registry import storage
from registry.models import Blob, Upload, VersionFile
from registry.services.housekeeping import storage_sweep
from registry.services.uploads import FileIn, files_declare, uploads_ensure
from registry.services.versions import version_delete
from tests.conftest import Member
from tests.factories import ArtifactFactory, VersionFactory

pytestmark = pytest.mark.django_db
LATER = timedelta(days=30)


def _declare(alice: Member, data: bytes, path: str = "f.bin"):
    version = VersionFactory(artifact=ArtifactFactory(organization=alice.organization))
    files_declare(
        actor=alice.actor,
        version=version,
        files=[FileIn(path=path, size=len(data), sha256=hashlib.sha256(data).hexdigest())],
    )
    return version, uploads_ensure(actor=alice.actor, version=version)


def _s3_uploads() -> set[str]:
    return {upload_id for _, upload_id, _ in storage.multipart_uploads(prefix="orgs/")}


def _keys() -> set[str]:
    return {key for key, _ in storage.objects(prefix="orgs/")}


def test_deleting_a_draft_aborts_its_uploads_but_not_those_another_draft_needs(
    alice: Member, s3_bucket: str, django_capture_on_commit_callbacks
) -> None:
    mine, shared = os.urandom(100), os.urandom(100)
    draft, _ = _declare(alice, mine)
    _declare(alice, shared)  # another draft that still needs the shared bytes
    files_declare(
        actor=alice.actor,
        version=draft,
        files=[
            FileIn(path="mine", size=100, sha256=hashlib.sha256(mine).hexdigest()),
            FileIn(path="shared", size=100, sha256=hashlib.sha256(shared).hexdigest()),
        ],
    )
    uploads = uploads_ensure(actor=alice.actor, version=draft)
    with django_capture_on_commit_callbacks(execute=True):
        version_delete(actor=alice.actor, version=draft)
    assert list(Upload.objects.values_list("sha256", flat=True)) == [hashlib.sha256(shared).hexdigest()]
    assert _s3_uploads() == {uploads[hashlib.sha256(shared).hexdigest()].s3_upload_id}
    assert not VersionFile.objects.filter(version=draft).exists()


def test_the_sweep_aborts_idle_uploads_and_strays_only_after_the_ttl(
    alice: Member, s3_bucket: str, django_capture_on_commit_callbacks
) -> None:
    _declare(alice, os.urandom(10))
    stray_key = storage.safe_key(org_id=alice.organization.pk, sha256="cd" * 32)
    stray = storage.multipart_start(stray_key)  # its row never committed
    with django_capture_on_commit_callbacks(execute=True):
        assert storage_sweep().uploads_aborted == 0  # the control: nothing is idle yet
    assert Upload.objects.count() == 1
    assert stray in _s3_uploads()
    with django_capture_on_commit_callbacks(execute=True):
        report = storage_sweep(now=timezone.now() + LATER)
    assert (report.uploads_aborted, report.strays_aborted) == (1, 1)
    assert Upload.objects.count() == 0
    assert _s3_uploads() == set()


def test_the_sweep_deletes_unreferenced_blobs_after_the_grace_and_keeps_used_ones(
    alice: Member, s3_bucket: str, django_capture_on_commit_callbacks
) -> None:
    used, unused = os.urandom(50), os.urandom(50)
    for data in (used, unused):
        digest = hashlib.sha256(data).hexdigest()
        blob = Blob.objects.create(organization=alice.organization, sha256=digest, size=len(data))
        storage.s3().put_object(Bucket=settings.S3_BUCKET, Key=blob.key, Body=data)
    version, _ = _declare(alice, used)
    assert version.files.get().blob is not None  # linked at declaration: no upload needed
    orphan = storage.safe_key(org_id=alice.organization.pk, sha256="ef" * 32)
    storage.s3().put_object(Bucket=settings.S3_BUCKET, Key=orphan, Body=b"left by a crash")
    with django_capture_on_commit_callbacks(execute=True):
        assert storage_sweep().blobs_deleted == 0
    with django_capture_on_commit_callbacks(execute=True):
        report = storage_sweep(now=timezone.now() + settings.BLOB_GRACE + LATER)
    assert (report.blobs_deleted, report.objects_deleted) == (1, 1)
    assert list(Blob.objects.values_list("sha256", flat=True)) == [hashlib.sha256(used).hexdigest()]
    assert _keys() == {storage.safe_key(org_id=alice.organization.pk, sha256=hashlib.sha256(used).hexdigest())}
