"""An org's API tokens in the portal: owners see and revoke all of them, other members their own.
A new token's secret is shown once, on the page right after it is made, and then forgotten."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from registry import selectors
from registry.actors import Actor
from registry.errors import DomainError
from registry.models import Organization
from registry.permissions import Capability, Scope, scopes_allowed_for
from registry.portal.actions import act, error_message
from registry.portal.orgadmin import no_store, org_context, org_page, secret_keep, secret_take
from registry.services import tokens

NEW_TOKEN = "new_token"  # noqa: S105 - the session key, not a secret


def _grantable(actor: Actor, organization: Organization) -> list[str]:
    role = actor.roles.get(organization.pk)
    if role is None or actor.user is None:
        return []
    allowed = scopes_allowed_for(role, is_reviewer=actor.user.is_reviewer)
    return [s for s in Scope.values if s in allowed]


def _expiry(raw: str) -> timedelta:
    limit = settings.TOKEN_MAX_LIFETIME.days
    try:
        days = int(raw)
    except ValueError:
        raise DomainError(f"expiry: '{raw}' is not a number of days", field="expires") from None
    if not 1 <= days <= limit:
        raise DomainError(f"expiry: a token lasts 1 to {limit} days, not {days}", field="expires")
    return timedelta(days=days)


@require_http_methods(["GET", "POST"])
@org_page(Capability.READ)
def org_tokens(request: HttpRequest, organization: Organization, actor: Actor) -> HttpResponse:
    """The org's tokens the viewer may see, newest first; the form to make one (POST)."""
    if request.method == "POST":
        name, scopes = request.POST.get("name", "").strip(), request.POST.getlist("scopes")
        try:
            lifetime = _expiry(request.POST.get("expires_days", "").strip())
            if not name:
                raise DomainError("name: give the token a name that says where it is used", field="name")
            if len(name) > 100:
                raise DomainError("name: at most 100 characters", field="name")
        except DomainError as exc:
            messages.error(request, error_message(exc))
            return redirect("portal-org-tokens", slug=organization.slug)
        made: dict[str, str] = {}

        def issue() -> None:
            token, secret = tokens.token_issue(
                actor=actor,
                organization=organization,
                name=name,
                scopes=scopes,
                expires_at=timezone.now() + lifetime,
            )
            made.update(id=str(token.public_id), name=token.name, secret=secret)

        if act(request, issue, f"Token '{name}' created. Copy it now: it is shown only once."):
            secret_keep(request, organization, NEW_TOKEN, made)
        return redirect("portal-org-tokens", slug=organization.slug)

    context = org_context(
        actor,
        organization,
        "tokens",
        tokens=selectors.token_list(actor=actor, organization=organization),
        new_token=secret_take(request, organization, NEW_TOKEN),
        grantable=_grantable(actor, organization),
        default_days=settings.TOKEN_DEFAULT_LIFETIME.days,
        max_days=settings.TOKEN_MAX_LIFETIME.days,
        now=timezone.now(),
    )
    return no_store(render(request, "registry/org_tokens.html", context))


@require_POST
@org_page(Capability.READ)
def org_token_revoke(request: HttpRequest, organization: Organization, actor: Actor, token_id: str) -> HttpResponse:
    token = selectors.token_list(actor=actor, organization=organization).filter(public_id=token_id).first()
    if token is None:
        raise Http404("no such token that you can see")
    act(request, lambda: tokens.token_revoke(actor=actor, token=token), f"Token '{token.name}' revoked.")
    return redirect("portal-org-tokens", slug=organization.slug)
