from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from consortium.health import healthz
from registry.portal.signin import SignInView

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("api/v1/", include("registry.api.urls")),
    path("admin/", admin.site.urls),
    path("accounts/login/", SignInView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("registry.portal.urls")),
]

handler404 = "consortium.health.not_found"
handler500 = "consortium.health.server_error"
