"""Artifacts, their immutable versions (with the lifecycle state machine), files and lineage."""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.core.validators import RegexValidator
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from registry.errors import InvalidTransition, StaleState
from registry.models.organizations import Organization, User, slug_validator
from registry.querysets import ArtifactQuerySet, VersionQuerySet

version_number_validator = RegexValidator(
    r"^(0|[1-9][0-9]{0,8})(\.(0|[1-9][0-9]{0,8})){0,2}(-[0-9A-Za-z]+(\.[0-9A-Za-z]+)*)?\Z",
    "a version number is semver-like: 1, 1.2, 1.2.3 or 1.2.3-rc.1",
    code="invalid_version_number",
)


class Kind(models.TextChoices):
    PRETRAINING_RECIPE = "pretraining_recipe"
    POSTTRAINING_RECIPE = "posttraining_recipe"
    RL_ENVIRONMENT = "rl_environment"
    DATASET = "dataset"
    EVAL_SUITE = "eval_suite"
    CHECKPOINT = "checkpoint"
    ADAPTER = "adapter"


class Sharing(models.TextChoices):
    ORG = "org"  # its own org only (until published)
    CONSORTIUM = "consortium"  # every member org, from `submitted` on


class ReleaseTarget(models.TextChoices):
    HUB = "hub"  # published to the Hub after approval
    CONSORTIUM = "consortium"  # approval is the end state


class Artifact(models.Model):
    """A named line of work of one kind, owned by one org."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="artifacts")
    slug = models.CharField(max_length=64, validators=[slug_validator])
    kind = models.CharField(max_length=24, choices=Kind.choices)
    sharing = models.CharField(max_length=16, choices=Sharing.choices, default=Sharing.ORG)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    # Withdrawn as a whole: its Hub repo is private and nothing of it is published again.
    withdrawn_at = models.DateTimeField(null=True, blank=True)

    objects = ArtifactQuerySet.as_manager()

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["organization", "slug"], name="artifact_slug_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.organization_id and self.organization.slug}/{self.slug}"


class Version(models.Model):
    """A release of an artifact. After `finalize` its files never change; a fix is a new version."""

    class State(models.TextChoices):
        DRAFT = "draft"
        DELETED = "deleted"
        SUBMITTED = "submitted"
        CHECKING = "checking"
        CHANGES_REQUESTED = "changes_requested"
        IN_REVIEW = "in_review"
        APPROVED = "approved"
        REJECTED = "rejected"
        PUBLISHING = "publishing"
        PUBLISHED = "published"
        WITHDRAWN = "withdrawn"

    # DESIGN.md's lifecycle. Anything not listed is refused.
    TRANSITIONS: ClassVar[dict[str, frozenset[str]]] = {
        State.DRAFT: frozenset({State.SUBMITTED, State.DELETED}),
        State.SUBMITTED: frozenset({State.CHECKING}),
        State.CHECKING: frozenset({State.IN_REVIEW, State.CHANGES_REQUESTED}),
        # changes_requested → in_review only through a steward's waiver.
        State.CHANGES_REQUESTED: frozenset({State.IN_REVIEW}),
        State.IN_REVIEW: frozenset({State.APPROVED, State.CHANGES_REQUESTED, State.REJECTED}),
        State.APPROVED: frozenset({State.PUBLISHING}),
        # A failed publication returns to approved with its reason kept.
        State.PUBLISHING: frozenset({State.PUBLISHED, State.APPROVED}),
        State.PUBLISHED: frozenset({State.WITHDRAWN}),
    }

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # Indexed by version_facets (and version_number_unique), both led by the artifact.
    artifact = models.ForeignKey(Artifact, on_delete=models.PROTECT, related_name="versions", db_index=False)
    number = models.CharField(max_length=64, validators=[version_number_validator])
    state = models.CharField(max_length=24, choices=State.choices, default=State.DRAFT, db_index=True)
    state_changed_at = models.DateTimeField(default=timezone.now, db_index=True)
    metadata = models.JSONField(default=dict, blank=True, help_text="Declared metadata (free-form object).")
    readme = models.TextField(blank=True, help_text="Authored README: intended use, limitations.")
    license = models.CharField(max_length=500, help_text="Declared SPDX license expression.")
    compute = models.JSONField(default=dict, blank=True, help_text="Declared compute (GPU-hours, FLOPs, hardware).")
    release_target = models.CharField(max_length=16, choices=ReleaseTarget.choices, default=ReleaseTarget.HUB)
    # Embargo: an approved `hub` version is published no earlier than this.
    release_at = models.DateTimeField(null=True, blank=True, help_text="Publish no earlier than this (embargo).")
    manifest_sha256 = models.CharField(max_length=64, blank=True)
    # Extracted by the metadata step from the files (not declared, not part of what is approved);
    # the portal's architecture and parameter-range facets filter on them.
    architecture = models.CharField(max_length=100, blank=True, db_index=True)
    parameters = models.BigIntegerField(null=True, blank=True, db_index=True)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    objects = VersionQuerySet.as_manager()

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["artifact", "number"], name="version_number_unique"),
        ]
        indexes: ClassVar = [
            models.Index(fields=["-state_changed_at", "-id"], name="version_recent"),
            # Everything visibility and the browse facets read of a version, so on Postgres they scan
            # this index alone (with a fresh visibility map) rather than the rows with their READMEs;
            # ordered by time within each artifact for "an artifact's latest version".
            models.Index(
                fields=["artifact", "state_changed_at"],
                include=["id", "state", "license", "architecture", "parameters"],
                name="version_facets",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.artifact} v{self.number}"

    @property
    def organization(self) -> Organization:
        return self.artifact.organization

    @property
    def ref(self) -> str:
        """org/artifact@number: how members, the CLI and the evidence name a version."""
        return f"{self.artifact.organization.slug}/{self.artifact.slug}@{self.number}"

    def transition(self, to: str) -> None:
        """Move to `to` or raise.

        The UPDATE matches only the state we read, so when two workers race,
        exactly one moves the version and the other gets StaleState. Entering or leaving review
        marks this version's own lineage edges in the same transaction (`child_in_review`), and
        the move is recorded as a `version.state_changed` event there too.
        """
        from registry.models.events import Event

        if to not in self.TRANSITIONS.get(self.state, frozenset()):
            raise InvalidTransition(f"version {self.number}: {self.state} → {to} is not allowed", field="state")
        now = timezone.now()
        with transaction.atomic():
            moved = Version.objects.filter(pk=self.pk, state=self.state).update(state=to, state_changed_at=now)
            if moved != 1:
                raise StaleState(f"version {self.number}: its state changed concurrently; reload it", field="state")
            if self.State.IN_REVIEW in (self.state, to):
                LineageEdge.objects.filter(child_id=self.pk).update(child_in_review=to == self.State.IN_REVIEW)
            Event.record(type=Event.Type.VERSION_STATE_CHANGED, version=self, payload={"from": self.state, "to": to})
        self.state, self.state_changed_at = to, now


class VersionFile(models.Model):
    """One file of a version's manifest. `path` is display metadata only, never a storage key."""

    version = models.ForeignKey(Version, on_delete=models.CASCADE, related_name="files")
    path = models.CharField(max_length=1024)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    # Set once the server has verified bytes with this digest: the file then counts as uploaded.
    blob = models.ForeignKey("registry.Blob", on_delete=models.PROTECT, null=True, blank=True, related_name="files")

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["version", "path"], name="version_file_path_unique"),
        ]

    def __str__(self) -> str:
        return self.path


