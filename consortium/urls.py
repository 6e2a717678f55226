from django.contrib import admin
from django.urls import include, path

from consortium.health import healthz
from registry.portal import views as portal

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("api/v1/", include("registry.api.urls")),
    path("admin/", admin.site.urls),
    path("", portal.home, name="home"),
]

handler404 = "consortium.health.not_found"
handler500 = "consortium.health.server_error"
