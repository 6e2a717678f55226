"""Sign-in with a throttle on failures: after LOGIN_MAX_FAILURES wrong passwords for one username
from one address within LOGIN_LOCKOUT_SECONDS, further attempts are refused until the window
passes (counted in the shared cache, so every web worker sees the same count)."""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse


def _key(request: HttpRequest, username: str) -> str:
    who = f"{username.strip().lower()}|{request.META.get('REMOTE_ADDR', '')}"
    return "login-failures:" + hashlib.sha256(who.encode()).hexdigest()


class SignInView(auth_views.LoginView):
    template_name = "registry/login.html"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        key = _key(request, request.POST.get("username", ""))
        if cache.get(key, 0) >= settings.LOGIN_MAX_FAILURES:  # refused before any password is checked
            minutes = max(1, settings.LOGIN_LOCKOUT_SECONDS // 60)
            lockout = f"Too many failed sign-ins for this account: try again in {minutes} minutes."
            form = self.get_form_class()(request=request)
            return self.render_to_response(self.get_context_data(form=form, lockout=lockout), status=429)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        key = _key(self.request, self.request.POST.get("username", ""))
        cache.add(key, 0, timeout=settings.LOGIN_LOCKOUT_SECONDS)
        cache.incr(key)
        return super().form_invalid(form)

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        cache.delete(_key(self.request, self.request.POST.get("username", "")))
        return super().form_valid(form)
