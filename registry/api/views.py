"""API v1 viewsets: thin adapters that parse, call one service or selector, and render."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotAuthenticated, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from jobs import pipeline
from jobs.models import EvalSuiteDefault, RecipeFeatures
from jobs.prior_art.evidence import RECIPE_KINDS, visible_matches
from jobs.prior_art.normalize import Experiment, InvalidRecipe, experiment_from
from jobs.prior_art.search import prior_art
from jobs.prior_art.similarity import NEAR_DUPLICATE
from jobs.publication.publish import publication_retry
from jobs.publication.withdraw import artifact_withdraw, version_withdraw
from jobs.scorecard import SCORED_KINDS, scorecard
from registry import selectors, storage
from registry.actors import Actor
from registry.api import serializers as s
from registry.api.permissions import MEMBER_READ, PUBLIC_QUERY, PUBLIC_READ, ActionPolicy, write
from registry.digests import version_digests
from registry.models import (
    ApiToken,
    Artifact,
    AuditEvent,
    Membership,
    Organization,
    Upload,
    User,
    Version,
    VersionFile,
)
from registry.permissions import Capability
from registry.services import artifacts, eval_defaults, organizations, reviews, tokens, uploads, versions
from registry.services.uploads import FileIn
from registry.services.versions import ComputeIn, LineageIn

UUID_RE = r"[0-9a-fA-F-]{32,36}"
PAGING_PARAMS = {"cursor", "page_size"}


def _validated(serializer_class: type[s.StrictSerializer], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class Base(viewsets.GenericViewSet):
    permission_classes = [ActionPolicy]
    filter_class: type[s.ListParams] | None = None
    _filters: dict[str, Any] | None = None

    @property
    def actor(self) -> Actor:
        return Actor.of(self.request)

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if self.action == "list":
            self.filters()  # unknown or malformed query parameters are refused on every list

    def filters(self) -> dict[str, Any]:
        """The list's query parameters, checked against its filter serializer (paging parameters
        alone when it has none); unknown ones are refused, not ignored."""
        if self._filters is None:
            params = self.request.query_params.dict()
            found = _validated(self.filter_class or s.ListParams, params) if params else {}
            self._filters = {k: v for k, v in found.items() if k not in PAGING_PARAMS}
        return self._filters


def organization_of(request: Request, slug: str) -> Organization:
    """A nested route's org, or 404 when the actor cannot see it."""
    return get_object_or_404(selectors.organization_list(actor=Actor.of(request)), slug=slug)


class OrgNested(Base):
    """A collection under /organizations/{org_slug}/; the org must be visible to the actor."""

    model: type[models.Model]

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request, no org
            return self.model._default_manager.none()
        return self.org_queryset(organization_of(self.request, self.kwargs["org_slug"]))

    def org_queryset(self, organization: Organization) -> QuerySet:
        raise NotImplementedError


class OrganizationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, Base):
    lookup_field = "slug"
    cursor_ordering = "slug"
    serializer_class = s.OrganizationOut
    action_policy = {"list": PUBLIC_READ, "retrieve": PUBLIC_READ, "create": write(None)}

    def get_queryset(self) -> QuerySet[Organization]:
        return selectors.organization_list(actor=self.actor)

    @extend_schema(request=s.OrganizationIn, responses={201: s.OrganizationOut})
    def create(self, request: Request) -> Response:
        """Onboard a member org with its first owner (stewards only)."""
        data = _validated(s.OrganizationIn, request.data)
        owner = User.objects.filter(username=data.pop("owner")).first()
        if owner is None:
            raise ValidationError({"owner": ["no such user"]})
        org = organizations.organization_create(actor=self.actor, owner=owner, **data)
        return Response(s.OrganizationOut(org).data, status=status.HTTP_201_CREATED)


