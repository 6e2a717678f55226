"""The check pipeline's rows: a run per version and its steps. The database is the source of
truth for what must run and what happened; Celery only delivers `run_step(step_id)` messages."""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.db import models
from django.utils import timezone

from registry.models import Artifact, Kind, Organization, User, Version


class PipelineRun(models.Model):
    """The checks of one version, created in `finalize`'s transaction."""

    class Status(models.TextChoices):
        RUNNING = "running"  # some step is not finished
        PASSED = "passed"  # every step passed → in_review
        FAILED = "failed"  # every step finished, some failed → changes_requested
        ERRORED = "errored"  # some step exhausted its attempts; a steward may re-run it

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    version = models.OneToOneField(Version, on_delete=models.CASCADE, related_name="pipeline")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RUNNING, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"pipeline of {self.version_id} ({self.status})"


class Step(models.Model):
    """One check of a run. Claimed by a compare-and-swap on (status, lease) so one worker at a
    time runs it; its result is written only by the lease holder, so it is written once."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        PASSED = "passed"
        FAILED = "failed"  # the check found problems with the version (see `reasons`)
        ERRORED = "errored"  # infrastructure kept failing until the attempt cap
        SKIPPED = "skipped"  # a measurement not taken: `summary` says why (checks failed, size, no base)

    FINISHED: ClassVar[frozenset[str]] = frozenset({Status.PASSED, Status.FAILED, Status.ERRORED, Status.SKIPPED})

    run = models.ForeignKey(PipelineRun, on_delete=models.CASCADE, related_name="steps")
    name = models.CharField(max_length=32)
    # A gating check decides the version's way into review; a measurement (evals, probes) only
    # informs, and runs once the gating checks of its run have passed, alongside review.
    gating = models.BooleanField(default=True)
    queue = models.CharField(max_length=16, default="default")
    position = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    # Delivery: when the last message was sent, and when the step may next be tried (backoff).
    dispatched_at = models.DateTimeField(null=True, blank=True)
    not_before = models.DateTimeField(null=True, blank=True)
    # The lease of the worker running it: renewed by its heartbeat, taken over once expired.
    lease_token = models.UUIDField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    progress_done = models.BigIntegerField(default=0)
    progress_total = models.BigIntegerField(default=0)
    progress_unit = models.CharField(max_length=12, blank=True)
    summary = models.CharField(max_length=500, blank=True)
    details = models.JSONField(default=dict, blank=True, help_text="Evidence for reviewers.")
    reasons = models.JSONField(default=list, blank=True, help_text="Every problem found: path, code, message.")
    last_error = models.TextField(blank=True, help_text="The last infrastructure error, when retried.")

    class Meta:
        constraints: ClassVar = [models.UniqueConstraint(fields=["run", "name"], name="step_name_unique")]
        ordering: ClassVar = ["run", "position"]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class EvalResult(models.Model):
    """One score of a version on a task of an eval suite version, as lm-evaluation-harness reported it."""

    version = models.ForeignKey(Version, on_delete=models.CASCADE, related_name="eval_results")
    suite = models.ForeignKey(Version, on_delete=models.PROTECT, related_name="+", help_text="The eval suite version.")
    task = models.CharField(max_length=200)
    metric = models.CharField(max_length=100)
    filter = models.CharField(max_length=100)
    value = models.FloatField(null=True, blank=True, help_text="None when the harness reported no finite value.")
    stderr = models.FloatField(null=True, blank=True)
    samples = models.PositiveIntegerField(null=True, blank=True, help_text="Documents scored.")
    task_version = models.CharField(max_length=40, blank=True)
    harness_version = models.CharField(max_length=40)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["version", "suite", "task", "metric", "filter"], name="eval_result_unique")
        ]
        ordering: ClassVar = ["version", "suite", "task", "metric", "filter"]

    def __str__(self) -> str:
        return f"{self.task} {self.metric} = {self.value}"


class EvalSuiteDefault(models.Model):
    """A suite the stewards chose for every version of a kind: its newest approved or published
    version is run on each one (a pusher may name more in `metadata.eval_suites`)."""

    kind = models.CharField(max_length=24, choices=Kind.choices)
    suite = models.ForeignKey(Artifact, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints: ClassVar = [models.UniqueConstraint(fields=["kind", "suite"], name="eval_suite_default_unique")]
        ordering: ClassVar = ["kind", "suite"]

    def __str__(self) -> str:
        return f"{self.suite} for every {self.kind}"


class Publication(models.Model):
    """One approved `hub` version's way to the Hub: the repo, tag and commit it lands as, and
    the attempts. A worker holds it under a lease; whatever it did before dying is found again
    on the Hub through the marker in the commit message, so a version lands as one commit and
    one tag however often it is tried."""

    class Status(models.TextChoices):
        WAITING = "waiting"  # approved; waits for its release date or a worker
        RUNNING = "running"
        PUBLISHED = "published"  # committed, tagged and verified
        FAILED = "failed"  # the last attempt failed: the version is back to `approved`
        WITHDRAWN = "withdrawn"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    version = models.OneToOneField(Version, on_delete=models.CASCADE, related_name="publication")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.WAITING, db_index=True)
    repo_type = models.CharField(max_length=8)
    repo_id = models.CharField(max_length=200, help_text="namespace/name on the Hub.")
    tag = models.CharField(max_length=80)
    # The approval's digests at the time publication was planned: checked again before the commit.
    manifest_sha256 = models.CharField(max_length=64)
    metadata_sha256 = models.CharField(max_length=64)
    not_before = models.DateTimeField(null=True, blank=True, db_index=True, help_text="Release date or backoff.")
    attempts = models.PositiveIntegerField(default=0)
    lease_token = models.UUIDField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    commit_oid = models.CharField(max_length=40, blank=True)
    commit_url = models.URLField(max_length=500, blank=True)
    last_error = models.TextField(blank=True, help_text="Why the last attempt failed.")
    created_at = models.DateTimeField(default=timezone.now)
    published_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.repo_id}@{self.tag} ({self.status})"

    MARKER_PREFIX: ClassVar[str] = "Consortium-Version:"

    @property
    def marker(self) -> str:
        """The line in the commit message that recognises this version's commit on the Hub."""
        return f"{self.MARKER_PREFIX} {self.version.public_id}"


