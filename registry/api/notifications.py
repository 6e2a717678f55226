"""Notifications over the API: the caller's own (a token's are its maker's, narrowed to what the
token sees), marking them read, preferences, and the artifacts they watch."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from registry import selectors
from registry.actors import Actor
from registry.api import serializers as s
from registry.api.permissions import MEMBER_READ, OWN_SETTINGS, OWN_STATE, ActionPolicy
from registry.api.views import UUID_RE, Base, _validated
from registry.errors import NotFound
from registry.models import Notification, NotificationPreference, Watch
from registry.services import notifications


class NotificationFilter(s.ListParams):
    unread = serializers.BooleanField(required=False, help_text="true: only the unread ones.")


class NotificationOut(serializers.ModelSerializer):
    reason = serializers.ChoiceField(choices=Notification.Reason.choices, help_text="Why the caller hears of it.")
    summary = serializers.SerializerMethodField(help_text="The event in words, naming the version.")
    read = serializers.SerializerMethodField()
    event = s.EventOut()

    class Meta:
        model = Notification
        fields = ["id", "reason", "summary", "read", "read_at", "created_at", "event"]

    def get_summary(self, notification: Notification) -> str:
        return notifications.describe(notification.event)

    def get_read(self, notification: Notification) -> bool:
        return notification.read_at is not None


class MarkReadIn(s.StrictSerializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, max_length=500, help_text="Notification ids."
    )
    all = serializers.BooleanField(required=False, help_text="true: every notification of the caller.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if bool(attrs.get("ids")) == bool(attrs.get("all")):
            raise serializers.ValidationError({"ids": ["give either `ids` (a non-empty list) or `all: true`"]})
        return attrs


class MarkReadOut(serializers.Serializer):
    marked = serializers.IntegerField(help_text="How many were unread and are now read.")
    unread = serializers.IntegerField(help_text="How many unread remain.")


class NotificationViewSet(mixins.ListModelMixin, Base):
    """The caller's notifications, newest first: work waiting for their review, their orgs'
    versions changing state, errors, publications of artifacts they watch."""

    serializer_class = NotificationOut
    filter_class = NotificationFilter
    action_policy = {"list": MEMBER_READ, "read": OWN_STATE}

    def get_queryset(self) -> Any:
        unread = bool(self.filters().get("unread")) if self.action == "list" else False
        return notifications.notification_list(actor=self.actor, unread_only=unread)

    @extend_schema(parameters=[NotificationFilter])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=MarkReadIn, responses={200: MarkReadOut})
    @action(detail=False, methods=["post"])
    def read(self, request: Request) -> Response:
        """Mark some notifications read (`ids`), or all of them (`all: true`)."""
        data = _validated(MarkReadIn, request.data)
        actor = self.actor
        marked = notifications.notifications_mark_read(actor=actor, ids=None if data.get("all") else data["ids"])
        return Response(MarkReadOut({"marked": marked, "unread": notifications.unread_count(actor=actor)}).data)


class PreferencesOut(serializers.ModelSerializer):
    class Meta:
        model = NotificationPreference
        fields = list(notifications.PREFERENCE_FIELDS)


class PreferencesIn(s.StrictSerializer):
    reviews_waiting = serializers.BooleanField(required=False, help_text="Work waiting for my review.")
    org_changes = serializers.BooleanField(required=False, help_text="My orgs' versions changing state.")
    errors = serializers.BooleanField(  # type: ignore[assignment]  # a field named like Serializer.errors
        required=False, help_text="Errored steps and failed publications."
    )
    watched_publications = serializers.BooleanField(required=False, help_text="Publications of artifacts I watch.")
    email = serializers.BooleanField(required=False, help_text="Also by email, batched into a digest.")


class NotificationPreferencesView(APIView):
    """What the caller hears about, and whether by email too (everything on until they choose).
    PUT changes the fields it names; the others keep their value."""

    permission_classes = [ActionPolicy]
    action_policy = {"get": MEMBER_READ, "put": OWN_SETTINGS}

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        self.action = request.method.lower() if request.method else ""
        super().initial(request, *args, **kwargs)

    @extend_schema(responses={200: PreferencesOut})
    def get(self, request: Request) -> Response:
        return Response(PreferencesOut(notifications.preferences_get(actor=Actor.of(request))).data)

    @extend_schema(request=PreferencesIn, responses={200: PreferencesOut})
    def put(self, request: Request) -> Response:
        data = _validated(PreferencesIn, request.data)
        return Response(PreferencesOut(notifications.preferences_set(actor=Actor.of(request), **data)).data)


class WatchIn(s.StrictSerializer):
    artifact = serializers.UUIDField(help_text="The id of an artifact the caller sees.")


class WatchOut(serializers.ModelSerializer):
    artifact = s.ArtifactRefOut()

    class Meta:
        model = Watch
        fields = ["artifact", "created_at"]


class WatchViewSet(mixins.ListModelMixin, Base):
    """The artifacts the caller watches: each publication of one is a notification."""

    serializer_class = WatchOut
    lookup_url_kwarg = "artifact_id"
    lookup_value_regex = UUID_RE
    cursor_ordering = ("-created_at", "-id")
    action_policy = {"list": MEMBER_READ, "create": OWN_SETTINGS, "destroy": OWN_SETTINGS}

    def get_queryset(self) -> Any:
        return notifications.watch_list(actor=self.actor)

    def _artifact(self, artifact_id: Any) -> Any:
        found = selectors.artifact_list(actor=self.actor).filter(public_id=artifact_id).first()
        if found is None:
            raise NotFound("no such artifact", field="artifact")
        return found

    @extend_schema(request=WatchIn, responses={201: WatchOut, 200: WatchOut})
    def create(self, request: Request) -> Response:
        """Watch an artifact. Watching it again answers 200 with the existing watch."""
        data = _validated(WatchIn, request.data)
        watch, created = notifications.artifact_watch(actor=self.actor, artifact=self._artifact(data["artifact"]))
        return Response(WatchOut(watch).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, artifact_id: str) -> Response:
        """Stop watching an artifact."""
        watch = notifications.watch_list(actor=self.actor).filter(artifact__public_id=artifact_id).first()
        if watch is None:
            raise NotFound("you do not watch this artifact", field="artifact")
        notifications.artifact_unwatch(actor=self.actor, artifact=watch.artifact)
        return Response(status=status.HTTP_204_NO_CONTENT)
