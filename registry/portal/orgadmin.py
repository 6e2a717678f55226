"""An org's own pages (`/orgs/<slug>/...`): the overview with storage against quota, and members
and roles. Outsiders get a 404; members see what their role allows and a 403 page elsewhere;
stewards read everything and change nothing."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from registry import selectors
from registry.actors import Actor
from registry.models import Membership, Organization
from registry.permissions import Capability, Role
from registry.portal.actions import act
from registry.services import organizations
from registry.services.uploads import storage_used

OrgView = Callable[..., HttpResponseBase]
NEEDS = {
    Capability.READ: "a member of this organization",
    Capability.AUDIT: "an owner or maintainer of this organization",
    Capability.ADMIN: "an owner of this organization",
}


def organization_or_404(actor: Actor, slug: str) -> Organization:
    """An org the actor belongs to (any org for a steward); others are a 404, even when public."""
    found = selectors.organization_list(actor=actor).filter(slug=slug).first()
    if found is None or not (actor.is_steward or found.pk in actor.org_ids):
        raise Http404("no such organization of yours")
    return found


def org_context(actor: Actor, organization: Organization, section: str, **extra: Any) -> dict[str, Any]:
    """What every org page's header and tabs need."""
    return {
        "org": organization,
        "section": section,
        "my_role": actor.roles.get(organization.pk),
        "can_admin": actor.can(organization.pk, Capability.ADMIN),
        "can_audit": actor.can(organization.pk, Capability.AUDIT) or actor.is_steward,
        **extra,
    }


def org_page(capability: Capability) -> Callable[[OrgView], OrgView]:
    """Resolve `slug` to one of the actor's orgs and require `capability` in it (stewards may read
    every org page, and write none). The view gets (request, organization, actor, **kwargs)."""

    def decorate(view: OrgView) -> OrgView:
        @login_required
        @wraps(view)
        def wrapped(request: HttpRequest, slug: str, **kwargs: Any) -> HttpResponseBase:
            actor = Actor.of(request)
            organization = organization_or_404(actor, slug)
            steward_reads = actor.is_steward and request.method in ("GET", "HEAD")
            if not (actor.can(organization.pk, capability) or steward_reads):
                context = org_context(actor, organization, "", needs=NEEDS.get(capability, capability))
                return render(request, "registry/org_forbidden.html", context, status=403)
            return view(request, organization, actor, **kwargs)

        return wrapped

    return decorate


def secret_keep(request: HttpRequest, organization: Organization, key: str, value: dict[str, str]) -> None:
    """Hold a just-made secret for the org's page the POST redirects to, which takes it (secret_take)."""
    request.session[f"{key}:{organization.slug}"] = value


def secret_take(request: HttpRequest, organization: Organization, key: str) -> dict[str, str] | None:
    """The org's secret kept for this render, removed from the session now: it is shown exactly once."""
    return request.session.pop(f"{key}:{organization.slug}", None)


def no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


@org_page(Capability.READ)
def org_overview(request: HttpRequest, organization: Organization, actor: Actor) -> HttpResponse:
    """The org at a glance: its facts, its members count and the storage it uses against its quota."""
    quota = organization.storage_quota_bytes
    quota = settings.ORG_STORAGE_QUOTA_BYTES if quota is None else quota
    used = storage_used(organization.pk)
    percent = min(100.0, used * 100 / quota) if quota else 100.0
    context = org_context(
        actor,
        organization,
        "overview",
        used=used,
        quota=quota,
        free=max(0, quota - used),
        percent=percent,
        members=selectors.membership_list(actor=actor, organization=organization).count(),
    )
    return render(request, "registry/org_overview.html", context)


@org_page(Capability.READ)
def org_members(request: HttpRequest, organization: Organization, actor: Actor) -> HttpResponse:
    """Who is in the org with which role; owners change roles and remove people here."""
    memberships = selectors.membership_list(actor=actor, organization=organization)
    context = org_context(actor, organization, "members", memberships=memberships, roles=Role.choices)
    return render(request, "registry/org_members.html", context)


def _membership(actor: Actor, organization: Organization, membership_id: int) -> Membership:
    found = selectors.membership_list(actor=actor, organization=organization).filter(pk=membership_id).first()
    if found is None:
        raise Http404("no such member of this organization")
    return found


@require_POST
@org_page(Capability.ADMIN)
def org_member_role(request: HttpRequest, organization: Organization, actor: Actor, membership_id: int) -> HttpResponse:
    membership = _membership(actor, organization, membership_id)
    role = request.POST.get("role", "")
    act(
        request,
        lambda: organizations.membership_change_role(actor=actor, membership=membership, role=role),
        f"{membership.user.username} is now {role} of {organization.name}.",
    )
    return redirect("portal-org-members", slug=organization.slug)


@require_POST
@org_page(Capability.ADMIN)
def org_member_remove(
    request: HttpRequest, organization: Organization, actor: Actor, membership_id: int
) -> HttpResponse:
    membership = _membership(actor, organization, membership_id)
    done = act(
        request,
        lambda: organizations.membership_remove(actor=actor, membership=membership),
        f"{membership.user.username} was removed from {organization.name}; their tokens for it are revoked.",
    )
    if (
        done and actor.user is not None and membership.user_id == actor.user.pk
    ):  # left the org: its pages are no longer theirs
        return redirect("home")
    return redirect("portal-org-members", slug=organization.slug)