class RecipeFeatures(models.Model):
    """A recipe version's normalized experiment (`jobs.prior_art.normalize.Experiment.as_dict()`),
    written by the format check when the recipe passes it, so a prior-art search never reads S3."""

    version = models.OneToOneField(Version, on_delete=models.CASCADE, related_name="recipe_features")
    stage = models.CharField(max_length=16, db_index=True)
    parameters = models.BigIntegerField(null=True, blank=True, db_index=True)
    features = models.JSONField()
    # A few features again as columns, for the search's SQL prefilter (`jobs.prior_art.prefilter`):
    # numbers as natural logs, since similarity compares them by ratio. NULL: not given (or not filled).
    method = models.CharField(max_length=16, null=True, blank=True)
    family = models.CharField(max_length=100, null=True, blank=True)
    base_model = models.CharField(max_length=300, null=True, blank=True)
    optimizer = models.CharField(max_length=100, null=True, blank=True)
    schedule = models.CharField(max_length=100, null=True, blank=True)
    log_parameters = models.FloatField(null=True, blank=True)
    log_lr = models.FloatField(null=True, blank=True)
    log_total_tokens = models.FloatField(null=True, blank=True)
    # What the run cost (the compute ledger): the recipe's hardware.gpu_hours, and FLOPs as declared
    # in the version's compute or estimated as 6 * (active) parameters * tokens (`flops_estimated`).
    gpu_hours = models.FloatField(null=True, blank=True)
    flops = models.FloatField(null=True, blank=True)
    flops_estimated = models.BooleanField(default=False)
    # The recipe's `reuses`, resolved: other runs this one built on instead of re-running them.
    reuses = models.ManyToManyField(Version, related_name="reused_by", blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "recipe features"
        indexes: ClassVar = [
            # Holds all the prefilter reads: the parameter band is a range of it, and the bound is
            # computed from it before a row (and its JSON) is read.
            models.Index(
                fields=[
                    "stage",
                    "parameters",
                    "method",
                    "family",
                    "base_model",
                    "optimizer",
                    "schedule",
                    "log_parameters",
                    "log_lr",
                    "log_total_tokens",
                    "version",
                ],
                name="recipe_features_prefilter",
            )
        ]

    def __str__(self) -> str:
        return f"{self.stage} recipe of {self.version_id}"


class PriorArtMatch(models.Model):
    """A recipe the prior-art step found close to a pushed recipe, among those its org could see
    then. Readers are shown only the matches they can see themselves (`match` through visible_to)."""

    version = models.ForeignKey(Version, on_delete=models.CASCADE, related_name="prior_art_matches")
    match = models.ForeignKey(Version, on_delete=models.CASCADE, related_name="+")
    rank = models.PositiveSmallIntegerField()
    score = models.FloatField()
    near_duplicate = models.BooleanField(default=False)
    comparison = models.JSONField(default=dict, help_text="groups, differences and summary, as compared.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints: ClassVar = [models.UniqueConstraint(fields=["version", "match"], name="prior_art_match_unique")]
        ordering: ClassVar = ["version", "rank"]

    def __str__(self) -> str:
        return f"{self.version_id} ~ {self.match_id} ({self.score:.2f})"


class Acknowledgement(models.Model):
    """An org's statement that it will not re-run `source`, a run another member already made (a
    prior-art match): the compute ledger credits the source's compute to the org as avoided."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    source = models.ForeignKey(Version, on_delete=models.CASCADE, related_name="acknowledgements")
    # The org's own recipe the match was found for, when there is one (a local YAML has none).
    via = models.ForeignKey(Version, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    note = models.TextField(blank=True, max_length=2000)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["organization", "source"], name="acknowledgement_unique")
        ]
        ordering: ClassVar = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.organization_id} does not re-run {self.source_id}"
