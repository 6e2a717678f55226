"""The portal's pages. Each area of the portal owns a module; its routes are listed here."""

from django.urls import path

from registry.portal import (
    catalogue,
    context,
    inbox,
    invitations,
    ledger,
    orgadmin,
    orgaudit,
    orgtokens,
    orgwebhooks,
    prior_art,
    reruns,
    reviewing,
    submit,
    uploading,
    versions,
)

urlpatterns = [
    path("", catalogue.home, name="home"),
    path("browse/", catalogue.browse, name="portal-browse"),
    path("artifacts/<uuid:artifact_id>/", catalogue.artifact_detail, name="portal-artifact"),
    path("versions/<uuid:version_id>/", versions.version_detail, name="portal-version"),
    path("versions/<uuid:version_id>/checks/", versions.version_checks, name="portal-version-checks"),
    path(
        "versions/<uuid:version_id>/files/<int:file_id>/download/",
        versions.version_file_download,
        name="portal-version-file-download",
    ),
    path(
        "versions/<uuid:version_id>/steps/<slug:step_name>/rerun/",
        reruns.step_rerun,
        name="portal-version-step-rerun",
    ),
    path("versions/<uuid:version_id>/review/", reviewing.version_review, name="portal-version-review"),
    path("versions/<uuid:version_id>/override/", reviewing.version_override, name="portal-version-override"),
    path(
        "versions/<uuid:version_id>/prior-art/<uuid:match_id>/acknowledge/",
        prior_art.match_acknowledge,
        name="portal-version-prior-art-acknowledge",
    ),
    path("prior-art/", prior_art.prior_art_search, name="portal-prior-art"),
    path("review/", reviewing.review_queue, name="portal-review-queue"),
    path("ledger/", ledger.ledger_page, name="portal-ledger"),
    path("submit/", submit.submit, name="portal-submit"),
    path("versions/<uuid:version_id>/upload/", uploading.version_upload, name="portal-version-upload"),
    path("versions/<uuid:version_id>/upload/readme/", uploading.version_readme, name="portal-version-readme"),
    path("versions/<uuid:version_id>/delete/", uploading.version_delete, name="portal-version-delete"),
    # org admin, invitations and the org switcher
    path("orgs/<slug:slug>/", orgadmin.org_overview, name="portal-org"),
    path("orgs/<slug:slug>/members/", orgadmin.org_members, name="portal-org-members"),
    path("orgs/<slug:slug>/members/<int:membership_id>/role/", orgadmin.org_member_role, name="portal-org-member-role"),
    path(
        "orgs/<slug:slug>/members/<int:membership_id>/remove/",
        orgadmin.org_member_remove,
        name="portal-org-member-remove",
    ),
    path("orgs/<slug:slug>/invitations/", invitations.org_invitations, name="portal-org-invitations"),
    path(
        "orgs/<slug:slug>/invitations/<uuid:invitation_id>/revoke/",
        invitations.org_invitation_revoke,
        name="portal-org-invitation-revoke",
    ),
    path("orgs/<slug:slug>/tokens/", orgtokens.org_tokens, name="portal-org-tokens"),
    path("orgs/<slug:slug>/tokens/<uuid:token_id>/revoke/", orgtokens.org_token_revoke, name="portal-org-token-revoke"),
    path("orgs/<slug:slug>/webhooks/", orgwebhooks.org_webhooks, name="portal-org-webhooks"),
    path("orgs/<slug:slug>/webhooks/<uuid:webhook_id>/", orgwebhooks.org_webhook, name="portal-org-webhook"),
    path(
        "orgs/<slug:slug>/webhooks/<uuid:webhook_id>/<slug:operation>/",
        orgwebhooks.org_webhook_change,
        name="portal-org-webhook-change",
    ),
    path(
        "orgs/<slug:slug>/webhooks/<uuid:webhook_id>/deliveries/<uuid:delivery_id>/replay/",
        orgwebhooks.org_webhook_replay,
        name="portal-org-webhook-replay",
    ),
    path("orgs/<slug:slug>/audit/", orgaudit.org_audit, name="portal-org-audit"),
    path("orgs/<slug:slug>/audit.csv", orgaudit.org_audit_csv, name="portal-org-audit-csv"),
    path("invitations/<str:secret>/", invitations.invitation_page, name="portal-invitation"),
    path("switch-org/", context.org_switch, name="portal-org-switch"),
    # notifications: the inbox, its badge, preferences, watching an artifact
    path("inbox/", inbox.inbox, name="portal-inbox"),
    path("inbox/count/", inbox.inbox_count, name="portal-inbox-count"),
    path("inbox/read/", inbox.inbox_read, name="portal-inbox-read"),
    path("inbox/preferences/", inbox.notification_preferences, name="portal-inbox-preferences"),
    path("inbox/<int:notification_id>/", inbox.inbox_open, name="portal-inbox-open"),
    path("artifacts/<uuid:artifact_id>/watch/", inbox.artifact_watch, name="portal-artifact-watch"),
]
