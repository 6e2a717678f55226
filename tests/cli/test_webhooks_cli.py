"""`consortium webhooks` against a live registry: register (the secret printed once), list, switch
off and on, re-key, remove; refusals (a private address, a token without the `webhooks` scope);
ids by prefix; and a delivery's log and its replay."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest
from consortium_cli import main as cli
from django.db import transaction
from django.utils import timezone

from registry.models import Event, Organization, Version, Webhook, WebhookAttempt, WebhookDelivery
from tests import factories
from tests.conftest import Member

pytestmark = pytest.mark.django_db(transaction=True)
HOOK = "http://127.0.0.1:9/hook"  # checked (it resolves to loopback, allowed here), never connected to
SECRET = re.compile(r"^secret: (\S+)$", re.MULTILINE)


@pytest.fixture
def owner(live_server, alice: Member, settings, monkeypatch, tmp_path: Path) -> Member:
    """alice (an owner of org-a) with a token scoped read and webhooks; loopback receivers allowed."""
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    monkeypatch.setenv("CONSORTIUM_URL", live_server.url)
    monkeypatch.setenv("CONSORTIUM_TOKEN", alice.token("read", "webhooks")[1])
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps at 80 columns when stdout is not a terminal
    return alice


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, " ".join(err.split())  # rich wraps long errors


def added(capsys: pytest.CaptureFixture, *events: str) -> dict:
    code, out, _ = run(capsys, "--json", "webhooks", "add", "--org", "org-a", HOOK, *(f"--event={e}" for e in events))
    assert code == 0
    return json.loads(out)


def test_add_list_switch_rotate_and_remove(owner: Member, capsys) -> None:
    code, out, _ = run(
        capsys, "webhooks", "add", "--org", "org-a", HOOK, "--event", "version.state_changed",
        "--event", "review.decided", "--description", "CI trigger",
    )  # fmt: skip
    assert code == 0
    webhook = Webhook.objects.get(organization=owner.organization)
    secret = SECRET.findall(out)
    assert len(secret) == 1
    assert out.count(secret[0]) == 1
    assert "Save this secret now: it is not shown again" in out
    assert "docs/webhooks.md" in out
    assert str(webhook.public_id) in out
    assert (webhook.url, webhook.event_types, webhook.description) == (
        HOOK,
        ["review.decided", "version.state_changed"],
        "CI trigger",
    )

    code, out, _ = run(capsys, "webhooks", "list", "--org", "org-a")
    assert code == 0
    row = next(line for line in out.splitlines() if HOOK in line)
    assert str(webhook.public_id)[:8] in row
    assert "review.decided, version.state_changed" in row
    assert "active" in row
    assert secret[0] not in out

    prefix = str(webhook.public_id)[:8]
    code, out, _ = run(capsys, "webhooks", "disable", "--org", "org-a", prefix)
    assert code == 0
    assert "switched off" in out
    assert "switched off by alice" in run(capsys, "webhooks", "list", "--org", "org-a")[1]
    webhook.refresh_from_db()
    assert not webhook.is_active

    assert run(capsys, "webhooks", "enable", "--org", "org-a", str(webhook.public_id))[:2] == (
        0,
        f"webhook {webhook.public_id} ({HOOK}): active\n",
    )
    webhook.refresh_from_db()
    assert webhook.is_active

    code, out, _ = run(capsys, "webhooks", "rotate-secret", "--org", "org-a", prefix)
    assert code == 0
    rotated = SECRET.findall(out)
    assert len(rotated) == 1
    assert rotated[0] != secret[0]
    assert "Save this secret now: it is not shown again" in out

    code, out, _ = run(capsys, "webhooks", "remove", "--org", "org-a", prefix)
    assert code == 0
    assert f"removed webhook {webhook.public_id} ({HOOK})" in out
    assert not Webhook.objects.exists()
    assert run(capsys, "--json", "webhooks", "list", "--org", "org-a")[:2] == (0, "[]\n")


def test_a_private_address_is_refused_with_the_registrys_reason(owner: Member, settings, capsys) -> None:
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    code, out, err = run(
        capsys, "webhooks", "add", "--org", "org-a", "http://10.0.0.5/hook", "--event", "version.withdrawn"
    )
    assert code == 2
    assert out == ""
    assert "resolves to 10.0.0.5, a private address" in err
    assert "(HTTP 400)" in err
    assert not Webhook.objects.exists()

    code, _, err = run(capsys, "webhooks", "add", "--org", "org-a", HOOK, "--event", "no.such_type")
    assert code == 2
    assert "no.such_type" in err


def test_a_token_without_the_webhooks_scope_reads_but_cannot_change(
    live_server, owner: Member, monkeypatch, capsys
) -> None:
    webhook = added(capsys, "step.errored")
    monkeypatch.setenv("CONSORTIUM_TOKEN", owner.token("read")[1])
    assert run(capsys, "webhooks", "list", "--org", "org-a")[0] == 0

    for argv in (
        ("add", "--org", "org-a", HOOK, "--event", "step.errored"),
        ("disable", "--org", "org-a", webhook["id"]),
        ("rotate-secret", "--org", "org-a", webhook["id"]),
        ("remove", "--org", "org-a", webhook["id"]),
    ):
        code, out, err = run(capsys, "webhooks", *argv)
        assert code == 2, argv
        assert out == ""
        assert "cannot 'webhooks' in 'org-a' (HTTP 403)" in err
        assert "needs a token with the `webhooks` scope" in err
    assert Webhook.objects.get().is_active


def test_ids_by_prefix_say_when_none_or_several_match(owner: Member, org_b: Organization, capsys) -> None:
    first, second = added(capsys, "step.errored"), added(capsys, "step.errored")
    Webhook.objects.filter(public_id=first["id"]).update(public_id=uuid.UUID("abcdef12-1000-4000-8000-000000000001"))
    Webhook.objects.filter(public_id=second["id"]).update(public_id=uuid.UUID("abcdef12-2000-4000-8000-000000000002"))

    code, out, err = run(capsys, "webhooks", "show", "--org", "org-a", "abcdef12")
    assert (code, out) == (2, "")
    assert "'abcdef12' starts the ids of 2 webhooks in 'org-a'" in err
    assert "abcdef12-1000-4000-8000-000000000001" in err
    code, out, _ = run(capsys, "--json", "webhooks", "show", "--org", "org-a", "ABCDEF12-2")
    assert code == 0
    assert json.loads(out)["id"] == "abcdef12-2000-4000-8000-000000000002"
    assert "too short" in run(capsys, "webhooks", "show", "--org", "org-a", "abcdef1")[2]
    assert (
        "no webhook in 'org-a' has an id starting with 'fedcba98'"
        in run(capsys, "webhooks", "disable", "--org", "org-a", "fedcba98")[2]
    )
    missing = str(uuid.uuid4())
    assert (
        f"no webhook {missing} in 'org-a' that you can see"
        in run(capsys, "webhooks", "enable", "--org", "org-a", missing)[2]
    )
    assert (
        f"no webhook {missing} in 'org-b' that you can see"
        in run(capsys, "webhooks", "enable", "--org", "org-b", missing)[2]
    )
    code, out, _ = run(capsys, "--json", "webhooks", "disable", "--org", "org-a", "abcdef121")
    assert code == 0  # dashes and case aside
    assert json.loads(out)["id"] == "abcdef12-1000-4000-8000-000000000001"
    code, out, _ = run(capsys, "--json", "webhooks", "disable", "--org", "org-a", "ABCDEF12200040008000000000000002")
    assert code == 0  # 32 hex digits: a full id
    assert json.loads(out)["is_active"] is False
    assert not Webhook.objects.filter(is_active=True).exists()


def test_the_delivery_log_one_delivery_and_a_replay(owner: Member, capsys) -> None:
    artifact = factories.ArtifactFactory(organization=owner.organization, created_by=owner.user, slug="tiny")
    version = factories.VersionFactory(artifact=artifact, number="1.0", state=Version.State.CHECKING)
    with transaction.atomic():
        version.transition(Version.State.IN_REVIEW)  # records the event, before any webhook exists
    event = Event.objects.get(version=version)
    hook = added(capsys, "version.state_changed")
    delivery = WebhookDelivery.objects.create(
        webhook=Webhook.objects.get(),
        event=event,
        status=WebhookDelivery.Status.FAILED,
        attempts=2,
        last_status_code=503,
        last_latency_ms=41,
        last_error="the receiver answered HTTP 503",
    )
    WebhookAttempt.objects.create(delivery=delivery, number=1, error="connection refused")
    WebhookAttempt.objects.create(
        delivery=delivery, number=2, status_code=503, latency_ms=41, error="the receiver answered HTTP 503",
        response_prefix="upstream\nis down",
    )  # fmt: skip
    short, hook_short = str(delivery.public_id)[:8], hook["id"][:8]

    code, out, _ = run(capsys, "webhooks", "deliveries", "--org", "org-a", hook_short)
    assert code == 0
    row = next(line for line in out.splitlines() if short in line)
    for cell in ("version.state_changed", "org-a/tiny@1.0", "failed", "503", "41", "the receiver answered HTTP 503"):
        assert cell in row

    Webhook.objects.update(
        is_active=False,
        consecutive_failures=20,
        disabled_at=timezone.now(),
        disabled_reason="switched off after 20 failed attempts in a row",
    )
    code, out, _ = run(capsys, "webhooks", "show", "--org", "org-a", hook_short)
    assert code == 0
    assert HOOK in out
    assert "switched off after 20 failed attempts in a row since " in out
    assert "20 in a row" in out
    assert short in out

    code, out, _ = run(capsys, "webhooks", "delivery", "--org", "org-a", hook_short, short)
    assert code == 0
    assert f"delivery {delivery.public_id} to {HOOK}" in out
    assert "failed after 2 attempt(s)" in out
    assert "connection refused" in out
    assert "upstream is down" in out
    attempt = next(line for line in out.splitlines() if "upstream" in line)
    assert "503" in attempt
    assert "41" in attempt

    code, out, err = run(capsys, "webhooks", "replay", "--org", "org-a", hook["id"], str(delivery.public_id))
    assert (code, out) == (2, "")
    assert "this webhook is switched off; switch it on before replaying its deliveries (HTTP 409)" in err
    assert run(capsys, "webhooks", "enable", "--org", "org-a", hook_short)[0] == 0
    assert Webhook.objects.get().consecutive_failures == 0
    code, out, _ = run(capsys, "webhooks", "replay", "--org", "org-a", hook["id"], str(delivery.public_id))
    assert code == 0
    replay = WebhookDelivery.objects.get(replay_of=delivery)
    assert out == f"replaying delivery {delivery.public_id} as {replay.public_id} (pending)\n"
    assert replay.requested_by == owner.user

    code, out, _ = run(capsys, "--json", "webhooks", "deliveries", "--org", "org-a", hook_short, "--limit", "1")
    assert code == 0
    assert [d["id"] for d in json.loads(out)] == [str(replay.public_id)]  # newest first

    code, _, err = run(capsys, "webhooks", "delivery", "--org", "org-a", hook_short, "00000000")
    assert code == 2
    assert f"no delivery of webhook {hook_short} has an id starting with '00000000'" in err
