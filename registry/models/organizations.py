"""Organizations (member labs), people, their memberships and API tokens."""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.contrib.auth.models import AbstractUser
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone
from django_countries.fields import CountryField

from registry.permissions import Role
from registry.querysets import ApiTokenQuerySet, MembershipQuerySet, OrganizationQuerySet

SLUG_RE = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?\Z"
slug_validator = RegexValidator(
    SLUG_RE, "use 1-64 lowercase letters, digits and inner hyphens (like 'open-lab')", code="invalid_slug"
)
hub_namespace_validator = RegexValidator(
    r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?\Z",
    "a Hub namespace is 1-96 letters, digits, '.', '_' or '-', starting and ending with a letter or digit",
    code="invalid_namespace",
)


class User(AbstractUser):
    """A person. Consortium-wide roles sit on the user; org roles sit on Membership."""

    is_reviewer = models.BooleanField(default=False, help_text="Reviews other member orgs' versions.")
    is_steward = models.BooleanField(default=False, help_text="Sees everything; may override, withdraw, re-run.")


class Organization(models.Model):
    """A member lab of the consortium."""

    name = models.CharField(max_length=200)
    slug = models.CharField(max_length=64, unique=True, validators=[slug_validator])
    country = CountryField(help_text="Country of origin (ISO 3166-1 alpha-2).")
    hub_namespace = models.CharField(max_length=96, unique=True, validators=[hub_namespace_validator])
    storage_quota_bytes = models.BigIntegerField(
        null=True, blank=True, help_text="Bytes this org may store; empty means the deployment's default."
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = OrganizationQuerySet.as_manager()

    def __str__(self) -> str:
        return self.slug


class Membership(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(default=timezone.now)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["user", "organization"], name="membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.role})"


class ApiToken(models.Model):
    """A scoped, expiring credential of one org. Only a SHA-256 digest of the secret is stored."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="tokens")
    created_by = models.ForeignKey(User, on_delete=models.CASCADE, related_name="tokens")
    name = models.CharField(max_length=100)
    scopes = models.JSONField(default=list)
    lookup = models.CharField(max_length=8, db_index=True, help_text="First characters of the secret, to find it.")
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    # Filled by token_authenticate's query: the creator's role in this org now, and reviewer flag.
    creator_role: str | None
    creator_is_reviewer: bool
    creator_is_active: bool

    def __str__(self) -> str:
        return f"{self.name} ({self.organization}, ocr_{self.lookup}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()
