"""The compute ledger and acknowledgements over the API: GET /ledger/ (JSON), GET /ledger.csv, and
GET/POST /acknowledgements/. Everything is computed from what the caller can see."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from jobs.ledger.acknowledgements import acknowledge, acknowledgement_list, visible_via
from jobs.ledger.export import csv_text
from jobs.ledger.ledger import Ledger, ledger
from jobs.models import Acknowledgement
from registry.actors import Actor
from registry.api import serializers as s
from registry.api.permissions import MEMBER_READ, ActionPolicy, write
from registry.api.views import Base, _validated, organization_of
from registry.errors import NotFound
from registry.models import Version
from registry.permissions import Capability

MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"


class LedgerParams(s.StrictSerializer):
    org = serializers.CharField(required=False, max_length=64, help_text="One org's slug.")
    since = serializers.RegexField(MONTH, required=False, help_text="First month, YYYY-MM.")
    until = serializers.RegexField(MONTH, required=False, help_text="Last month, YYYY-MM.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("since") and attrs.get("until") and attrs["since"] > attrs["until"]:
            raise serializers.ValidationError({"until": ["is before since"]})
        return attrs


class TallyOut(serializers.Serializer):
    count = serializers.IntegerField(help_text="Runs (spent) or sources (avoided) counted.")
    gpu_hours = serializers.FloatField(allow_null=True, help_text="Sum of the known figures; null if none is known.")
    gpu_hours_missing = serializers.IntegerField(help_text="How many have no GPU-hours figure.")
    flops = serializers.FloatField(allow_null=True, help_text="Sum of the known figures; null if none is known.")
    flops_missing = serializers.IntegerField()
    flops_estimated = serializers.IntegerField(help_text="How many of the summed FLOPs are 6·N·D estimates.")


class RowOut(serializers.Serializer):
    organization = serializers.CharField(allow_null=True)
    month = serializers.CharField(allow_null=True, help_text="YYYY-MM (UTC).")
    spent = TallyOut()
    avoided = TallyOut()


class ComputeOut(serializers.Serializer):
    gpu_hours = serializers.FloatField(allow_null=True)
    flops = serializers.FloatField(allow_null=True)
    flops_estimated = serializers.BooleanField()


class RunOut(serializers.Serializer):
    organization = serializers.CharField()
    month = serializers.CharField(help_text="The month of the run's first version.")
    name = serializers.CharField(help_text="org/artifact@number of the version whose figures count.")
    version = serializers.CharField(source="version_id")
    kind = serializers.CharField()
    versions = serializers.IntegerField(help_text="Versions of the run counted (its figures come from one).")
    compute = ComputeOut()
    avoided_by = serializers.ListField(child=serializers.CharField(), help_text="Orgs credited for not re-running it.")


class SourceOut(serializers.Serializer):
    organization = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.CharField(help_text="recipe (a run) or checkpoint (its declared compute).")
    compute = ComputeOut()


class CreditOut(serializers.Serializer):
    organization = serializers.CharField()
    month = serializers.CharField()
    source = SourceOut()  # type: ignore[assignment]  # a field named like Field.source
    ways = serializers.ListField(child=serializers.CharField(), help_text="reuses, derived_from, acknowledged.")


class LedgerOut(serializers.Serializer):
    filters = serializers.DictField(child=serializers.CharField(allow_null=True))
    totals = RowOut()
    by_organization = RowOut(many=True)
    by_month = RowOut(many=True)
    by_organization_month = RowOut(many=True)
    runs = RunOut(many=True)
    credits = CreditOut(many=True)


def ledger_for(request: Request) -> Ledger:
    found = _validated(LedgerParams, request.query_params.dict())
    return ledger(Actor.of(request), organization=found.get("org"), since=found.get("since"), until=found.get("until"))


class LedgerView(APIView):
    """Compute spent and avoided per org and month, consortium-wide, and per run, from what the
    caller can see. Filters: `org`, `since` and `until` (YYYY-MM)."""

    permission_classes = [ActionPolicy]
    action_policy = {"get": MEMBER_READ}
    action = "get"

    @extend_schema(parameters=[LedgerParams], responses={200: LedgerOut})
    def get(self, request: Request) -> Response:
        return Response(LedgerOut(ledger_for(request)).data)


class LedgerCsvView(APIView):
    """The ledger's entries as CSV: a `spent` line per run, an `avoided` line per credit."""

    permission_classes = [ActionPolicy]
    action_policy = {"get": MEMBER_READ}
    action = "get"

    @extend_schema(
        parameters=[LedgerParams],
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="the ledger's entries")},
    )
    def get(self, request: Request) -> HttpResponse:
        response = HttpResponse(csv_text(ledger_for(request)), content_type="text/csv; charset=utf-8")
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="compute-ledger-{stamp}.csv"'
        return response


class AcknowledgementIn(s.StrictSerializer):
    organization = serializers.CharField(max_length=64, help_text="The org that will not re-run the source.")
    source = serializers.UUIDField(  # type: ignore[assignment]  # a field named like Field.source
        help_text="Another org's recipe or checkpoint version (its id)."
    )
    via = serializers.UUIDField(required=False, help_text="The org's own version the match was found for.")
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class AcknowledgementOut(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    organization = serializers.CharField(source="organization.slug")
    source = s.VersionRefOut()  # type: ignore[assignment]  # a field named like Field.source
    via = serializers.SerializerMethodField()
    note = serializers.CharField()
    created_at = serializers.DateTimeField()

    @extend_schema_field(s.VersionRefOut(allow_null=True))
    def get_via(self, found: Acknowledgement) -> Any:
        """The org's own version it was found for, when the caller sees it."""
        if found.via_id is None or found.via_id not in self.context.get("visible_via", set()):
            return None
        return s.VersionRefOut(found.via).data


class AcknowledgementViewSet(mixins.ListModelMixin, Base):
    """Statements that an org will not re-run another member's run; listed when the caller sees both
    the source and the org."""

    serializer_class = AcknowledgementOut
    action_policy = {"list": MEMBER_READ, "create": write(Capability.PUSH)}
    cursor_ordering = ("-created_at", "-id")

    def get_queryset(self) -> Any:
        return acknowledgement_list(self.actor)

    def get_serializer_context(self) -> dict[str, Any]:
        context = dict(super().get_serializer_context())
        if getattr(self, "swagger_fake_view", False):
            return context
        page = getattr(self, "_page", None)
        context["visible_via"] = visible_via(self.actor, page or [])
        return context

    def paginate_queryset(self, queryset: Any) -> Any:
        self._page = super().paginate_queryset(queryset)
        return self._page

    @extend_schema(request=AcknowledgementIn, responses={201: AcknowledgementOut, 200: AcknowledgementOut})
    def create(self, request: Request) -> Response:
        data = _validated(AcknowledgementIn, request.data)
        actor = self.actor
        organization = organization_of(request, data["organization"])
        visible = Version.objects.visible_to(actor)
        source = visible.filter(public_id=data["source"]).first()
        if source is None:
            raise NotFound("no such version", field="source")
        via = None
        if "via" in data:
            via = visible.filter(public_id=data["via"]).first()
            if via is None:
                raise NotFound("no such version", field="via")
        existed = Acknowledgement.objects.filter(organization=organization, source=source).exists()
        found = acknowledge(actor, organization=organization, source=source, via=via, note=data["note"])
        body = AcknowledgementOut(found, context={"visible_via": visible_via(actor, [found])}).data
        return Response(body, status=status.HTTP_200_OK if existed else status.HTTP_201_CREATED)
