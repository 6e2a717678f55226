"""Benchmark: what events cost the change that records them, and what a webhook delivery costs
beyond the HTTP request itself, on the embedded default (SQLite in a scratch directory) and on the
local Postgres (a throwaway database), each in its own process.

- Recording: a consortium-shared version moving into review, timed from the change's start to
  its commit (the event, its notifications and its webhook deliveries are written in that
  transaction; the deliveries are then handed to a worker in one message). Baseline, in the same
  run: the same change with nobody to tell. Loaded: 300 member orgs with 2 webhooks each asking
  for state changes of every version they see (600 deliveries per event), 30 members
  in the version's org and 40 reviewers elsewhere (70 notifications).
- Delivering: `delivery_execute` (claim, visibility re-check, body, signature, SSRF-checked POST
  pinned to the checked address, attempt log) against a receiver on 127.0.0.1, versus a bare
  urllib3 POST of the same body to the same receiver.

    make bench
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.database import recreate_database, run_on

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ORGS, HOOKS_PER_ORG, MEMBERS, REVIEWERS, EVENTS, DELIVERIES = 300, 2, 30, 40, 60, 200
BROKER_URL = os.environ.get("BENCH_EVENTS_BROKER_URL", "redis://127.0.0.1:6379/12")
POSTGRES_URL = os.environ.get("BENCH_EVENTS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/consortium_bench_events")
NAMES = {"sqlite": "SQLite (embedded default)", "postgres": "Postgres"}


def p(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(len(ordered) * share) - 1)]


def record_times(version: Any, count: int) -> list[float]:
    """Move `version` checking → in_review `count` times (reset between, without an event)."""
    from django.db import transaction

    from registry.models import Version

    State = Version.State
    times = []
    for _ in range(count):
        Version.objects.filter(pk=version.pk).update(state=State.CHECKING)
        version.refresh_from_db()
        started = time.perf_counter()
        with transaction.atomic():
            version.transition(State.IN_REVIEW)
        times.append((time.perf_counter() - started) * 1000)
    return times


def seed(subject: Any) -> None:
    from registry.models import Event, Membership, Organization, User, Webhook
    from registry.permissions import Role
    from registry.webhook_secrets import secret_encrypt, secret_new

    secret = secret_encrypt(secret_new())
    orgs = Organization.objects.bulk_create(
        Organization(slug=f"lab-{i}", name=f"Lab {i}", country="FR", hub_namespace=f"lab-{i}") for i in range(ORGS)
    )
    Webhook.objects.bulk_create(
        Webhook(
            organization=org,
            url=f"https://lab-{org.pk}.example/hooks/{n}",
            event_types=[Event.Type.VERSION_STATE_CHANGED],
            source=Webhook.Source.VISIBLE,
            secret_encrypted=secret,
        )
        for org in orgs
        for n in range(HOOKS_PER_ORG)
    )
    people = User.objects.bulk_create(
        [User(username=f"member-{i}", email=f"m{i}@lab.example") for i in range(MEMBERS)]
        + [User(username=f"reviewer-{i}", email=f"r{i}@lab.example", is_reviewer=True) for i in range(REVIEWERS)]
    )
    Membership.objects.bulk_create(
        Membership(user=u, organization=subject if u.username.startswith("member") else orgs[i], role=Role.VIEWER)
        for i, u in enumerate(people)
    )


def run() -> dict[str, Any]:
    import django

    django.setup()
    import urllib3
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from jobs.webhooks.delivery import body_of, delivery_execute
    from registry.models import Artifact, Event, Organization, Sharing, User, Version, Webhook, WebhookDelivery
    from registry.webhook_secrets import secret_encrypt, secret_new
    from tests.webhooks.receiver import receiver_running

    call_command("migrate", verbosity=0)
    subject = Organization.objects.create(slug="aurora", name="Aurora", country="FR", hub_namespace="aurora")
    owner = User.objects.create(username="owner")
    artifact = Artifact.objects.create(
        organization=subject, slug="tiny", kind="checkpoint", sharing=Sharing.CONSORTIUM, created_by=owner
    )
    version = Version.objects.create(
        artifact=artifact, number="1.0.0", state=Version.State.CHECKING, created_by=owner, manifest_sha256="a" * 64
    )
    record_times(version, 5)  # warm up
    baseline = record_times(version, EVENTS)
    seed(subject)
    record_times(version, 2)
    loaded = record_times(version, EVENTS)
    made = WebhookDelivery.objects.count() / (EVENTS + 2)
    WebhookDelivery.objects.all().delete()
    Webhook.objects.all().delete()

    with receiver_running() as receiver:
        webhook = Webhook.objects.create(
            organization=subject,
            url=receiver.url,
            event_types=[Event.Type.VERSION_STATE_CHANGED],
            secret_encrypted=secret_encrypt(secret_new()),
        )
        event = Event.objects.filter(version=version).first()
        assert event is not None
        rows = WebhookDelivery.objects.bulk_create(
            WebhookDelivery(webhook=webhook, event=event, next_attempt_at=timezone.now()) for _ in range(DELIVERIES)
        )
        sent = []
        for row in rows:
            started = time.perf_counter()
            outcome = delivery_execute(row.pk)
            sent.append((time.perf_counter() - started) * 1000)
            assert outcome == "succeeded", outcome
        body, port = body_of(event), urlsplit(receiver.url).port
        bare = []
        for _ in range(DELIVERIES):
            started = time.perf_counter()
            pool = urllib3.HTTPConnectionPool("127.0.0.1", port, retries=False)
            answer = pool.request("POST", "/hook", body=body, headers={"Content-Type": "application/json"})
            pool.close()
            assert answer.status == 200
            bare.append((time.perf_counter() - started) * 1000)
        assert len(receiver.received) == 2 * DELIVERIES
    return {
        "vendor": connection.vendor,
        "baseline_p50": statistics.median(baseline),
        "baseline_p95": p(baseline, 0.95),
        "loaded_p50": statistics.median(loaded),
        "loaded_p95": p(loaded, 0.95),
        "deliveries_per_event": made,
        "notifications_per_event": MEMBERS + REVIEWERS,
        "send_p50": statistics.median(sent),
        "send_p95": p(sent, 0.95),
        "bare_p50": statistics.median(bare),
    }


def backend(url: str) -> dict[str, Any]:
    return run_on(
        "bench.events",
        url,
        WEBHOOK_ALLOWED_NETWORKS="127.0.0.1/32",
        # The events' hand-over messages go to a Redis database of their own, emptied afterwards.
        CELERY_BROKER_URL=BROKER_URL,
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
    )


def main() -> int:
    import redis

    results = {}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-events-") as scratch:
            results["sqlite"] = backend(f"sqlite:///{scratch}/db.sqlite3")
        recreate_database(POSTGRES_URL)
        results["postgres"] = backend(POSTGRES_URL)
    finally:
        redis.Redis.from_url(BROKER_URL).flushdb()
    first = results["sqlite"]
    print(
        f"events: {EVENTS} state changes of a consortium-shared version; loaded: {first['deliveries_per_event']:.0f} "
        f"webhook deliveries and {first['notifications_per_event']} notifications each; {DELIVERIES} deliveries sent"
    )
    for name, f in results.items():
        print(
            f"  {NAMES[name]:<26} record: baseline p50 {f['baseline_p50']:6.1f} ms, "
            f"loaded p50 {f['loaded_p50']:6.1f} ms p95 {f['loaded_p95']:6.1f} ms "
            f"(+{f['loaded_p50'] - f['baseline_p50']:.1f} ms, "
            f"{f['loaded_p50'] / f['baseline_p50']:.1f}x)"
        )
        print(
            f"  {'':<26} send: p50 {f['send_p50']:5.1f} ms p95 {f['send_p95']:5.1f} ms vs a bare POST "
            f"p50 {f['bare_p50']:5.1f} ms ({f['send_p50'] / f['bare_p50']:.1f}x)"
        )
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--run"]:
        print(json.dumps(run()))
        sys.exit(0)
    sys.exit(main())