class MembershipViewSet(mixins.ListModelMixin, OrgNested):
    """Members of one org: members see the list; owners add, change roles and remove."""

    lookup_field = "user__username"
    lookup_url_kwarg = "username"
    cursor_ordering = "id"
    serializer_class = s.MembershipOut
    action_policy = {
        "list": MEMBER_READ,
        "create": write(Capability.ADMIN),
        "partial_update": write(Capability.ADMIN),
        "destroy": write(Capability.ADMIN),
    }

    model = Membership

    def org_queryset(self, organization: Organization) -> QuerySet:
        return selectors.membership_list(actor=self.actor, organization=organization)

    @extend_schema(request=s.MembershipIn, responses={201: s.MembershipOut})
    def create(self, request: Request, org_slug: str) -> Response:
        org = organization_of(request, org_slug)
        data = _validated(s.MembershipIn, request.data)
        self.actor.require(org, Capability.ADMIN)
        user = User.objects.filter(username=data["username"]).first()
        if user is None:
            raise ValidationError({"username": ["no such user"]})
        membership = organizations.membership_add(actor=self.actor, organization=org, user=user, role=data["role"])
        return Response(s.MembershipOut(membership).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.MembershipRoleIn, responses={200: s.MembershipOut})
    def partial_update(self, request: Request, org_slug: str, username: str) -> Response:
        membership = self.get_object()
        data = _validated(s.MembershipRoleIn, request.data)
        membership = organizations.membership_change_role(actor=self.actor, membership=membership, role=data["role"])
        return Response(s.MembershipOut(membership).data)

    def destroy(self, request: Request, org_slug: str, username: str) -> Response:
        organizations.membership_remove(actor=self.actor, membership=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenViewSet(mixins.ListModelMixin, OrgNested):
    """API tokens of one org: issued from a signed-in session, shown once, revocable."""

    lookup_field = "public_id"
    lookup_url_kwarg = "token_id"
    lookup_value_regex = UUID_RE
    serializer_class = s.TokenOut
    action_policy = {"list": MEMBER_READ, "create": write(None), "destroy": write(None)}

    model = ApiToken

    def org_queryset(self, organization: Organization) -> QuerySet:
        return selectors.token_list(actor=self.actor, organization=organization)

    @extend_schema(request=s.TokenIn, responses={201: s.TokenIssuedOut})
    def create(self, request: Request, org_slug: str) -> Response:
        org = organization_of(request, org_slug)
        data = _validated(s.TokenIn, request.data)
        token, secret = tokens.token_issue(actor=self.actor, organization=org, **data)
        response = Response(s.TokenIssuedOut(token, context={"secret": secret}).data, status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"  # the secret is shown once: no cache, no idempotent replay
        return response

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, org_slug: str, token_id: str) -> Response:
        """Revoke the token; the next request with it is refused."""
        tokens.token_revoke(actor=self.actor, token=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class AuditEventViewSet(mixins.ListModelMixin, OrgNested):
    """An org's audit log, newest first (owners and maintainers)."""

    serializer_class = s.AuditEventOut
    filter_class = s.AuditFilter
    action_policy = {"list": MEMBER_READ}

    model = AuditEvent

    def org_queryset(self, organization: Organization) -> QuerySet:
        return selectors.audit_list(actor=self.actor, organization=organization, **self.filters())

    @extend_schema(parameters=[s.AuditFilter])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)


class EventViewSet(mixins.ListModelMixin, Base):
    """Events of the versions the actor sees, newest first: state changes, review decisions, steward
    actions, errored steps and publications."""

    serializer_class = s.EventOut
    filter_class = s.EventFilter
    action_policy = {"list": PUBLIC_READ}

    def get_queryset(self) -> QuerySet:
        return selectors.event_list(actor=self.actor, **self.filters())

    @extend_schema(parameters=[s.EventFilter])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)


class ArtifactViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, Base):
    lookup_field = "public_id"
    lookup_url_kwarg = "artifact_id"
    lookup_value_regex = UUID_RE
    serializer_class = s.ArtifactOut
    filter_class = s.ArtifactFilter
    action_policy = {
        "list": PUBLIC_READ,
        "retrieve": PUBLIC_READ,
        "create": write(Capability.PUSH),
        "partial_update": write(Capability.MANAGE),
        "withdraw": write(None),  # the org's owners or a steward: the service decides
    }

    def get_queryset(self) -> QuerySet[Artifact]:
        return selectors.artifact_list(actor=self.actor, **self.filters())

    @extend_schema(parameters=[s.ArtifactFilter])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=s.ArtifactIn, responses={201: s.ArtifactOut})
    def create(self, request: Request) -> Response:
        data = _validated(s.ArtifactIn, request.data)
        slug = data.pop("organization")
        org = selectors.organization_list(actor=self.actor).filter(slug=slug).first()
        if org is None:
            raise ValidationError({"organization": [f"'{slug}' not found"]})
        artifact = artifacts.artifact_create(actor=self.actor, organization=org, **data)
        return Response(s.ArtifactOut(artifact).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.ArtifactUpdateIn, responses={200: s.ArtifactOut})
    def partial_update(self, request: Request, artifact_id: str) -> Response:
        artifact = self.get_object()
        data = _validated(s.ArtifactUpdateIn, request.data)
        artifact = artifacts.artifact_update(actor=self.actor, artifact=artifact, **data)
        return Response(s.ArtifactOut(artifact).data)

    @extend_schema(request=s.WithdrawIn, responses={200: s.ArtifactOut})
    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, artifact_id: str) -> Response:
        """Withdraw the whole artifact (org owners, stewards): every published version loses its Hub
        tag, the Hub repo becomes private, and nothing of it is published again."""
        data = _validated(s.WithdrawIn, request.data)
        artifact = artifact_withdraw(actor=self.actor, artifact=self.get_object(), reason=data["reason"])
        return Response(s.ArtifactOut(artifact).data)


class VersionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, Base):
    lookup_field = "public_id"
    lookup_url_kwarg = "version_id"
    lookup_value_regex = UUID_RE
    serializer_class = s.VersionOut
    filter_class = s.VersionFilter
    action_policy = {
        "list": PUBLIC_READ,
        "retrieve": PUBLIC_READ,
        "lineage": PUBLIC_READ,
        "create": write(Capability.PUSH),
        "destroy": write(Capability.PUSH),
        "files": PUBLIC_READ,
        "declare_files": write(Capability.PUSH),
        "finalize": write(Capability.PUSH),
        "checks": PUBLIC_READ,
        "evals": PUBLIC_READ,
        "scorecard": PUBLIC_READ,
        "checks_rerun": MEMBER_READ,  # stewards only: the service refuses everyone else
        "reviews": MEMBER_READ,  # reviewers' names and comments are for the consortium, not the public
        "review": MEMBER_READ,  # reviewers of other orgs only: the service refuses everyone else
        "override": MEMBER_READ,  # stewards only: the service refuses everyone else
        "publish": write(None),  # the org's pushers or a steward: the service decides
        "withdraw": write(None),  # the org's owners or a steward: the service decides
    }

    def get_queryset(self) -> QuerySet[Version]:
        if self.action == "list":
            return selectors.version_list(actor=self.actor, **self.filters())
        return selectors.version_lookup(actor=self.actor)

    @extend_schema(parameters=[s.VersionFilter])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: s.VersionDetailOut})
    def retrieve(self, request: Request, version_id: str) -> Response:
        """The version, with its eval scores and measurements, and a recipe's prior art (the list
        leaves them out)."""
        version = self.get_object()
        found = selectors.version_measurements(actor=self.actor, version=version)
        matches = visible_matches(self.actor, version) if version.artifact.kind in RECIPE_KINDS else None
        card = (
            scorecard(actor=self.actor, version=version, measurements=found)
            if version.artifact.kind in SCORED_KINDS
            else None
        )
        context = {"measurements": found, "prior_art": matches, "scorecard": card}
        return Response(s.VersionDetailOut(version, context=context).data)

    @extend_schema(request=s.VersionIn, responses={201: s.VersionOut, 200: s.VersionOut})
    def create(self, request: Request) -> Response:
        """Create a draft version with its declared metadata and lineage. The same version pushed
        again answers 200 with the existing one; the same number declared otherwise is 409."""
        data = _validated(s.VersionIn, request.data)
        artifact = selectors.artifact_list(actor=self.actor).filter(public_id=data.pop("artifact")).first()
        if artifact is None:
            raise ValidationError({"artifact": ["not found"]})
        version, created = versions.version_create(
            actor=self.actor,
            artifact=artifact,
            number=data["number"],
            license=data["license"],
            metadata=data["metadata"],
            readme=data["readme"],
            compute=ComputeIn(**data.get("compute", {})),
            release_target=data["release_target"],
            release_at=data["release_at"],
            lineage=[LineageIn(**item) for item in data["lineage"]],
        )
        return Response(s.VersionOut(version).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(responses={200: s.FileOut(many=True)})
    @action(detail=True, methods=["get"])
    def files(self, request: Request, version_id: str) -> Response:
        """The version's manifest, each file verified or missing."""
        version = self.get_object()
        return Response(_files_out(self.actor, version, list(version.files.order_by("path"))))

    @extend_schema(request=s.FilesIn, responses={200: s.FileOut(many=True)})
    @files.mapping.post
    def declare_files(self, request: Request, version_id: str) -> Response:
        """Declare a draft's files (the whole manifest). Bytes the org already stores are linked at
        once; each missing file comes with the upload to send its bytes to."""
        version = self.get_object()
        data = _validated(s.FilesIn, request.data)
        files = uploads.files_declare(actor=self.actor, version=version, files=[FileIn(**f) for f in data["files"]])
        pending = uploads.uploads_ensure(actor=self.actor, version=version)
        return Response(_files_out(self.actor, version, files, pending))

    @extend_schema(request=None, responses={200: s.VersionOut})
    @action(detail=True, methods=["post"])
    def finalize(self, request: Request, version_id: str) -> Response:
        """Freeze the draft's verified files and submit it."""
        version = uploads.version_finalize(actor=self.actor, version=self.get_object())
        return Response(s.VersionOut(version).data)

    @extend_schema(responses={200: s.PipelineOut})
    @action(detail=True, methods=["get"])
    def checks(self, request: Request, version_id: str) -> Response:
        """The check pipeline: each step's status, progress while it runs, summary, every reason
        found and the evidence for reviewers. 404 for a draft (nothing is checked before finalize)."""
        version = self.get_object()
        run = selectors.pipeline_get(version=version)
        internal = self.actor.is_steward or self.actor.can(version.artifact.organization_id, Capability.READ)
        return Response(s.PipelineOut(run, context={"internal": internal}).data)

    @extend_schema(responses={200: s.EvalResultOut(many=True)})
    @action(detail=True, methods=["get"])
    def evals(self, request: Request, version_id: str) -> Response:
        """The version's eval scores, by suite version, task, metric and filter (the `evals`
        measurement's status and evidence are in checks/ and in the version's `measurements`)."""
        found = selectors.version_measurements(actor=self.actor, version=self.get_object())
        return Response(s.EvalResultOut(found.evals, many=True).data)

    @extend_schema(responses={200: s.ScorecardOut})
    @action(detail=True, methods=["get"])
    def scorecard(self, request: Request, version_id: str) -> Response:
        """The six-factor adoption scorecard of a checkpoint or adapter, computed from what the caller
        can see (404 for other kinds): each factor's status, headline, figures, evidence and what is
        missing; and the scores flagged by contamination declarations upstream."""
        version = self.get_object()
        if version.artifact.kind not in SCORED_KINDS:
            raise Http404(f"scorecards are for checkpoints and adapters, not for a {version.artifact.kind}")
        return Response(scorecard(actor=self.actor, version=version).as_json())

    @extend_schema(request=s.RerunIn, responses={200: s.StepOut})
    @action(detail=True, methods=["post"], url_path=r"checks/(?P<step_name>[a-z_]+)/rerun", url_name="checks-rerun")
    def checks_rerun(self, request: Request, version_id: str, step_name: str) -> Response:
        """Re-run an errored check, or a finished measurement of a version whose checks passed, from
        scratch (stewards; the reason is audited)."""
        data = _validated(s.RerunIn, request.data)
        step = selectors.step_get(version=self.get_object(), name=step_name)
        rerun = pipeline.step_rerun(actor=self.actor, step=step, reason=data["reason"])
        return Response(s.StepOut(rerun, context={"internal": True}).data)

    @extend_schema(responses={200: s.ReviewsOut})
    @action(detail=True, methods=["get"])
    def reviews(self, request: Request, version_id: str) -> Response:
        """The reviewers' decisions, and how many current approvals it has of how many its kind needs."""
        version = self.get_object()
        digests = version_digests(version)
        summary = reviews.review_summary(version, None, digests=digests)
        found = selectors.review_list(version=version)
        return Response(s.ReviewsOut({**summary, "reviews": found}, context={"digests": digests}).data)

    @extend_schema(request=s.ReviewIn, responses={201: s.ReviewOut})
    @reviews.mapping.post
    def review(self, request: Request, version_id: str) -> Response:
        """Decide as a reviewer of another member org: approve; request changes or reject, each with
        a comment. The kind's quorum of current approvals moves the version to `approved`."""
        data = _validated(s.ReviewIn, request.data)
        review = reviews.review_decide(actor=self.actor, version=self.get_object(), **data)
        digests = (review.manifest_sha256, review.metadata_sha256)
        return Response(s.ReviewOut(review, context={"digests": digests}).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.OverrideIn, responses={200: s.VersionOut})
    @action(detail=True, methods=["post"])
    def override(self, request: Request, version_id: str) -> Response:
        """A steward's override with a reason kept in the audit log: `approve` without the quorum
        (in_review → approved) or `waive` failed checks (changes_requested → in_review)."""
        data = _validated(s.OverrideIn, request.data)
        version = reviews.version_override(actor=self.actor, version=self.get_object(), **data)
        return Response(self._fresh(version))

    @extend_schema(request=None, responses={202: s.VersionOut})
    @action(detail=True, methods=["post"])
    def publish(self, request: Request, version_id: str) -> Response:
        """Try a failed publication again (after fixing what its reason names)."""
        version = self.get_object()
        publication_retry(actor=self.actor, version=version)
        return Response(self._fresh(version), status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=s.WithdrawIn, responses={200: s.VersionOut})
    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, version_id: str) -> Response:
        """Withdraw a published version (org owners, stewards): its Hub tag is deleted and, when it is
        the newest, the card says so. The registry keeps its files."""
        data = _validated(s.WithdrawIn, request.data)
        version = version_withdraw(actor=self.actor, version=self.get_object(), reason=data["reason"])
        return Response(self._fresh(version))

    def _fresh(self, version: Version) -> Any:
        return s.VersionOut(selectors.version_lookup(actor=self.actor).get(pk=version.pk)).data

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, version_id: str) -> Response:
        """Delete a draft."""
        versions.version_delete(actor=self.actor, version=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses={200: s.LineageOut})
    @action(detail=True, methods=["get"])
    def lineage(self, request: Request, version_id: str) -> Response:
        """What this version comes from and what visible versions come from it."""
        version = self.get_object()
        found = selectors.lineage_of(actor=self.actor, version=version)
        return Response(s.LineageOut({"version": version, "parents": found.parents, "children": found.children}).data)


