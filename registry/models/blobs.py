"""Stored bytes: verified blobs of an org, addressed by sha256, and multipart uploads in flight."""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.db import models
from django.utils import timezone

from registry.models.organizations import Organization
from registry.querysets import UploadQuerySet
from registry.storage import part_count, safe_key


class Blob(models.Model):
    """Bytes the server has read back and hashed itself. Exists only after that verification, so a
    row means the object at `key` holds exactly `size` bytes with this `sha256`."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="blobs")
    sha256 = models.CharField(max_length=64)
    size = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["organization", "sha256"], name="blob_org_digest_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.organization_id}:{self.sha256[:12]}"

    @property
    def key(self) -> str:
        return safe_key(org_id=self.organization_id, sha256=self.sha256)


class Upload(models.Model):
    """An S3 multipart upload of one digest's bytes for an org; shared by every draft declaring
    them, and gone once the bytes are verified (or aborted by the janitor when idle)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="uploads")
    sha256 = models.CharField(max_length=64)
    size = models.BigIntegerField()
    part_size = models.BigIntegerField()
    s3_upload_id = models.CharField(max_length=1024)
    created_at = models.DateTimeField(default=timezone.now)
    touched_at = models.DateTimeField(default=timezone.now, db_index=True, help_text="Last client activity.")

    objects = UploadQuerySet.as_manager()

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["organization", "sha256"], name="upload_org_digest_unique"),
        ]

    def __str__(self) -> str:
        return f"upload {self.public_id} ({self.sha256[:12]}, {self.size} bytes)"

    @property
    def key(self) -> str:
        return safe_key(org_id=self.organization_id, sha256=self.sha256)

    @property
    def part_count(self) -> int:
        return part_count(self.size, self.part_size)
