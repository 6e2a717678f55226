"""The portal's pages. Each area of the portal owns a module; its routes are listed here."""

from django.urls import path

from registry.portal import catalogue, reviewing, versions

urlpatterns = [
    path("", catalogue.home, name="home"),
    path("browse/", catalogue.browse, name="portal-browse"),
    path("artifacts/<uuid:artifact_id>/", catalogue.artifact_detail, name="portal-artifact"),
    path("versions/<uuid:version_id>/", versions.version_detail, name="portal-version"),
    path("versions/<uuid:version_id>/checks/", versions.version_checks, name="portal-version-checks"),
    path("versions/<uuid:version_id>/review/", reviewing.version_review, name="portal-version-review"),
    path("versions/<uuid:version_id>/override/", reviewing.version_override, name="portal-version-override"),
    path("review/", reviewing.review_queue, name="portal-review-queue"),
]
