"""Input (`*In`) and output (`*Out`) serializers, one pair per resource."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from jobs.checks import MEASURES
from jobs.measures.results import Measurements
from jobs.models import EvalResult, EvalSuiteDefault, PipelineRun, Publication, Step
from jobs.prior_art.evidence import SeenMatch
from jobs.scorecard import Scorecard
from registry.models import (
    ApiToken,
    Artifact,
    AuditEvent,
    Event,
    HubRepoType,
    Kind,
    LineageEdge,
    Membership,
    Organization,
    Relation,
    ReleaseTarget,
    Review,
    ReviewPolicy,
    Sharing,
    Version,
)
from registry.permissions import Role, Scope

STATES = Version.State.choices


def _strict(serializer: serializers.Serializer, data: Any) -> Any:
    """Refuse fields the serializer does not know, instead of silently ignoring a typo."""
    if isinstance(data, dict):
        unknown = sorted(set(data) - set(serializer.fields))
        if unknown:
            raise serializers.ValidationError({name: ["unknown field"] for name in unknown})
    return data


class StrictSerializer(serializers.Serializer):
    def to_internal_value(self, data: Any) -> Any:
        return super().to_internal_value(_strict(self, data))


# Organizations and people


class OrganizationOut(serializers.ModelSerializer):
    country = serializers.CharField(source="country.code")

    class Meta:
        model = Organization
        fields = ["slug", "name", "country", "hub_namespace", "created_at"]


class OrganizationIn(StrictSerializer):
    name = serializers.CharField(max_length=200)
    slug = serializers.CharField(max_length=64)
    country = serializers.CharField(max_length=2, help_text="ISO 3166-1 alpha-2 code, like FR")
    hub_namespace = serializers.CharField(max_length=96)
    owner = serializers.CharField(help_text="Username of the org's first owner.")


class MembershipOut(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username")
    organization = serializers.CharField(source="organization.slug")

    class Meta:
        model = Membership
        fields = ["username", "organization", "role", "created_at"]


class MembershipIn(StrictSerializer):
    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=Role.choices)


class MembershipRoleIn(StrictSerializer):
    role = serializers.ChoiceField(choices=Role.choices)


class TokenOut(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id")
    organization = serializers.CharField(source="organization.slug")
    created_by = serializers.CharField(source="created_by.username")
    prefix = serializers.SerializerMethodField()

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "name",
            "organization",
            "scopes",
            "prefix",
            "created_by",
            "created_at",
            "expires_at",
            "revoked_at",
            "last_used_at",
        ]

    def get_prefix(self, token: ApiToken) -> str:
        return f"ocr_{token.lookup}"


class TokenIssuedOut(TokenOut):
    secret = serializers.SerializerMethodField(help_text="The token. Shown this once; only its digest is stored.")

    class Meta(TokenOut.Meta):
        fields = [*TokenOut.Meta.fields, "secret"]

    def get_secret(self, token: ApiToken) -> str:
        return self.context["secret"]


class TokenIn(StrictSerializer):
    name = serializers.CharField(max_length=100)
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=Scope.choices), allow_empty=False)
    expires_at = serializers.DateTimeField(required=False)


class AuditEventOut(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_label")

    class Meta:
        model = AuditEvent
        fields = ["action", "actor", "target_type", "target_id", "data", "created_at"]


class ListParams(StrictSerializer):
    """The paging parameters every list takes; filters add theirs."""

    cursor = serializers.CharField(required=False, help_text="From the previous page's `next` link.")
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=200)


class AuditFilter(ListParams):
    action = serializers.CharField(required=False, help_text="Prefix of the action, like 'version.'")
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)


# Artifacts


class ArtifactRefOut(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id")
    organization = serializers.CharField(source="organization.slug")

    class Meta:
        model = Artifact
        fields = ["id", "organization", "slug", "kind", "sharing"]


class ArtifactOut(ArtifactRefOut):
    class Meta(ArtifactRefOut.Meta):
        fields = [*ArtifactRefOut.Meta.fields, "description", "withdrawn_at", "created_at"]


class ArtifactIn(StrictSerializer):
    organization = serializers.CharField(help_text="Slug of the owning org.")
    slug = serializers.CharField(max_length=64)
    kind = serializers.ChoiceField(choices=Kind.choices)
    sharing = serializers.ChoiceField(choices=Sharing.choices, default=Sharing.ORG)
    description = serializers.CharField(allow_blank=True, default="", max_length=20_000)


class ArtifactUpdateIn(StrictSerializer):
    sharing = serializers.ChoiceField(choices=Sharing.choices, required=False)
    description = serializers.CharField(allow_blank=True, required=False, max_length=20_000)


class ArtifactFilter(ListParams):
    kind = serializers.ChoiceField(choices=Kind.choices, required=False)
    org = serializers.CharField(required=False)
    slug = serializers.CharField(required=False)
    license = serializers.CharField(required=False)
    state = serializers.ChoiceField(choices=STATES, required=False)
    search = serializers.CharField(required=False, max_length=200)


# Versions and lineage


class PublicationOut(serializers.ModelSerializer):
    repo_url = serializers.SerializerMethodField(help_text="The Hub repo's page.")

    class Meta:
        model = Publication
        fields = [
            "status",
            "repo_type",
            "repo_id",
            "repo_url",
            "tag",
            "commit_oid",
            "commit_url",
            "not_before",
            "attempts",
            "last_error",
            "published_at",
        ]

    def get_repo_url(self, publication: Publication) -> str:
        from jobs.publication.hub import hub_web_url

        return hub_web_url(publication.repo_type, publication.repo_id)


class VersionOut(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id")
    artifact = ArtifactRefOut()
    created_by = serializers.CharField(source="created_by.username")
    checks = serializers.SerializerMethodField(help_text="The check pipeline's status; details at checks/.")
    publication = serializers.SerializerMethodField(help_text="Its way to the Hub, once approved for it.")

    class Meta:
        model = Version
        fields = [
            "id",
            "artifact",
            "number",
            "state",
            "state_changed_at",
            "license",
            "release_target",
            "release_at",
            "metadata",
            "readme",
            "compute",
            "manifest_sha256",
            "checks",
            "publication",
            "created_by",
            "created_at",
        ]

    def get_checks(self, version: Version) -> str | None:
        """running, passed, failed or errored; null before finalize."""
        run = getattr(version, "pipeline", None)
        return run.status if run is not None else None

    @extend_schema_field(PublicationOut(allow_null=True))
    def get_publication(self, version: Version) -> dict[str, Any] | None:
        publication = getattr(version, "publication", None)
        return PublicationOut(publication).data if publication is not None else None


class ComputeIn(StrictSerializer):
    gpu_hours = serializers.FloatField(required=False, min_value=0)
    flops = serializers.FloatField(required=False, min_value=0)
    hardware = serializers.CharField(required=False, allow_blank=True, max_length=200)
    notes = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class LineageItemIn(StrictSerializer):
    relation = serializers.ChoiceField(choices=Relation.choices)
    version = serializers.CharField(required=False, help_text="Id of a registry version.")
    hub_repo = serializers.CharField(required=False, help_text="External Hub repo id, like meta-llama/Llama-3.1-8B.")
    hub_repo_type = serializers.ChoiceField(choices=HubRepoType.choices, default=HubRepoType.MODEL)
    revision = serializers.CharField(required=False, help_text="The 40-hex commit the external repo is pinned to.")
    license = serializers.CharField(required=False, help_text="SPDX expression of the external repo's license.")


class VersionIn(StrictSerializer):
    artifact = serializers.UUIDField()
    number = serializers.CharField(max_length=64)
    license = serializers.CharField(max_length=500, help_text="SPDX expression, like 'Apache-2.0 OR MIT'.")
    metadata = serializers.JSONField(required=False, default=dict)
    readme = serializers.CharField(required=False, allow_blank=True, default="")
    compute = ComputeIn(required=False)
    release_target = serializers.ChoiceField(choices=ReleaseTarget.choices, default=ReleaseTarget.HUB)
    release_at = serializers.DateTimeField(
        required=False, allow_null=True, default=None, help_text="Embargo: a `hub` version publishes no earlier."
    )
    lineage = LineageItemIn(many=True, required=False, default=list)


class VersionFilter(ListParams):
    artifact = serializers.UUIDField(required=False)
    kind = serializers.ChoiceField(choices=Kind.choices, required=False)
    org = serializers.CharField(required=False)
    license = serializers.CharField(required=False)
    state = serializers.ChoiceField(choices=STATES, required=False)


class VersionRefOut(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id")
    artifact = serializers.SerializerMethodField()
    kind = serializers.CharField(source="artifact.kind")

    class Meta:
        model = Version
        fields = ["id", "artifact", "kind", "number", "state"]

    def get_artifact(self, version: Version) -> str:
        return f"{version.artifact.organization.slug}/{version.artifact.slug}"


# Events


class EventFilter(ListParams):
    type = serializers.ChoiceField(choices=Event.Type.choices, required=False)
    org = serializers.CharField(required=False, help_text="The slug of the version's organization.")
    since = serializers.DateTimeField(required=False, help_text="Only events at or after this time.")


class EventOut(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id")
    organization = serializers.CharField(source="organization.slug")
    version = VersionRefOut()
    payload = serializers.JSONField(
        help_text="What changed: `from`/`to` for a state change; for the others, the audited `action` and its "
        "public details (never a reviewer's comment or an infrastructure error)."
    )

    class Meta:
        model = Event
        fields = ["id", "type", "organization", "version", "payload", "created_at"]


class HubRefOut(serializers.ModelSerializer):
    repo = serializers.CharField(source="external_repo")
    repo_type = serializers.CharField(source="external_repo_type")
    revision = serializers.CharField(source="external_revision")
    license = serializers.CharField(source="external_license")

    class Meta:
        model = LineageEdge
        fields = ["repo", "repo_type", "revision", "license"]


class ParentEdgeOut(serializers.ModelSerializer):
    version = VersionRefOut(source="parent", allow_null=True)
    hub = serializers.SerializerMethodField()

    class Meta:
        model = LineageEdge
        fields = ["relation", "version", "hub"]

    def get_hub(self, edge: LineageEdge) -> dict[str, str] | None:
        return HubRefOut(edge).data if edge.parent_id is None else None


class ChildEdgeOut(serializers.ModelSerializer):
    version = VersionRefOut(source="child")

    class Meta:
        model = LineageEdge
        fields = ["relation", "version"]


class LineageOut(serializers.Serializer):
    version = VersionRefOut()
    parents = ParentEdgeOut(many=True)
    children = ChildEdgeOut(many=True)


class MeOut(serializers.Serializer):
    username = serializers.CharField()
    is_reviewer = serializers.BooleanField()
    is_steward = serializers.BooleanField()
    organizations = serializers.ListField(child=serializers.DictField())
    token = serializers.DictField(allow_null=True)


# Files and uploads


class FileIn(StrictSerializer):
    path = serializers.CharField(max_length=1024, trim_whitespace=False, help_text="Relative POSIX path.")
    size = serializers.IntegerField(min_value=0)
    sha256 = serializers.CharField(max_length=64, trim_whitespace=False)


class FilesIn(StrictSerializer):
    files = serializers.ListField(child=FileIn(), allow_empty=False, max_length=10_001)


class UploadRefOut(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    part_size = serializers.IntegerField()
    part_count = serializers.IntegerField()


class FileOut(serializers.Serializer):
    path = serializers.CharField()
    size = serializers.IntegerField()
    sha256 = serializers.CharField()
    status = serializers.ChoiceField(choices=["verified", "missing"], help_text="verified: the server holds the bytes.")
    upload = UploadRefOut(allow_null=True, help_text="Where to send the bytes of a missing file.")
    download_url = serializers.URLField(allow_null=True, help_text="A short-lived GET URL of a verified file.")


class PartsIn(StrictSerializer):
    parts = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        help_text="Part numbers; all parts S3 does not hold yet when left out.",
    )


class PartUrlOut(serializers.Serializer):
    number = serializers.IntegerField()
    url = serializers.URLField(help_text="PUT the part's bytes here; keep the ETag header of the answer.")


class PartsOut(serializers.Serializer):
    upload = UploadRefOut()
    parts = PartUrlOut(many=True)
    expires_in = serializers.IntegerField(help_text="Seconds the URLs stay valid.")


class BlobOut(serializers.Serializer):
    sha256 = serializers.CharField()
    size = serializers.IntegerField()
    status = serializers.CharField()


# The check pipeline


class ProgressOut(serializers.Serializer):
    done = serializers.IntegerField(source="progress_done")
    total = serializers.IntegerField(source="progress_total")
    unit = serializers.CharField(source="progress_unit")


class ReasonOut(serializers.Serializer):
    path = serializers.CharField(help_text="The file it concerns, empty for the version as a whole.")
    code = serializers.CharField()
    message = serializers.CharField()


class StepOut(serializers.ModelSerializer):
    gating = serializers.BooleanField(
        help_text="A gating check decides the way into review; a measurement (evals, probes) informs and never "
        "gates: it runs once the gating checks have passed, and `skipped` says why it was not taken."
    )
    progress = ProgressOut(source="*")
    duration = serializers.FloatField(allow_null=True, help_text="Seconds, once finished.")
    reasons = ReasonOut(many=True)
    details = serializers.JSONField(help_text="The evidence a reviewer reads.")
    last_error = serializers.CharField(help_text="The last infrastructure error: shown to the org and stewards only.")

    class Meta:
        model = Step
        fields = [
            "name",
            "gating",
            "queue",
            "status",
            "attempts",
            "progress",
            "summary",
            "reasons",
            "details",
            "last_error",
            "started_at",
            "finished_at",
            "duration",
        ]

    def to_representation(self, step: Step) -> dict[str, Any]:
        data = super().to_representation(step)
        if not self.context.get("internal"):
            data["last_error"] = ""  # storage endpoints and keys are not for every reader
        return data


class FailingReasonOut(ReasonOut):
    step = serializers.CharField()


class PipelineOut(serializers.Serializer):
    status = serializers.CharField(help_text="running, passed, failed or errored.")
    version_state = serializers.CharField(source="version.state")
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    reasons = serializers.SerializerMethodField(help_text="Every failing reason of every step.")
    steps = StepOut(many=True)

    @extend_schema_field(FailingReasonOut(many=True))
    def get_reasons(self, run: PipelineRun) -> list[dict[str, str]]:
        return [{"step": step.name, **reason} for step in run.steps.all() for reason in step.reasons]


class RerunIn(StrictSerializer):
    reason = serializers.CharField(max_length=2000, help_text="Why it is re-run; kept in the audit log.")


# Measurements: eval scores and probe figures, which inform and never gate


class EvalSuiteRefOut(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    name = serializers.SerializerMethodField(help_text="org/slug of the eval suite.")
    number = serializers.CharField()

    def get_name(self, suite: Version) -> str:
        return f"{suite.artifact.organization.slug}/{suite.artifact.slug}"


class EvalResultOut(serializers.ModelSerializer):
    suite = EvalSuiteRefOut(help_text="The eval suite version the task comes from.")

    class Meta:
        model = EvalResult
        fields = ["suite", "task", "metric", "filter", "value", "stderr", "samples", "task_version", "harness_version"]


class MeasurementOut(serializers.ModelSerializer):
    details = serializers.JSONField(help_text="The figures: see each measurement's documented shape.")

    class Meta:
        model = Step
        fields = ["status", "summary", "details", "finished_at"]


class DifferenceOut(serializers.Serializer):
    field = serializers.CharField(help_text="The recipe field, like `lr` or `data_mixture[hub:allenai/c4]`.")
    mine = serializers.JSONField(help_text="Its value in the searched recipe.")
    theirs = serializers.JSONField(help_text="Its value in the match.")
    text = serializers.CharField(help_text="In words: 'lr 3e-4 vs 1e-4'.")


class PriorArtEvidenceOut(serializers.Serializer):
    """A recipe version's stored prior-art match (jobs.prior_art.evidence.SeenMatch)."""

    id = serializers.UUIDField(source="version.public_id", help_text="The matching version.")
    name = serializers.CharField(help_text="org/artifact@number.")
    score = serializers.FloatField(help_text="Similarity in [0, 1]; 1 is the same experiment.")
    near_duplicate = serializers.BooleanField(help_text="Score at or above the threshold: this has been tried.")
    differences = DifferenceOut(many=True, help_text="What differs, costliest first.")
    summary = serializers.CharField(help_text="'same as org/run@1.0 except lr 3e-4 vs 1e-4, …'.")


