"""Review by other member organizations: how many approvals each kind needs, and the decisions,
each bound to exactly what was reviewed (the manifest and the declared metadata)."""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from registry.models.artifacts import Kind, Version
from registry.models.organizations import Organization, User


class ReviewPolicy(models.Model):
    """Set by stewards per artifact kind; a kind without a row needs one approval."""

    DEFAULT_APPROVALS: ClassVar[int] = 1

    kind = models.CharField(max_length=24, choices=Kind.choices, unique=True)
    approvals_required = models.PositiveSmallIntegerField(
        default=DEFAULT_APPROVALS, validators=[MinValueValidator(1), MaxValueValidator(20)]
    )
    updated_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.kind}: {self.approvals_required} approval(s)"

    @classmethod
    def approvals_for(cls, kind: str) -> int:
        policy = cls.objects.filter(kind=kind).first()
        return policy.approvals_required if policy is not None else cls.DEFAULT_APPROVALS


class Review(models.Model):
    """One reviewer's decision on one version. An approval counts only while the version's manifest
    and declared metadata still have the digests it was given on."""

    class Decision(models.TextChoices):
        APPROVE = "approve"
        REQUEST_CHANGES = "request_changes"
        REJECT = "reject"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    version = models.ForeignKey(Version, on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey(User, on_delete=models.PROTECT, related_name="reviews")
    # The member org the reviewer reviewed for (never the version's own).
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=16, choices=Decision.choices)
    comment = models.TextField(blank=True)
    manifest_sha256 = models.CharField(max_length=64)
    metadata_sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["version", "reviewer"], name="review_once_per_reviewer"),
        ]

    def __str__(self) -> str:
        return f"{self.reviewer_id} {self.decision} {self.version_id}"
