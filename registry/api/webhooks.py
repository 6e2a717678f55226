"""An org's webhooks and their delivery logs over the API, under /organizations/{org}/webhooks/.

Owners (and their tokens with the `webhooks` scope) register, change, re-key, remove and replay;
those who read the org's audit log (owners, maintainers) read the webhooks and their deliveries.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from registry import selectors
from registry.api import serializers as s
from registry.api.permissions import MEMBER_READ, write
from registry.api.views import UUID_RE, OrgNested, _validated, organization_of
from registry.models import Event, Organization, Webhook, WebhookAttempt, WebhookDelivery
from registry.permissions import Capability
from registry.services import webhooks

SOURCE = "own: events about the org's own versions (default); visible: about every version the org can see."


def _event_types(**kwargs: Any) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.ChoiceField(choices=Event.Type.choices),
        allow_empty=False,
        help_text="The event types sent to this endpoint.",
        **kwargs,
    )


class WebhookOut(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id")
    organization = serializers.CharField(source="organization.slug")
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    consecutive_failures = serializers.IntegerField(help_text="Failed attempts since the last success.")

    class Meta:
        model = Webhook
        fields = [
            "id",
            "organization",
            "url",
            "event_types",
            "source",
            "description",
            "is_active",
            "consecutive_failures",
            "disabled_at",
            "disabled_reason",
            "created_by",
            "created_at",
            "updated_at",
        ]


class WebhookSecretOut(WebhookOut):
    secret = serializers.SerializerMethodField(
        help_text="The signing secret. Shown this once; verify deliveries with it (docs/webhooks.md)."
    )

    class Meta(WebhookOut.Meta):
        fields = [*WebhookOut.Meta.fields, "secret"]

    def get_secret(self, webhook: Webhook) -> str:
        return self.context["secret"]


class WebhookIn(s.StrictSerializer):
    url = serializers.CharField(max_length=2000, help_text="An http(s) URL on a public address.")
    event_types = _event_types()
    # Named like DRF's Field.source, which the serializer metaclass takes out of the class: safe here.
    source = serializers.ChoiceField(  # type: ignore[assignment]
        choices=Webhook.Source.choices, default=Webhook.Source.OWN, help_text=SOURCE
    )
    description = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class WebhookChangeIn(s.StrictSerializer):
    url = serializers.CharField(max_length=2000, required=False)
    event_types = _event_types(required=False)
    source = serializers.ChoiceField(choices=Webhook.Source.choices, required=False, help_text=SOURCE)  # type: ignore[assignment]  # see WebhookIn
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    is_active = serializers.BooleanField(required=False, help_text="Switch on (clears the run of failures) or off.")


class AttemptOut(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = ["number", "started_at", "status_code", "latency_ms", "error", "response_prefix"]


class DeliveryOut(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id")
    event = s.EventOut()
    replay_of = serializers.UUIDField(source="replay_of.public_id", allow_null=True, default=None)
    requested_by = serializers.CharField(source="requested_by.username", allow_null=True, default=None)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "event",
            "status",
            "attempts",
            "next_attempt_at",
            "last_status_code",
            "last_latency_ms",
            "last_error",
            "replay_of",
            "requested_by",
            "created_at",
            "finished_at",
        ]


class DeliveryDetailOut(DeliveryOut):
    attempt_log = AttemptOut(many=True, help_text="Each try, oldest first.")

    class Meta(DeliveryOut.Meta):
        fields = [*DeliveryOut.Meta.fields, "attempt_log"]


class WebhookViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrgNested):
    """An org's webhooks: its owners register endpoints per event type; deliveries are signed."""

    lookup_field = "public_id"
    lookup_url_kwarg = "webhook_id"
    lookup_value_regex = UUID_RE
    serializer_class = WebhookOut
    action_policy = {
        "list": MEMBER_READ,
        "retrieve": MEMBER_READ,
        "create": write(Capability.WEBHOOKS),
        "partial_update": write(Capability.WEBHOOKS),
        "destroy": write(Capability.WEBHOOKS),
        "rotate_secret": write(Capability.WEBHOOKS),
    }

    model = Webhook

    def org_queryset(self, organization: Organization) -> QuerySet:
        return selectors.webhook_list(actor=self.actor, organization=organization)

    @extend_schema(request=WebhookIn, responses={201: WebhookSecretOut})
    def create(self, request: Request, org_slug: str) -> Response:
        organization = organization_of(request, org_slug)
        data = _validated(WebhookIn, request.data)
        webhook, secret = webhooks.webhook_create(actor=self.actor, organization=organization, **data)
        return _with_secret(webhook, secret, status.HTTP_201_CREATED)

    @extend_schema(request=WebhookChangeIn, responses={200: WebhookOut})
    def partial_update(self, request: Request, org_slug: str, webhook_id: str) -> Response:
        data = _validated(WebhookChangeIn, request.data)
        webhook = webhooks.webhook_update(actor=self.actor, webhook=self.get_object(), **data)
        return Response(WebhookOut(webhook).data)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, org_slug: str, webhook_id: str) -> Response:
        """Remove the endpoint and its delivery log."""
        webhooks.webhook_delete(actor=self.actor, webhook=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: WebhookSecretOut})
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request: Request, org_slug: str, webhook_id: str) -> Response:
        """A new signing secret, shown once; the old one stops working at once."""
        webhook = self.get_object()
        secret = webhooks.webhook_rotate_secret(actor=self.actor, webhook=webhook)
        return _with_secret(webhook, secret, status.HTTP_200_OK)


def _with_secret(webhook: Webhook, secret: str, code: int) -> Response:
    response = Response(WebhookSecretOut(webhook, context={"secret": secret}).data, status=code)
    response["Cache-Control"] = "no-store"  # the secret is shown once
    return response


class DeliveryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, OrgNested):
    """A webhook's delivery log, newest first: status, attempts, status codes and latencies."""

    lookup_field = "public_id"
    lookup_url_kwarg = "delivery_id"
    lookup_value_regex = UUID_RE
    action_policy = {"list": MEMBER_READ, "retrieve": MEMBER_READ, "replay": write(Capability.WEBHOOKS)}

    model = WebhookDelivery

    def get_serializer_class(self) -> type[serializers.BaseSerializer]:
        return DeliveryOut if self.action == "list" else DeliveryDetailOut

    def org_queryset(self, organization: Organization) -> QuerySet:
        webhooks = selectors.webhook_list(actor=self.actor, organization=organization)
        webhook = get_object_or_404(webhooks, public_id=self.kwargs["webhook_id"])
        return selectors.delivery_list(actor=self.actor, webhook=webhook)

    @extend_schema(request=None, responses={202: DeliveryOut})
    @action(detail=True, methods=["post"])
    def replay(self, request: Request, org_slug: str, webhook_id: str, delivery_id: str) -> Response:
        """Send this delivery's event again, as a new delivery."""
        replay = webhooks.delivery_replay(actor=self.actor, delivery=self.get_object())
        return Response(DeliveryOut(replay).data, status=status.HTTP_202_ACCEPTED)