class ScorecardEvidenceOut(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=["version", "step", "hub", "organization", "factor"],
        help_text="version: a registry version (ref: its id); step: this version's check or measurement (ref: its "
        "name); hub: a Hub repo (ref, revision); organization (ref: its slug); factor: another factor of the card.",
    )
    label = serializers.CharField()  # type: ignore[assignment]  # a field named like Field.label, as DRF allows
    ref = serializers.CharField()
    revision = serializers.CharField(required=False, help_text="The pinned commit of a Hub repo.")
    repo_type = serializers.CharField(required=False, help_text="A Hub repo's type: model or dataset.")


class ScorecardFactorOut(serializers.Serializer):
    title = serializers.CharField()
    status = serializers.ChoiceField(choices=["good", "fair", "poor", "missing"])
    headline = serializers.CharField()
    figures = serializers.JSONField(help_text="The factor's figures, as read from its evidence.")
    evidence = ScorecardEvidenceOut(many=True)
    missing = serializers.ListField(child=serializers.CharField(), help_text="Evidence that is missing, in words.")


class ScorecardOut(serializers.Serializer):
    """jobs.scorecard: computed for the caller from what it can see."""

    version = serializers.UUIDField()
    factors = serializers.DictField(
        child=ScorecardFactorOut(),
        help_text="performance, provenance, license, tooling, finetune, readiness (in that order).",
    )
    contamination = serializers.ListField(
        child=serializers.JSONField(),
        help_text="Scores whose suite and task a dataset or recipe upstream declared it overlaps "
        "(suite, task, metric, filter, declared_by, declared_suite, overlap).",
    )


