"""Faults on real parts: a Celery worker process SIGKILLed mid-step, and Redis down while a
version is finalized through the API."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kombu.pools
import pytest
import redis
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from consortium.celery import app
from consortium.embedded import Service, free_port_block, redis_start, start_process, wait_until
from jobs import pipeline
from jobs.models import Step
from registry.models import AuditEvent, Version
from registry.services.uploads import version_finalize
from tests.conftest import Member, bearer
from tests.corpus.models import clean_checkpoint
from tests.jobs.conftest import StoredVersion

pytestmark = pytest.mark.django_db(transaction=True)


def database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.fixture
def worker(s3_bucket: str, tmp_path: Path) -> Iterator[Service]:
    """A real Celery worker (prefork, one child) on the test database, Redis and bucket, with a
    two-second lease."""
    redis.Redis.from_url(settings.CELERY_BROKER_URL).delete("default")
    env = {
        **os.environ,
        "DJANGO_SECURE": "false",
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "S3_ENDPOINT_URL": settings.S3_ENDPOINT_URL,
        "S3_ACCESS_KEY_ID": settings.S3_ACCESS_KEY_ID,
        "S3_SECRET_ACCESS_KEY": settings.S3_SECRET_ACCESS_KEY,
        "S3_BUCKET": s3_bucket,
        "PIPELINE_LEASE_SECONDS": "2",
        "PIPELINE_HEARTBEAT_SECONDS": "0.3",
        "LOG_FORMAT": "console",
        "LOG_LEVEL": "INFO",  # the worker says "ready" at INFO
    }
    command = [sys.executable, "-m", "celery", "-A", "consortium", "worker", "--queues=default", "--concurrency=1"]
    service = start_process("worker", [*command, "--loglevel=INFO"], log_dir=tmp_path, env=env)
    wait_until(lambda: "ready" in service.log_path.read_text(), what="the worker", service=service, timeout=60)
    yield service
    service.stop(timeout=10)


def wait_for(condition: Any, *, timeout: float, reconcile: bool = False, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        if reconcile:
            pipeline.pipeline_reconcile()  # what beat does every PIPELINE_RECONCILE_SECONDS
        time.sleep(0.01 if not reconcile else 0.3)


def test_a_worker_killed_mid_step_has_the_step_redelivered_and_finished_exactly_once(
    stored_version: StoredVersion, alice: Member, worker: Service, settings: Any
) -> None:
    settings.PIPELINE_LEASE_SECONDS = 2
    files = {**clean_checkpoint(), "data/shard.bin": os.urandom(96 * 1024 * 1024)}
    draft = stored_version("checkpoint", files, organization=alice.organization, state=Version.State.DRAFT)
    version = version_finalize(actor=alice.actor, version=draft)
    integrity = Step.objects.get(run__version=version, name="integrity")

    wait_for(lambda: Step.objects.get(pk=integrity.pk).status == "running", timeout=60, what="the step to start")
    (child,) = children(worker.process.pid)
    os.kill(child, signal.SIGKILL)
    killed = Step.objects.get(pk=integrity.pk)
    assert (killed.status, killed.attempts) == ("running", 1), "killed mid-step, before any result"

    def settled() -> bool:
        return Version.objects.get(pk=version.pk).state not in (Version.State.SUBMITTED, Version.State.CHECKING)

    wait_for(settled, timeout=120, reconcile=True, what=f"the run to settle; worker log:\n{worker.log_tail(40)}")
    integrity.refresh_from_db()
    assert integrity.status == Step.Status.PASSED
    assert integrity.attempts == 2, "the lease expired, the reconciler requeued it, a new child ran it once"
    assert "stopped heartbeating" in integrity.last_error
    results = AuditEvent.objects.filter(action__startswith="check.", data__step="integrity")
    assert results.count() == 1, "exactly one result"
    assert worker.alive()


@pytest.fixture
def broker_down(tmp_path: Path) -> Iterator[int]:
    """Point Celery at a port where no Redis listens; the test brings one up there later."""
    port = free_port_block(1)
    previous = app.conf.broker_url

    def use(url: str) -> None:
        app.conf.broker_url = url
        kombu.pools.reset()  # connection pools are cached per broker URL
        app._pool = None
        app.amqp._producer_pool = None

    use(f"redis://127.0.0.1:{port}/0")
    yield port
    use(previous)


def test_redis_down_at_finalize_loses_nothing_and_never_hangs_the_request(
    stored_version: StoredVersion, alice: Member, broker_down: int, tmp_path: Path
) -> None:
    draft = stored_version("dataset", {"train.jsonl": b'{"a": 1}\n'}, organization=alice.organization, state="draft")
    _, secret = alice.token("read", "push")
    started = time.monotonic()
    response = bearer(APIClient(), secret).post(f"/api/v1/versions/{draft.public_id}/finalize/")
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.content
    assert elapsed < 10, f"finalize took {elapsed:.1f} s with Redis down"
    steps = Step.objects.filter(run__version=draft)
    assert steps.count() == 4
    assert not steps.filter(dispatched_at__isnull=False).exists(), "nothing was sent, and nothing was lost"

    server = redis_start(data_dir=tmp_path / "redis", port=broker_down, log_dir=tmp_path)
    try:
        counts = pipeline.pipeline_reconcile()
        assert counts["sent"] == 4
        assert redis.Redis(port=broker_down).llen("default") == 4, "each step sent exactly once"
        assert pipeline.pipeline_reconcile()["sent"] == 0
    finally:
        server.stop(timeout=5)
