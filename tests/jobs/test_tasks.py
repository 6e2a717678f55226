"""Tasks run on a real Celery worker over the real Redis broker."""

from __future__ import annotations

import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.utils import timezone

from consortium.celery import app
from jobs.tasks import idempotency_purge_task
from registry.models import IdempotencyRecord


@pytest.mark.django_db(transaction=True)
def test_the_beat_purge_runs_on_a_worker_through_redis(settings) -> None:
    stale = IdempotencyRecord.objects.create(actor_key="user:1", key="k", request_digest="0" * 64, status_code=201)
    IdempotencyRecord.objects.filter(pk=stale.pk).update(created_at=timezone.now() - settings.IDEMPOTENCY_TTL * 2)
    IdempotencyRecord.objects.create(actor_key="user:1", key="fresh", request_digest="0" * 64, status_code=201)

    with start_worker(app, pool="solo", perform_ping_check=False, loglevel="WARNING", shutdown_timeout=10):
        idempotency_purge_task.delay()
        deadline = time.monotonic() + 30
        while IdempotencyRecord.objects.filter(key="k").exists() and time.monotonic() < deadline:
            time.sleep(0.2)

    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["fresh"]


def test_the_beat_schedule_names_only_registered_tasks() -> None:
    app.loader.import_default_modules()
    scheduled = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert scheduled <= set(app.tasks)
    assert scheduled


def test_tasks_are_acked_late_and_rejected_when_the_worker_is_lost() -> None:
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1
    assert {q.name for q in app.conf.task_queues} == {"default", "gpu"}
