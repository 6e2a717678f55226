"""Webhooks and their delivery logs in the cross-org matrix: read by those who read the org's audit
log, changed only with the `webhooks` capability (owners, and their tokens with that scope),
never found under another org's URLs; the portal's pages follow the same rule."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.test import Client

from registry.models import Event, Organization, Version, Webhook, WebhookDelivery
from registry.permissions import Capability
from registry.webhook_secrets import secret_encrypt, secret_new
from tests.api.test_isolation_matrix import _org_page_status, can, client_for, read_status, results
from tests.api.world import ACTORS, ActorSpec, World, build_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world() -> World:
    return build_world()


def hook_of(organization: Organization) -> tuple[Webhook, WebhookDelivery]:
    version = Version.objects.filter(artifact__organization=organization).first()
    assert version is not None
    with transaction.atomic():
        event = Event.record(type=Event.Type.VERSION_STATE_CHANGED, version=version, payload={})
    webhook = Webhook.objects.create(
        organization=organization,
        url=f"https://{organization.slug}.example/hook",
        event_types=[Event.Type.VERSION_STATE_CHANGED],
        secret_encrypted=secret_encrypt(secret_new()),
    )
    return webhook, WebhookDelivery.objects.create(webhook=webhook, event=event, status="succeeded", attempts=1)


def reads(spec: ActorSpec, slug: str) -> bool:
    return spec.steward or can(spec, slug, Capability.AUDIT)


@pytest.mark.parametrize("spec", ACTORS, ids=lambda s: s.name)
def test_webhooks_are_read_by_auditors_and_changed_by_owners(world: World, spec: ActorSpec, settings) -> None:
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    client = client_for(world, spec)
    hooks = {slug: hook_of(org) for slug, org in world.orgs.items() if slug in ("org-a", "org-b")}
    for slug, (webhook, delivery) in hooks.items():
        other, other_delivery = hooks["org-b" if slug == "org-a" else "org-a"]
        base = f"/api/v1/organizations/{slug}/webhooks/"
        visible = world.sees_org(spec, slug)
        listed = client.get(base)
        detail = client.get(f"{base}{webhook.public_id}/")
        deliveries = client.get(f"{base}{webhook.public_id}/deliveries/")
        one = client.get(f"{base}{webhook.public_id}/deliveries/{delivery.public_id}/")
        if spec.username is None:
            assert {listed.status_code, detail.status_code, deliveries.status_code, one.status_code} == {401}
            continue
        if not spec.can_read:
            assert {listed.status_code, detail.status_code, deliveries.status_code, one.status_code} == {403}
        elif not visible:
            assert {listed.status_code, detail.status_code, deliveries.status_code, one.status_code} == {404}
        else:
            shown = reads(spec, slug)
            assert {w["id"] for w in results(listed)} == ({str(webhook.public_id)} if shown else set())
            assert detail.status_code == read_status(spec, shown)
            assert one.status_code == read_status(spec, shown)
            assert "secret" not in detail.json() if shown else True
            # another org's webhook or delivery under this org's URL is never found
            assert client.get(f"{base}{other.public_id}/").status_code == 404
            assert client.get(f"{base}{webhook.public_id}/deliveries/{other_delivery.public_id}/").status_code == 404
        writes = {
            "create": client.post(base, {"url": "https://93.184.215.14/x", "event_types": ["step.errored"]}),
            "patch": client.patch(f"{base}{webhook.public_id}/", {"description": "changed"}),
            "rotate": client.post(f"{base}{webhook.public_id}/rotate-secret/"),
            "replay": client.post(f"{base}{webhook.public_id}/deliveries/{delivery.public_id}/replay/"),
        }
        allowed = can(spec, slug, Capability.WEBHOOKS)
        for name, response in writes.items():
            expected = (200, 201, 202) if allowed else (401, 403, 404)
            assert response.status_code in expected, (name, spec.name, response.content)
        assert Webhook.objects.filter(organization__slug=slug).count() == (2 if allowed else 1)
        webhook.refresh_from_db()
        assert (webhook.description == "changed") == allowed
        assert WebhookDelivery.objects.filter(replay_of=delivery).exists() == allowed
        deleted = client.delete(f"{base}{webhook.public_id}/")
        assert (deleted.status_code == 204) == allowed
        assert Webhook.objects.filter(pk=webhook.pk).exists() != allowed


@pytest.mark.parametrize("spec", [s for s in ACTORS if s.token_org is None], ids=lambda s: s.name)
def test_the_portals_webhook_pages_follow_the_same_rule(world: World, spec: ActorSpec) -> None:
    client = Client()
    if spec.username is not None:
        client.force_login(world.users[spec.username])
    hooks = {slug: hook_of(org) for slug, org in world.orgs.items() if slug in ("org-a", "org-b")}
    for slug, (webhook, delivery) in hooks.items():
        other, _ = hooks["org-b" if slug == "org-a" else "org-a"]
        assert client.get(f"/orgs/{slug}/webhooks/").status_code == _org_page_status(spec, slug, Capability.AUDIT)
        page = client.get(f"/orgs/{slug}/webhooks/{webhook.public_id}/")
        assert page.status_code == _org_page_status(spec, slug, Capability.AUDIT)
        if page.status_code == 200:
            assert webhook.url in page.content.decode()
        expected = _org_page_status(spec, slug, Capability.WEBHOOKS, write=True)
        foreign = client.post(f"/orgs/{slug}/webhooks/{other.public_id}/disable/")
        assert foreign.status_code == (404 if expected == 200 else expected)
        replay = client.post(f"/orgs/{slug}/webhooks/{webhook.public_id}/deliveries/{delivery.public_id}/replay/")
        assert replay.status_code == (302 if expected == 200 else expected)
        assert WebhookDelivery.objects.filter(replay_of=delivery).exists() == (expected == 200)
        off = client.post(f"/orgs/{slug}/webhooks/{webhook.public_id}/disable/")
        assert off.status_code == (302 if expected == 200 else expected)
        webhook.refresh_from_db()
        assert webhook.is_active != (expected == 200)