class ReviewQueueViewSet(mixins.ListModelMixin, Base):
    """Versions of other member orgs awaiting your review, oldest first, with where each stands.
    Empty for anyone who is not a consortium reviewer (a token needs the `review` scope)."""

    serializer_class = s.ReviewQueueItemOut
    filter_class = s.ReviewQueueFilter
    cursor_ordering = "state_changed_at", "id"
    action_policy = {"list": MEMBER_READ}

    def get_queryset(self) -> QuerySet[Version]:
        return selectors.review_queue(actor=self.actor, **self.filters())

    def get_serializer_context(self) -> dict[str, Any]:
        policies = {p.kind: p.approvals_required for p in selectors.review_policy_list()}
        return {**super().get_serializer_context(), "user": self.actor.user, "policies": policies}

    @extend_schema(parameters=[s.ReviewQueueFilter])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)


class ReviewPolicyViewSet(mixins.ListModelMixin, Base):
    """How many approvals each artifact kind needs; stewards change it."""

    lookup_field = "kind"
    lookup_value_regex = "[a-z_]+"
    serializer_class = s.ReviewPolicyOut
    pagination_class = None
    action_policy = {"list": PUBLIC_READ, "update": MEMBER_READ}  # the service admits stewards only

    def get_queryset(self) -> Any:
        return selectors.review_policy_list()

    @extend_schema(request=s.ReviewPolicyIn, responses={200: s.ReviewPolicyOut})
    def update(self, request: Request, kind: str) -> Response:
        data = _validated(s.ReviewPolicyIn, request.data)
        policy = reviews.review_policy_set(actor=self.actor, kind=kind, **data)
        return Response(s.ReviewPolicyOut(policy).data)