class Relation(models.TextChoices):
    DERIVED_FROM = "derived_from"  # base checkpoint
    TRAINED_ON = "trained_on"  # datasets, RL environments
    PRODUCED_BY = "produced_by"  # recipe
    EVALUATED_WITH = "evaluated_with"  # eval suite


class HubRepoType(models.TextChoices):
    MODEL = "model"
    DATASET = "dataset"


class LineageEdge(models.Model):
    """child --relation--> parent: a registry version, or an external Hub repo pinned to a commit."""

    child = models.ForeignKey(Version, on_delete=models.CASCADE, related_name="parent_edges")
    relation = models.CharField(max_length=16, choices=Relation.choices)
    parent = models.ForeignKey(Version, on_delete=models.PROTECT, null=True, blank=True, related_name="child_edges")
    external_repo = models.CharField(max_length=200, blank=True, help_text="Hub repo id, like meta-llama/Llama-3.1-8B.")
    external_repo_type = models.CharField(max_length=8, choices=HubRepoType.choices, blank=True)
    external_revision = models.CharField(max_length=40, blank=True, help_text="The 40-hex commit it is pinned to.")
    external_license = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # Kept by the child's `transition`: true while the child is in review, so reviewers see the
    # parent to judge it (querysets.VersionQuerySet.visible_to). Each child writes only its own
    # edges, so concurrent moves never contend for a shared row.
    child_in_review = models.BooleanField(default=False, editable=False)
    # Recorded by the registry (the eval step's `evaluated_with`), not declared by the pusher: outside
    # what a review approves (registry.digests), so a measurement never invalidates an approval.
    measured = models.BooleanField(default=False, editable=False)

    class Meta:
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=(Q(parent__isnull=False) & Q(external_repo=""))
                | (Q(parent__isnull=True) & ~Q(external_repo="") & ~Q(external_revision="")),
                name="lineage_edge_one_target",
            ),
            models.UniqueConstraint(
                fields=["child", "relation", "parent"],
                condition=Q(parent__isnull=False),
                name="lineage_internal_unique",
            ),
            models.UniqueConstraint(
                fields=["child", "relation", "external_repo", "external_revision"],
                condition=Q(parent__isnull=True),
                name="lineage_external_unique",
            ),
        ]
        indexes: ClassVar = [
            models.Index(fields=["parent"], condition=Q(child_in_review=True), name="lineage_awaited"),
        ]

    def __str__(self) -> str:
        target = self.parent or f"hub:{self.external_repo}@{self.external_revision[:12]}"
        return f"{self.child} {self.relation} {target}"