class VersionDetailOut(VersionOut):
    """One version with what the registry measured of it (outside what was approved). Needs the
    `measurements` context (selectors.version_measurements): the lists carry none of this."""

    evals = serializers.SerializerMethodField(help_text="Every score, by suite version, task, metric and filter.")
    measurements = serializers.SerializerMethodField(
        help_text=f"By name ({', '.join(MEASURES)}): status (a `skipped` one's summary says why, like "
        "'not measured (size)'), summary, details and when it finished. Empty before the checks pass."
    )
    prior_art = serializers.SerializerMethodField(
        help_text="Recipes only (null for other kinds): the closest recipes its prior-art check found among "
        "those its organization could see, best first; only those you can see are listed."
    )
    scorecard = serializers.SerializerMethodField(
        help_text="Checkpoints and adapters (null for other kinds): the six-factor adoption scorecard, as "
        "GET scorecard/ gives it."
    )

    class Meta(VersionOut.Meta):
        fields = [*VersionOut.Meta.fields, "evals", "measurements", "prior_art", "scorecard"]

    @extend_schema_field(EvalResultOut(many=True))
    def get_evals(self, version: Version) -> Any:
        found: Measurements = self.context["measurements"]
        return EvalResultOut(found.evals, many=True).data

    @extend_schema_field(serializers.DictField(child=MeasurementOut()))
    def get_measurements(self, version: Version) -> dict[str, Any]:
        found: Measurements = self.context["measurements"]
        return {step.name: MeasurementOut(step).data for step in found.steps}

    @extend_schema_field(PriorArtEvidenceOut(many=True, allow_null=True))
    def get_prior_art(self, version: Version) -> Any:
        found: list[SeenMatch] | None = self.context.get("prior_art")
        return None if found is None else PriorArtEvidenceOut(found, many=True).data

    @extend_schema_field(ScorecardOut(allow_null=True))
    def get_scorecard(self, version: Version) -> Any:
        found: Scorecard | None = self.context.get("scorecard")
        return None if found is None else found.as_json()


