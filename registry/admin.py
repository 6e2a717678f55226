"""Django admin for every model. Writes with invariants (tokens, versions, audit) stay read-only
here: they go through services, which check capabilities and write the audit log."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.http import HttpRequest

from registry import models as m


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(m.User)
class ConsortiumUserAdmin(UserAdmin):
    fieldsets = (*(UserAdmin.fieldsets or ()), ("Consortium roles", {"fields": ("is_reviewer", "is_steward")}))
    list_display = ("username", "email", "is_reviewer", "is_steward", "is_staff", "is_active")
    list_filter = ("is_reviewer", "is_steward", "is_staff", "is_active")


class MembershipInline(admin.TabularInline):
    model = m.Membership
    extra = 0
    autocomplete_fields = ("user",)


@admin.register(m.Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "country", "hub_namespace", "created_at")
    search_fields = ("slug", "name")
    inlines = (MembershipInline,)


@admin.register(m.Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "organization", "role", "created_at")
    list_filter = ("role", "organization")
    autocomplete_fields = ("user", "organization")


@admin.register(m.ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    list_display = ("name", "organization", "created_by", "scopes", "expires_at", "revoked_at", "last_used_at")
    list_filter = ("organization",)
    exclude = ("digest",)


@admin.register(m.Invitation)
class InvitationAdmin(ReadOnlyAdmin):
    list_display = (
        "email",
        "organization",
        "role",
        "created_by",
        "created_at",
        "expires_at",
        "accepted_at",
        "revoked_at",
    )
    list_filter = ("organization", "role")
    exclude = ("digest",)


@admin.register(m.Artifact)
class ArtifactAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "kind", "sharing", "created_at")
    list_filter = ("kind", "sharing", "organization")
    search_fields = ("slug", "description")


class VersionFileInline(admin.TabularInline):
    model = m.VersionFile
    extra = 0
    readonly_fields = ("path", "size", "sha256", "blob")
    can_delete = False


@admin.register(m.Version)
class VersionAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "state", "license", "state_changed_at")
    list_filter = ("state", "artifact__kind")
    search_fields = ("artifact__slug", "number")
    inlines = (VersionFileInline,)


@admin.register(m.VersionFile)
class VersionFileAdmin(ReadOnlyAdmin):
    list_display = ("path", "version", "size", "sha256", "blob")


@admin.register(m.LineageEdge)
class LineageEdgeAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "relation", "external_license")
    list_filter = ("relation",)


@admin.register(m.AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "organization", "actor_label", "action", "target_type", "target_id")
    list_filter = ("action", "organization")
    date_hierarchy = "created_at"


@admin.register(m.Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "type", "organization", "version")
    list_filter = ("type", "organization")
    date_hierarchy = "created_at"
    list_select_related = ("organization", "version__artifact__organization")


@admin.register(m.IdempotencyRecord)
class IdempotencyRecordAdmin(ReadOnlyAdmin):
    list_display = ("actor_key", "key", "status_code", "created_at")


@admin.register(m.Blob)
class BlobAdmin(ReadOnlyAdmin):
    list_display = ("sha256", "organization", "size", "created_at")
    list_filter = ("organization",)


@admin.register(m.Upload)
class UploadAdmin(ReadOnlyAdmin):
    list_display = ("public_id", "organization", "sha256", "size", "part_size", "touched_at")


@admin.register(m.ReviewPolicy)
class ReviewPolicyAdmin(ReadOnlyAdmin):
    list_display = ("kind", "approvals_required", "updated_by", "updated_at")


@admin.register(m.Review)
class ReviewAdmin(ReadOnlyAdmin):
    list_display = ("version", "reviewer", "organization", "decision", "created_at")
    list_filter = ("decision", "organization")


@admin.register(m.Webhook)
class WebhookAdmin(ReadOnlyAdmin):
    list_display = ("organization", "url", "is_active", "consecutive_failures", "created_at")
    list_filter = ("is_active", "organization")
    exclude = ("secret_encrypted",)


@admin.register(m.WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "webhook", "event", "status", "attempts", "last_status_code")
    list_filter = ("status",)
    list_select_related = ("webhook__organization", "event")


@admin.register(m.WebhookAttempt)
class WebhookAttemptAdmin(ReadOnlyAdmin):
    list_display = ("started_at", "delivery", "number", "status_code", "latency_ms", "error")


@admin.register(m.Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "user", "reason", "event", "read_at", "emailed_at")
    list_filter = ("reason",)
    list_select_related = ("user", "event")


@admin.register(m.NotificationPreference)
class NotificationPreferenceAdmin(ReadOnlyAdmin):
    list_display = ("user", "reviews_waiting", "org_changes", "errors", "watched_publications", "email")


@admin.register(m.Watch)
class WatchAdmin(ReadOnlyAdmin):
    list_display = ("user", "artifact", "created_at")
