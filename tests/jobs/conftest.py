"""Versions whose files really sit in S3 (SeaweedFS), and a way to run one check on them the way
the worker does, minus Celery."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings

from jobs import pipeline
from jobs.checks import check_for
from jobs.checks.base import CheckContext
from jobs.models import Step
from registry import storage
from registry.models import Artifact, Blob, Organization, Version, VersionFile
from tests import factories

StoredVersion = Callable[..., Version]


@pytest.fixture
def stored_version(s3_bucket: str, db: None) -> StoredVersion:
    """make(kind, {path: bytes}, organization=... or artifact=..., license=..., metadata=..., state=...)
    → a version whose files are verified blobs in the test bucket."""

    def make(
        kind: str,
        files: Mapping[str, bytes],
        *,
        organization: Organization | None = None,
        artifact: Artifact | None = None,
        license: str = "Apache-2.0",
        metadata: dict[str, Any] | None = None,
        state: str = Version.State.SUBMITTED,
        **version_fields: Any,
    ) -> Version:
        if artifact is None:
            artifact_fields: dict[str, Any] = {"kind": kind}
            if organization is not None:
                artifact_fields["organization"] = organization
            artifact = factories.ArtifactFactory(**artifact_fields)
        version = factories.VersionFactory(
            artifact=artifact, license=license, metadata=metadata or {}, state=state, **version_fields
        )
        for path, data in files.items():
            sha256 = hashlib.sha256(data).hexdigest()
            blob, _ = Blob.objects.get_or_create(
                organization=artifact.organization, sha256=sha256, defaults={"size": len(data)}
            )
            storage.s3().put_object(Bucket=settings.S3_BUCKET, Key=blob.key, Body=data)
            VersionFile.objects.create(version=version, path=path, size=len(data), sha256=sha256, blob=blob)
        return version

    return make


def run_check(name: str, version: Version) -> CheckContext:
    """One check over a stored version, as the worker runs it; returns its reasons and evidence."""
    ctx = CheckContext.for_version(Version.objects.select_related("artifact__organization").get(pk=version.pk))
    check_for(name)(ctx)
    return ctx


def files_written(directory: Path, files: Mapping[str, bytes]) -> Path:
    """`files` (name → bytes) written into the new directory `directory`."""
    directory.mkdir()
    for name, data in files.items():
        (directory / name).write_bytes(data)
    return directory


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's generated 2-layer Llama (safetensors, word-level tokenizer) on disk."""
    from registry.demo.files import checkpoint_files

    return files_written(tmp_path_factory.mktemp("models") / "checkpoint", checkpoint_files()[0])


def queued_messages(queue: str = "default") -> list[int]:
    """Step ids of the messages waiting in a Celery queue on the real Redis."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    return [json.loads(json.loads(raw)["headers"]["argsrepr"])[0] for raw in client.lrange(queue, 0, -1)]


@pytest.fixture(autouse=True)
def empty_queues() -> None:
    redis.Redis.from_url(settings.CELERY_BROKER_URL).delete("default", "gpu")


def drive(version: Version) -> Version:
    """Run every queued gating check in-process, as workers would, until none is left (the
    measurements they release are tests/jobs/test_measures.py's)."""
    for _ in range(20):
        queued = Step.objects.filter(run__version=version, status=Step.Status.QUEUED, gating=True)
        ids = list(queued.values_list("pk", flat=True))
        if not ids:
            break
        for step_id in ids:
            pipeline.step_execute(step_id)
    version.refresh_from_db()
    return version