class MeasuresRerunIn(StrictSerializer):
    step = serializers.ChoiceField(choices=list(MEASURES), help_text="The measurement to run again.")
    reason = serializers.CharField(max_length=2000, help_text="Why it is re-run; kept in each version's audit log.")
    suite = serializers.CharField(
        required=False, max_length=200, help_text="evals only: just the versions scored on this suite (org/slug)."
    )


class MeasuresRerunOut(serializers.Serializer):
    queued = serializers.IntegerField(help_text="Measurements queued again, one per version.")


class EvalSuiteDefaultOut(serializers.ModelSerializer):
    suite = serializers.SerializerMethodField(help_text="org/slug of the eval suite; its newest usable version runs.")

    class Meta:
        model = EvalSuiteDefault
        fields = ["id", "kind", "suite", "created_at"]

    def get_suite(self, default: EvalSuiteDefault) -> str:
        return f"{default.suite.organization.slug}/{default.suite.slug}"


class EvalSuiteDefaultIn(StrictSerializer):
    kind = serializers.ChoiceField(choices=Kind.choices, help_text="checkpoint or adapter.")
    suite = serializers.CharField(
        max_length=200, help_text="org/slug of an eval suite shared with the consortium or published."
    )


# Review


class ReviewOut(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id")
    reviewer = serializers.CharField(source="reviewer.username")
    organization = serializers.CharField(source="organization.slug", help_text="The org the reviewer reviews for.")
    current = serializers.SerializerMethodField(help_text="An approval still bound to what the version is now.")

    class Meta:
        model = Review
        fields = ["id", "reviewer", "organization", "decision", "comment", "current", "created_at"]

    def get_current(self, review: Review) -> bool:
        digests = self.context.get("digests")
        return digests == (review.manifest_sha256, review.metadata_sha256)


class ReviewsOut(serializers.Serializer):
    approvals = serializers.IntegerField(help_text="Approvals bound to the version as it is now.")
    approvals_required = serializers.IntegerField(help_text="Approvals its kind needs.")
    reviews = ReviewOut(many=True)


class ReviewIn(StrictSerializer):
    decision = serializers.ChoiceField(choices=Review.Decision.choices)
    comment = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=20_000, help_text="Required unless approving."
    )


