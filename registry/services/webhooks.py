"""Webhooks of an org: registered, changed, switched on and off, re-keyed, removed and replayed by
its owners (or their tokens with the `webhooks` scope); and the deliveries each event makes.

An event makes a delivery for each active webhook that asks for its type, in the event's own
transaction, and only when the webhook's org can see the event's version: what a member of the
org sees, never more (the pipeline re-checks when it sends).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from jobs.webhooks.outbound import OutboundRefused, display, url_check
from registry.actors import Actor
from registry.errors import Conflict, DomainError
from registry.models import Event, Organization, Webhook, WebhookDelivery
from registry.permissions import Capability
from registry.services.audit import audit_record
from registry.webhook_secrets import secret_encrypt, secret_new

SYSTEM = "webhooks"
MAX_PER_ORG = 50


def _event_types(event_types: list[str]) -> list[str]:
    unknown = sorted(set(event_types) - set(Event.Type.values))
    if unknown or not event_types:
        raise DomainError(
            f"event_types must be a non-empty list of {sorted(Event.Type.values)}; got {unknown or event_types}",
            field="event_types",
        )
    return sorted(set(event_types))


def _source(source: str) -> str:
    if source not in Webhook.Source.values:
        raise DomainError(f"source must be one of {Webhook.Source.values}; got {source!r}", field="source")
    return source


def _url(url: str) -> str:
    try:
        url_check(url)
    except OutboundRefused as exc:
        raise DomainError(str(exc), field="url") from None
    return url


def webhook_create(
    *,
    actor: Actor,
    organization: Organization,
    url: str,
    event_types: list[str],
    description: str = "",
    source: str = Webhook.Source.OWN,
) -> tuple[Webhook, str]:
    """Register an endpoint. The signing secret is returned once; it is stored encrypted."""
    actor.require(organization, Capability.WEBHOOKS)
    event_types, source = _event_types(event_types), _source(source)
    url = _url(url)  # the URL check resolves DNS: before any lock
    return _webhook_insert(actor, organization, url, event_types, description, source)


@transaction.atomic(durable=True)
def _webhook_insert(
    actor: Actor, organization: Organization, url: str, event_types: list[str], description: str, source: str
) -> tuple[Webhook, str]:
    if Webhook.objects.filter(organization=organization).count() >= MAX_PER_ORG:
        raise Conflict(f"'{organization.slug}' already has {MAX_PER_ORG} webhooks; remove one first")
    secret = secret_new()
    webhook = Webhook.objects.create(
        organization=organization,
        url=url,
        event_types=event_types,
        source=source,
        description=description,
        secret_encrypted=secret_encrypt(secret),
        created_by=actor.user,
    )
    audit_record(
        actor=actor,
        action="webhook.created",
        target=webhook,
        organization=organization,
        data={"url": display(url), "event_types": event_types, "source": source},
    )
    return webhook, secret


def webhook_update(
    *,
    actor: Actor,
    webhook: Webhook,
    url: str | None = None,
    event_types: list[str] | None = None,
    description: str | None = None,
    source: str | None = None,
    is_active: bool | None = None,
) -> Webhook:
    """Change an endpoint. Switching it on again clears its run of failures."""
    actor.require(webhook.organization, Capability.WEBHOOKS)
    if url is not None:
        _url(url)  # the URL check resolves DNS: before the row is locked
    with transaction.atomic(durable=True):
        webhook = Webhook.objects.select_for_update().get(pk=webhook.pk)
        changed: dict[str, Any] = {}
        if source is not None and source != webhook.source:
            webhook.source = changed["source"] = _source(source)
        return _webhook_change(actor, webhook, changed, url, event_types, description, is_active)


def _webhook_change(
    actor: Actor,
    webhook: Webhook,
    changed: dict[str, Any],
    url: str | None,
    event_types: list[str] | None,
    description: str | None,
    is_active: bool | None,
) -> Webhook:
    if url is not None and url != webhook.url:
        webhook.url, changed["url"] = url, display(url)  # the audit log keeps no path (it may hold a secret)
    if event_types is not None and sorted(set(event_types)) != webhook.event_types:
        webhook.event_types = changed["event_types"] = _event_types(event_types)
    if description is not None and description != webhook.description:
        webhook.description = description
        changed["description"] = description
    if is_active is not None and is_active != webhook.is_active:
        webhook.is_active = changed["is_active"] = is_active
        if is_active:
            webhook.consecutive_failures, webhook.disabled_at, webhook.disabled_reason = 0, None, ""
        else:
            webhook.disabled_at, webhook.disabled_reason = timezone.now(), f"switched off by {actor.label}"
    if changed:
        webhook.save()
        audit_record(
            actor=actor, action="webhook.changed", target=webhook, organization=webhook.organization, data=changed
        )
    return webhook


@transaction.atomic(durable=True)
def webhook_rotate_secret(*, actor: Actor, webhook: Webhook) -> str:
    """A new signing secret, returned once; deliveries from now on are signed with it."""
    actor.require(webhook.organization, Capability.WEBHOOKS)
    secret = secret_new()
    Webhook.objects.filter(pk=webhook.pk).update(secret_encrypted=secret_encrypt(secret), updated_at=timezone.now())
    audit_record(actor=actor, action="webhook.secret_rotated", target=webhook, organization=webhook.organization)
    return secret


@transaction.atomic(durable=True)
def webhook_delete(*, actor: Actor, webhook: Webhook) -> None:
    """Remove an endpoint with its delivery log; deliveries not yet sent are never sent."""
    actor.require(webhook.organization, Capability.WEBHOOKS)
    audit_record(
        actor=actor,
        action="webhook.deleted",
        target=webhook,
        organization=webhook.organization,
        data={"url": display(webhook.url)},
    )
    webhook.delete()


def event_visible_to_org(event: Event, organization_id: int) -> bool:
    """Whether a member of the org (a webhook's reader) can see the event's version now."""
    return organization_id in Event.objects.orgs_seeing(event, {organization_id})


@transaction.atomic(durable=True)
def delivery_replay(*, actor: Actor, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery's event again, as a new delivery with its own log."""
    from jobs.webhooks.delivery import deliveries_dispatch

    webhook = delivery.webhook
    actor.require(webhook.organization, Capability.WEBHOOKS)
    if not webhook.is_active:
        raise Conflict("this webhook is switched off; switch it on before replaying its deliveries")
    if not event_visible_to_org(delivery.event, webhook.organization_id):
        raise Conflict(f"'{webhook.organization.slug}' can no longer see this event's version; it is not sent")
    replay = WebhookDelivery.objects.create(
        webhook=webhook,
        event=delivery.event,
        replay_of=delivery,
        requested_by=actor.user,
        next_attempt_at=timezone.now(),
    )
    audit_record(
        actor=actor,
        action="webhook.replayed",
        target=webhook,
        organization=webhook.organization,
        data={"delivery": str(delivery.public_id), "replay": str(replay.public_id)},
    )
    transaction.on_commit(lambda: deliveries_dispatch([replay.pk]), robust=True)
    return replay


def on_event(sender: Any, event: Event, **_: Any) -> None:
    """The `event_recorded` receiver: one delivery per active webhook asking for this type, of the
    event's org (or of any org, for a webhook whose source is `visible`) that can see the event,
    sent once the change commits (the reconciler sends what that misses)."""
    from jobs.webhooks.delivery import deliveries_dispatch_later

    by_org: dict[int, list[Webhook]] = defaultdict(list)
    asking = Webhook.objects.filter(
        Q(source=Webhook.Source.VISIBLE) | Q(organization_id=event.organization_id), is_active=True
    )
    for webhook in asking.only("pk", "organization_id", "event_types"):
        if event.type in webhook.event_types:
            by_org[webhook.organization_id].append(webhook)
    now = timezone.now()
    seeing = Event.objects.orgs_seeing(event, set(by_org))
    deliveries = [
        WebhookDelivery(webhook=webhook, event=event, next_attempt_at=now)
        for organization_id, webhooks in by_org.items()
        if organization_id in seeing
        for webhook in webhooks
    ]
    if deliveries:
        ids = [d.pk for d in WebhookDelivery.objects.bulk_create(deliveries)]
        # One message per event, whatever its fan-out: the change's request never waits on hundreds
        # of sends; a worker sends one message per delivery (deliveries_dispatch).
        transaction.on_commit(lambda: deliveries_dispatch_later(ids), robust=True)
