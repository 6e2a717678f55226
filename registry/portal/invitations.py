"""Invitations in the portal: an org's owners invite and revoke (`/orgs/<slug>/invitations/`), and
the link page (`/invitations/<secret>/`) where the invited person joins, signed in or with a new
account. The link is shown to the owner once, right after it is made."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.core.mail import send_mail
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from registry import selectors
from registry.actors import Actor
from registry.models import Organization, User
from registry.permissions import Capability, Role
from registry.portal.actions import act
from registry.portal.context import SESSION_KEY
from registry.portal.orgadmin import no_store, org_context, org_page, secret_keep, secret_take
from registry.services import invitations

NEW_INVITATION = "new_invitation"


@require_http_methods(["GET", "POST"])
@org_page(Capability.ADMIN)
def org_invitations(request: HttpRequest, organization: Organization, actor: Actor) -> HttpResponse:
    """The org's invitations in every state, and the form to invite someone (POST)."""
    if request.method == "POST":
        email, role = request.POST.get("email", ""), request.POST.get("role", "")
        made: dict[str, str] = {}

        def invite() -> None:
            invitation, secret = invitations.invitation_create(
                actor=actor, organization=organization, email=email, role=role
            )
            url = request.build_absolute_uri(reverse("portal-invitation", kwargs={"secret": secret}))
            made.update(email=invitation.email, role=invitation.role, url=url)

        if act(request, invite, f"Invitation for {email.strip()} created. Copy the link now: it is shown only once."):
            secret_keep(request, organization, NEW_INVITATION, made)
            _mail(request, organization, made)
        return redirect("portal-org-invitations", slug=organization.slug)

    context = org_context(
        actor,
        organization,
        "invitations",
        invitations=selectors.invitation_list(actor=actor, organization=organization),
        new_invitation=secret_take(request, organization, NEW_INVITATION),
        roles=Role.choices,
    )
    return no_store(render(request, "registry/org_invitations.html", context))


def _mail(request: HttpRequest, organization: Organization, made: dict[str, str]) -> None:
    """Send the link to the invited address too; when mail fails the owner still has the link."""
    if settings.EMAIL_BACKEND == "django.core.mail.backends.dummy.EmailBackend":
        messages.info(request, "No email is sent from this registry (EMAIL_BACKEND is not set): send them the link.")
        return
    body = (
        f"{request.user} invites you to join {organization.name} on the consortium registry as {made['role']}.\n\n"
        f"Open this link to accept (it works once, until it expires):\n{made['url']}\n"
    )
    try:
        send_mail(f"Join {organization.name} on the consortium registry", body, None, [made["email"]])
    except OSError as exc:
        messages.warning(request, f"The email to {made['email']} could not be sent ({exc}): send them the link.")
    else:
        messages.info(request, f"The link was also emailed to {made['email']}.")


@require_POST
@org_page(Capability.ADMIN)
def org_invitation_revoke(
    request: HttpRequest, organization: Organization, actor: Actor, invitation_id: str
) -> HttpResponse:
    found = selectors.invitation_list(actor=actor, organization=organization).filter(public_id=invitation_id).first()
    if found is None:
        raise Http404("no such invitation of this organization")
    act(
        request,
        lambda: invitations.invitation_revoke(actor=actor, invitation=found),
        f"The invitation of {found.email} is revoked: its link no longer works.",
    )
    return redirect("portal-org-invitations", slug=organization.slug)


@require_http_methods(["GET", "POST"])
def invitation_page(request: HttpRequest, secret: str) -> HttpResponse:
    """What an invitation link opens: who invites whom to what, and how to join, or why it can't be used."""
    invitation = invitations.invitation_lookup(secret)
    reason = invitations.unusable_reason(invitation)
    if invitation is None or reason:
        status = 404 if invitation is None else 410
        return no_store(render(request, "registry/invitation.html", {"reason": reason}, status=status))

    user = request.user if request.user.is_authenticated else None
    if request.method == "POST":
        if user is not None:
            joined = act(
                request,
                lambda: invitations.invitation_accept(actor=Actor.of(request), secret=secret),
                f"Welcome to {invitation.organization.name}: you joined as {invitation.role}.",
            )
        elif request.POST.get("password", "") != request.POST.get("password_again", ""):
            messages.error(request, "password: the two passwords differ; type the same one twice.")
            joined = False
        else:
            created: dict[str, User] = {}

            def join() -> None:
                membership = invitations.invitation_accept_new_user(
                    secret=secret, username=request.POST.get("username", ""), password=request.POST.get("password", "")
                )
                created["user"] = membership.user

            joined = act(
                request,
                join,
                f"Welcome to {invitation.organization.name}: your account is ready; you joined as {invitation.role}.",
            )
            if joined:
                login(request, created["user"], backend="django.contrib.auth.backends.ModelBackend")
        if joined:
            request.session[SESSION_KEY] = invitation.organization.slug
            return redirect("portal-org", slug=invitation.organization.slug)
        return redirect("portal-invitation", secret=secret)

    email_matches = user is not None and (user.email or "").casefold() == invitation.email.casefold()
    context = {
        "invitation": invitation,
        "email_matches": email_matches,
    }
    return no_store(render(request, "registry/invitation.html", context))
