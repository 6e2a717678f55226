from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from consortium.health import healthz
from registry.portal import views as portal
from registry.portal.signin import SignInView

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("api/v1/", include("registry.api.urls")),
    path("admin/", admin.site.urls),
    path("accounts/login/", SignInView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", portal.home, name="home"),
    path("browse/", portal.browse, name="portal-browse"),
    path("artifacts/<uuid:artifact_id>/", portal.artifact_detail, name="portal-artifact"),
    path("versions/<uuid:version_id>/", portal.version_detail, name="portal-version"),
    path("versions/<uuid:version_id>/checks/", portal.version_checks, name="portal-version-checks"),
    path("versions/<uuid:version_id>/review/", portal.version_review, name="portal-version-review"),
    path("versions/<uuid:version_id>/override/", portal.version_override, name="portal-version-override"),
    path("review/", portal.review_queue, name="portal-review-queue"),
]

handler404 = "consortium.health.not_found"
handler500 = "consortium.health.server_error"