class EvalSuiteDefaultViewSet(mixins.ListModelMixin, Base):
    """The eval suites the stewards chose for every checkpoint or adapter (its newest usable version
    runs on each); pushers may name more in `metadata.eval_suites`. Stewards add and remove them."""

    serializer_class = s.EvalSuiteDefaultOut
    pagination_class = None  # a handful: a few suites per kind
    lookup_value_regex = "[0-9]+"
    # Signed-in members read; the service admits stewards only to writes (never a token).
    action_policy = {"list": MEMBER_READ, "create": MEMBER_READ, "destroy": MEMBER_READ}

    def get_queryset(self) -> QuerySet[EvalSuiteDefault]:
        return selectors.eval_suite_default_list(actor=self.actor)

    @extend_schema(request=s.EvalSuiteDefaultIn, responses={201: s.EvalSuiteDefaultOut, 200: s.EvalSuiteDefaultOut})
    def create(self, request: Request) -> Response:
        """Choose a suite for a kind. The same choice again answers 200 with the existing one."""
        data = _validated(s.EvalSuiteDefaultIn, request.data)
        default, created = eval_defaults.eval_suite_default_add(actor=self.actor, **data)
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(s.EvalSuiteDefaultOut(default).data, status=code)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str) -> Response:
        """Stop choosing it; scores already taken stay."""
        eval_defaults.eval_suite_default_remove(actor=self.actor, default=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeasuresRerunView(APIView):
    """A steward runs a measurement again on every version that has it finished (or, for evals,
    only those scored on `suite`): after a new harness or suite version lands."""

    permission_classes = [ActionPolicy]
    action_policy = {"post": MEMBER_READ}  # stewards only: the service refuses everyone else
    action = "post"

    @extend_schema(request=s.MeasuresRerunIn, responses={200: s.MeasuresRerunOut})
    def post(self, request: Request) -> Response:
        data = _validated(s.MeasuresRerunIn, request.data)
        queued = eval_defaults.measures_rerun_named(
            actor=Actor.of(request), name=data["step"], reason=data["reason"], suite=data.get("suite")
        )
        return Response(s.MeasuresRerunOut({"queued": queued}).data)


class PriorArtView(APIView):
    """The visible recipes closest to a recipe (given as its mapping, or as a visible recipe version),
    of the same stage, best first, each with its score and what differs."""

    permission_classes = [ActionPolicy]
    action_policy = {"post": PUBLIC_QUERY}  # a search: reads only, so a token needs the `read` scope
    action = "post"

    @extend_schema(request=s.PriorArtIn, responses={200: s.PriorArtOut})
    def post(self, request: Request) -> Response:
        data = _validated(s.PriorArtIn, request.data)
        actor = Actor.of(request)
        exclude: Version | None = None
        if "recipe" in data:
            try:
                wanted = experiment_from(data["recipe"])
            except InvalidRecipe as exc:
                fields: dict[str, list[str]] = {}
                for field, message in exc.problems:
                    fields.setdefault(field or "non_field_errors", []).append(message)
                raise ValidationError({"recipe": fields}) from None
        else:
            found = (
                RecipeFeatures.objects.filter(version__in=Version.objects.visible_to(actor))
                .filter(version__public_id=data["version"])
                .select_related("version")
                .first()
            )
            if found is None:
                raise ValidationError({"version": ["no visible recipe version with a recipe that passed its checks"]})
            wanted, exclude = Experiment.from_dict(found.features), found.version
        matches = prior_art(actor, wanted, limit=data["limit"], exclude_version=exclude)
        return Response(s.PriorArtOut({"threshold": NEAR_DUPLICATE, "matches": matches}).data)


class ApiRootView(APIView):
    """Where to start: the collections and the API's documentation."""

    permission_classes = [ActionPolicy]
    action_policy = {"get": PUBLIC_READ}
    action = "get"

    @extend_schema(responses={200: dict[str, str]})
    def get(self, request: Request) -> Response:
        names = [
            "organizations",
            "artifacts",
            "versions",
            "events",
            "notifications",
            "notification-preferences",
            "watches",
            "review-queue",
            "review-policies",
            "eval-suite-defaults",
            "prior-art",
            "ledger",
            "acknowledgements",
            "me",
            "schema",
            "docs",
        ]
        routes = {
            "organizations": "organization-list",
            "artifacts": "artifact-list",
            "versions": "version-list",
            "events": "event-list",
            "notifications": "notification-list",
            "watches": "watch-list",
            "review-queue": "review-queue-list",
            "review-policies": "review-policy-list",
            "eval-suite-defaults": "eval-suite-default-list",
            "acknowledgements": "acknowledgement-list",
        }
        return Response({name: request.build_absolute_uri(reverse(routes.get(name, name))) for name in names})


def _files_out(
    actor: Actor, version: Version, files: list[VersionFile], uploads: dict[str, Upload] | None = None
) -> Any:
    """The manifest with each file's status; a pusher of the org also gets the upload of a missing file."""
    if uploads is None:
        missing = {f.sha256 for f in files if f.blob_id is None}
        mine = Upload.objects.visible_to(actor).filter(organization_id=version.artifact.organization_id)
        uploads = {u.sha256: u for u in mine.filter(sha256__in=missing)} if missing else {}
    rows = [
        {
            "path": f.path,
            "size": f.size,
            "sha256": f.sha256,
            "status": "missing" if f.blob_id is None else "verified",
            "upload": uploads.get(f.sha256) if f.blob_id is None else None,
            # Signed locally (no request to S3), short-lived, and only for a version the caller sees.
            "download_url": None
            if f.blob_id is None
            else storage.download_url(
                storage.safe_key(org_id=version.artifact.organization_id, sha256=f.sha256),
                filename=f.path,
                expires=settings.DOWNLOAD_URL_TTL,
            ),
        }
        for f in files
    ]
    return s.FileOut(rows, many=True).data


class UploadViewSet(Base):
    """Multipart uploads in flight: presigned part URLs (only the missing ones on a resume) and
    completion, after which the server verifies the bytes itself."""

    lookup_field = "public_id"
    lookup_url_kwarg = "upload_id"
    lookup_value_regex = UUID_RE
    serializer_class = s.PartsOut
    action_policy = {"parts": write(Capability.PUSH), "complete": write(Capability.PUSH)}

    def get_queryset(self) -> QuerySet[Upload]:
        return Upload.objects.visible_to(self.actor).select_related("organization")

    @extend_schema(request=s.PartsIn, responses={200: s.PartsOut})
    @action(detail=True, methods=["post"])
    def parts(self, request: Request, upload_id: str) -> Response:
        upload = self.get_object()
        wanted = _validated(s.PartsIn, request.data).get("parts")
        urls = uploads.upload_part_urls(upload=upload, parts=wanted)
        parts = [{"number": n, "url": url} for n, url in sorted(urls.items())]
        return Response(s.PartsOut({"upload": upload, "parts": parts, "expires_in": settings.UPLOAD_URL_TTL}).data)

    @extend_schema(request=None, responses={200: s.BlobOut})
    @action(detail=True, methods=["post"])
    def complete(self, request: Request, upload_id: str) -> Response:
        blob = uploads.upload_complete(actor=self.actor, upload=self.get_object())
        return Response(s.BlobOut({"sha256": blob.sha256, "size": blob.size, "status": "verified"}).data)


class MeView(APIView):
    """Who the caller is: user, orgs and roles, and the token's org and scopes when one is used."""

    permission_classes = [ActionPolicy]
    action_policy = {"get": MEMBER_READ}
    action = "get"

    @extend_schema(responses={200: s.MeOut, 401: OpenApiResponse(description="not signed in")})
    def get(self, request: Request) -> Response:
        actor = Actor.of(request)
        if actor.user is None:  # the policy admits signed-in callers only
            raise NotAuthenticated()
        orgs = {o.pk: o for o in Organization.objects.filter(pk__in=actor.org_ids)}
        token = actor.token
        return Response(
            s.MeOut(
                {
                    "username": actor.user.username,
                    "is_reviewer": actor.is_reviewer,
                    "is_steward": actor.is_steward,
                    "organizations": [
                        {"slug": orgs[pk].slug, "role": role, "capabilities": sorted(actor.capabilities(pk))}
                        for pk, role in sorted(actor.roles.items(), key=lambda item: orgs[item[0]].slug)
                    ],
                    "token": None
                    if token is None
                    else {
                        "id": str(token.public_id),
                        "organization": token.organization.slug,
                        "scopes": token.scopes,
                        "expires_at": token.expires_at.isoformat(),
                    },
                }
            ).data
        )
