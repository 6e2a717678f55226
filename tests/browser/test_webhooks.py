"""An owner's webhook journey in a real browser: register an endpoint, copy its secret (shown once),
watch a delivery appear in the log without reloading, replay it, switch the webhook off. The
`page` fixture runs axe on every page loaded."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from django.db import transaction
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from jobs.webhooks.delivery import delivery_execute
from registry.models import Sharing, Version, Webhook, WebhookDelivery
from tests import factories
from tests.conftest import Member
from tests.webhooks.receiver import Receiver, receiver_running
from tests.webhooks.test_delivery import documented_verify

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def receiver(settings: object) -> Iterator[Receiver]:
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    with receiver_running() as running:
        yield running


def test_an_owner_registers_a_webhook_and_watches_its_deliveries(
    signed_in: Callable[[Member], Page], live_server: LiveServer, alice: Member, receiver: Receiver
) -> None:
    page = signed_in(alice)
    page.goto(f"{live_server.url}/orgs/org-a/webhooks/")
    page.get_by_label("URL").fill(receiver.url)
    page.get_by_label("version.state_changed").check()
    page.get_by_role("button", name="Register webhook").click()
    expect(page.locator(".message-success")).to_contain_text("shown only once")
    secret = page.get_by_role("textbox", name="Secret").input_value()
    assert secret.startswith("whsec_")
    expect(page.get_by_text("Nothing delivered yet")).to_be_visible()

    artifact = factories.ArtifactFactory(organization=alice.organization, created_by=alice.user, sharing=Sharing.ORG)
    version = factories.VersionFactory(artifact=artifact, state=Version.State.IN_REVIEW, manifest_sha256="a" * 64)
    with transaction.atomic():
        version.transition(Version.State.APPROVED)
    delivery_execute(WebhookDelivery.objects.get().pk)
    [got] = receiver.received
    assert documented_verify()(secret, got.headers["Consortium-Signature"], got.body)

    log = page.locator("#deliveries")
    expect(log.get_by_text("succeeded")).to_be_visible(timeout=10_000)  # the log refreshes itself
    expect(log).to_contain_text("HTTP 200")
    log.get_by_role("button", name="Replay").click()
    expect(page.locator(".message-success")).to_contain_text("Replay queued")
    assert WebhookDelivery.objects.filter(replay_of__isnull=False).count() == 1
    page.reload()
    expect(page.get_by_role("textbox", name="Secret")).to_have_count(0)  # shown once

    page.get_by_role("button", name="Switch off").click()
    expect(page.locator(".message-success")).to_contain_text("switched off")
    assert not Webhook.objects.get().is_active