class ReviewQueueItemOut(VersionOut):
    review = serializers.SerializerMethodField(
        help_text="approvals (current), approvals_required, and your own decision (mine)."
    )

    class Meta(VersionOut.Meta):
        fields = [*VersionOut.Meta.fields, "review"]

    @extend_schema_field(serializers.DictField())
    def get_review(self, version: Version) -> dict[str, Any]:
        from registry.services.reviews import review_summary

        required = self.context["policies"][version.artifact.kind]
        return review_summary(version, self.context.get("user"), required=required)


class ReviewQueueFilter(ListParams):
    kind = serializers.ChoiceField(choices=Kind.choices, required=False)
    org = serializers.CharField(required=False)
    reviewed = serializers.BooleanField(required=False, default=False, help_text="Include those you reviewed.")


class OverrideIn(StrictSerializer):
    action = serializers.ChoiceField(
        choices=[("approve", "approve without the quorum"), ("waive", "waive failed checks")]
    )
    reason = serializers.CharField(max_length=2000, help_text="Why; kept in the audit log.")


class ReviewPolicyOut(serializers.ModelSerializer):
    updated_by = serializers.CharField(source="updated_by.username", allow_null=True, default=None)

    class Meta:
        model = ReviewPolicy
        fields = ["kind", "approvals_required", "updated_by", "updated_at"]


