"""/api/v1/: the router, the OpenAPI schema and its docs page."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from registry.api import ledger, notifications, views, webhooks

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("organizations", views.OrganizationViewSet, basename="organization")
router.register(r"organizations/(?P<org_slug>[a-z0-9-]+)/memberships", views.MembershipViewSet, basename="membership")
router.register(r"organizations/(?P<org_slug>[a-z0-9-]+)/tokens", views.TokenViewSet, basename="token")
router.register(r"organizations/(?P<org_slug>[a-z0-9-]+)/audit-events", views.AuditEventViewSet, basename="audit-event")
router.register(r"organizations/(?P<org_slug>[a-z0-9-]+)/webhooks", webhooks.WebhookViewSet, basename="webhook")
router.register(
    rf"organizations/(?P<org_slug>[a-z0-9-]+)/webhooks/(?P<webhook_id>{views.UUID_RE})/deliveries",
    webhooks.DeliveryViewSet,
    basename="webhook-delivery",
)
router.register("events", views.EventViewSet, basename="event")
router.register("artifacts", views.ArtifactViewSet, basename="artifact")
router.register("versions", views.VersionViewSet, basename="version")
router.register("uploads", views.UploadViewSet, basename="upload")
router.register("review-queue", views.ReviewQueueViewSet, basename="review-queue")
router.register("review-policies", views.ReviewPolicyViewSet, basename="review-policy")
router.register("eval-suite-defaults", views.EvalSuiteDefaultViewSet, basename="eval-suite-default")
router.register("acknowledgements", ledger.AcknowledgementViewSet, basename="acknowledgement")
router.register("notifications", notifications.NotificationViewSet, basename="notification")
router.register("watches", notifications.WatchViewSet, basename="watch")

urlpatterns = [
    path("", views.ApiRootView.as_view(), name="api-root"),
    path("", include(router.urls)),
    path("me/", views.MeView.as_view(), name="me"),
    path("measures/rerun/", views.MeasuresRerunView.as_view(), name="measures-rerun"),
    path("prior-art/", views.PriorArtView.as_view(), name="prior-art"),
    path("ledger/", ledger.LedgerView.as_view(), name="ledger"),
    path("ledger.csv", ledger.LedgerCsvView.as_view(), name="ledger-csv"),
    path(
        "notification-preferences/",
        notifications.NotificationPreferencesView.as_view(),
        name="notification-preferences",
    ),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
]
