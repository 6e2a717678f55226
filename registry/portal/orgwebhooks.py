"""An org's webhooks in the portal: owners register, switch, re-key, remove and replay; those who
read the audit log see the endpoints and their delivery logs (refreshed live while open).
A new secret is shown once, on the page right after it is made, and then forgotten."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from registry import selectors
from registry.actors import Actor
from registry.models import Event, Organization, Webhook
from registry.permissions import Capability
from registry.portal.actions import act
from registry.portal.orgadmin import no_store, org_context, org_page, secret_keep, secret_take
from registry.services import webhooks

NEW_SECRET = "new_webhook_secret"  # noqa: S105 - the session key, not a secret
DELIVERIES_SHOWN = 50


def _webhook(actor: Actor, organization: Organization, webhook_id: str) -> Webhook:
    webhook = selectors.webhook_list(actor=actor, organization=organization).filter(public_id=webhook_id).first()
    if webhook is None:
        raise Http404("no such webhook that you can see")
    return webhook


@require_http_methods(["GET", "POST"])
@org_page(Capability.AUDIT)
def org_webhooks(request: HttpRequest, organization: Organization, actor: Actor) -> HttpResponse:
    """The org's webhooks; the form to register one (POST, owners)."""
    if request.method == "POST":
        made: dict[str, str] = {}

        def create() -> None:
            webhook, secret = webhooks.webhook_create(
                actor=actor,
                organization=organization,
                url=request.POST.get("url", "").strip(),
                event_types=request.POST.getlist("event_types"),
                source=request.POST.get("source", Webhook.Source.OWN),
                description=request.POST.get("description", "").strip()[:200],
            )
            made.update(id=str(webhook.public_id), url=webhook.url, secret=secret)

        if act(request, create, "Webhook registered. Copy its signing secret now: it is shown only once."):
            secret_keep(request, organization, NEW_SECRET, made)
            return redirect("portal-org-webhook", slug=organization.slug, webhook_id=made["id"])
        return redirect("portal-org-webhooks", slug=organization.slug)
    context = org_context(
        actor,
        organization,
        "webhooks",
        webhooks=selectors.webhook_list(actor=actor, organization=organization),
        can_change=actor.can(organization.pk, Capability.WEBHOOKS),
        event_types=Event.Type.choices,
    )
    return render(request, "registry/org_webhooks.html", context)


@org_page(Capability.AUDIT)
def org_webhook(request: HttpRequest, organization: Organization, actor: Actor, webhook_id: str) -> HttpResponse:
    """One webhook and its delivery log, newest first; htmx polls the log while the page is open."""
    webhook = _webhook(actor, organization, webhook_id)
    context = org_context(
        actor,
        organization,
        "webhooks",
        webhook=webhook,
        deliveries=selectors.delivery_list(actor=actor, webhook=webhook).prefetch_related("attempt_log")[
            :DELIVERIES_SHOWN
        ],
        can_change=actor.can(organization.pk, Capability.WEBHOOKS),
    )
    if request.headers.get("HX-Request") == "true":  # the log's own refresh: it never takes the secret
        return render(request, "registry/_webhook_deliveries.html", context)
    kept = secret_take(request, organization, NEW_SECRET)
    if kept is not None and kept["id"] != str(webhook.public_id):
        secret_keep(request, organization, NEW_SECRET, kept)  # another webhook's: left for its own page
        kept = None
    context["new_secret"] = kept
    return no_store(render(request, "registry/org_webhook.html", context))


@require_POST
@org_page(Capability.WEBHOOKS)
def org_webhook_change(
    request: HttpRequest, organization: Organization, actor: Actor, webhook_id: str, operation: str
) -> HttpResponse:
    """Switch on or off, re-key, or remove a webhook."""
    webhook = _webhook(actor, organization, webhook_id)
    back = redirect("portal-org-webhook", slug=organization.slug, webhook_id=webhook.public_id)
    if operation in ("enable", "disable"):
        on = operation == "enable"
        act(
            request,
            lambda: webhooks.webhook_update(actor=actor, webhook=webhook, is_active=on),
            f"Webhook switched {'on' if on else 'off'}.",
        )
    elif operation == "rotate-secret":
        made = {"id": str(webhook.public_id)}

        def rotate() -> None:
            made["secret"] = webhooks.webhook_rotate_secret(actor=actor, webhook=webhook)

        if act(request, rotate, "New signing secret made; the old one no longer signs. Copy it now."):
            secret_keep(request, organization, NEW_SECRET, made)
    elif operation == "delete":
        if act(request, lambda: webhooks.webhook_delete(actor=actor, webhook=webhook), "Webhook removed."):
            return redirect("portal-org-webhooks", slug=organization.slug)
    else:
        raise Http404(f"no webhook operation '{operation}'")
    return back


@require_POST
@org_page(Capability.WEBHOOKS)
def org_webhook_replay(
    request: HttpRequest, organization: Organization, actor: Actor, webhook_id: str, delivery_id: str
) -> HttpResponse:
    webhook = _webhook(actor, organization, webhook_id)
    delivery = selectors.delivery_list(actor=actor, webhook=webhook).filter(public_id=delivery_id).first()
    if delivery is None:
        raise Http404("no such delivery of this webhook")
    act(request, lambda: webhooks.delivery_replay(actor=actor, delivery=delivery), "Replay queued.")
    return redirect("portal-org-webhook", slug=organization.slug, webhook_id=webhook.public_id)