class ReviewPolicyIn(StrictSerializer):
    approvals_required = serializers.IntegerField(min_value=1, max_value=20)


class WithdrawIn(StrictSerializer):
    reason = serializers.CharField(max_length=2000, help_text="Why; kept in the audit log and shown on the card.")


# Prior art


class PriorArtIn(StrictSerializer):
    recipe = serializers.DictField(
        required=False, help_text="A recipe (recipe.yaml's mapping) to search for; or give `version`."
    )
    version = serializers.UUIDField(required=False, help_text="A visible recipe version to search for its prior art.")
    limit = serializers.IntegerField(default=10, min_value=1, max_value=100, help_text="At most this many matches.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("recipe" in attrs) == ("version" in attrs):
            raise serializers.ValidationError("give exactly one of `recipe` and `version`")
        return attrs


class PriorArtMatchOut(serializers.Serializer):
    version = VersionRefOut()
    name = serializers.CharField(help_text="org/artifact@number.")
    score = serializers.FloatField(help_text="Similarity in [0, 1]; 1 is the same experiment.")
    near_duplicate = serializers.BooleanField(help_text="Score at or above the threshold: this has been tried.")
    groups = serializers.DictField(child=serializers.FloatField(), help_text="The score of each group of fields.")
    differences = DifferenceOut(many=True, help_text="What differs, costliest first.")
    summary = serializers.CharField(help_text="'same as org/run@1.0 except lr 3e-4 vs 1e-4, …'.")


class PriorArtOut(serializers.Serializer):
    threshold = serializers.FloatField(help_text="The score at and above which a match is a near-duplicate.")
    matches = PriorArtMatchOut(many=True)
