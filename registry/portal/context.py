"""The signed-in person's orgs for every page: `my_orgs` (each with its `role`) and `active_org`,
the one chosen with the header's switcher (`request.session["active_org"]`, a slug), or else their
first. Computed on first use, in one query, so pages and partials that don't show them pay nothing."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.functional import SimpleLazyObject
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from registry import selectors
from registry.actors import Actor
from registry.models import Organization

SESSION_KEY = "active_org"


def my_organizations(request: HttpRequest) -> list[Organization]:
    """The orgs the signed-in person belongs to, by name, each carrying `role`; cached per request."""
    cached: list[Organization] | None = getattr(request, "_consortium_my_orgs", None)
    if cached is None:
        actor = Actor.of(request)
        cached = []
        if actor.user is not None and actor.token is None:
            for membership in selectors.my_membership_list(actor=actor):
                organization = membership.organization
                organization.role = membership.role  # type: ignore[attr-defined]
                cached.append(organization)
        request._consortium_my_orgs = cached  # type: ignore[attr-defined]
    return cached


def active_organization(request: HttpRequest) -> Organization | None:
    """The org the person chose in the header, else their first; None for someone in no org."""
    orgs = my_organizations(request)
    chosen = request.session.get(SESSION_KEY) if hasattr(request, "session") else None
    return next((o for o in orgs if o.slug == chosen), orgs[0] if orgs else None)


def organizations(request: HttpRequest) -> dict[str, object]:
    return {
        "my_orgs": SimpleLazyObject(lambda: my_organizations(request)),
        "active_org": SimpleLazyObject(lambda: active_organization(request)),
    }


@login_required
@require_POST
def org_switch(request: HttpRequest) -> HttpResponse:
    """The header's switcher: make one of the person's orgs the active one, then go back."""
    slug = request.POST.get("org", "")
    if not any(o.slug == slug for o in my_organizations(request)):
        raise Http404("no such organization of yours")
    request.session[SESSION_KEY] = slug
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        back = "/"
    return redirect(back)
