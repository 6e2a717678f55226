"""The pipeline's mechanics, run in-process against the real database, Redis and S3: runs created
with finalize, dispatch after commit, leases, retries with backoff, errored steps, re-runs, the
reconciler and the version's outcome."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError
from django.conf import settings
from django.db import transaction
from kombu.exceptions import OperationalError
from rest_framework.test import APIClient

from jobs import pipeline
from jobs.checks import MEASURES_BY_KIND, STEPS_BY_KIND
from jobs.models import PipelineRun, Step
from jobs.tasks import step_run_task
from registry import storage
from registry.models import AuditEvent, Version
from registry.services.uploads import version_finalize
from tests.conftest import Member, bearer
from tests.corpus.models import clean_checkpoint
from tests.jobs.conftest import StoredVersion, drive, queued_messages

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fast_pipeline(settings: Any) -> None:
    settings.PIPELINE_MAX_ATTEMPTS = 3
    settings.PIPELINE_BACKOFF_SECONDS = 0
    settings.PIPELINE_HEARTBEAT_SECONDS = 0.05
    settings.PIPELINE_LEASE_SECONDS = 5


def finalized(stored_version: StoredVersion, alice: Member, files: dict[str, bytes], **fields: Any) -> Version:
    version = stored_version("checkpoint", files, organization=alice.organization, state=Version.State.DRAFT, **fields)
    return version_finalize(actor=alice.actor, version=version)


def test_finalize_creates_the_run_with_the_kinds_steps_and_sends_them_after_commit(
    stored_version: StoredVersion, alice: Member, monkeypatch: pytest.MonkeyPatch
) -> None:
    real, calls = pipeline.steps_dispatch, []

    def spy(step_ids: Any) -> int:
        ids = list(step_ids)
        calls.append((transaction.get_connection().in_atomic_block, Step.objects.filter(pk__in=ids).count()))
        return real(ids)

    monkeypatch.setattr(pipeline, "steps_dispatch", spy)
    version = finalized(stored_version, alice, clean_checkpoint())
    steps = list(Step.objects.filter(run__version=version, gating=True))
    assert [s.name for s in steps] == list(STEPS_BY_KIND["checkpoint"])
    assert {s.status for s in steps} == {Step.Status.QUEUED}
    assert calls == [(False, len(steps))], "sent once, after the commit, with every step's row already there"
    assert sorted(queued_messages()) == sorted(s.pk for s in steps)
    assert Step.objects.filter(run__version=version, gating=True, dispatched_at__isnull=True).count() == 0
    measures = Step.objects.filter(run__version=version, gating=False)
    assert [(s.name, s.queue, s.status, s.dispatched_at) for s in measures] == [
        (name, "gpu", Step.Status.QUEUED, None) for name in MEASURES_BY_KIND["checkpoint"]
    ], "measurements wait for the checks to pass"
    assert version.state == Version.State.SUBMITTED


def test_a_clean_checkpoint_goes_in_review_with_every_steps_evidence(
    stored_version: StoredVersion, alice: Member
) -> None:
    version = drive(finalized(stored_version, alice, clean_checkpoint()))
    run = PipelineRun.objects.get(version=version)
    steps = {s.name: s for s in run.steps.filter(gating=True)}
    assert {name: s.status for name, s in steps.items()} == dict.fromkeys(STEPS_BY_KIND["checkpoint"], "passed")
    assert version.state == Version.State.IN_REVIEW
    assert run.status == PipelineRun.Status.PASSED
    assert all(s.summary and s.details and s.attempts == 1 and s.duration is not None for s in steps.values())
    assert steps["integrity"].progress_done == steps["integrity"].progress_total > 0
    assert AuditEvent.objects.filter(action="version.in_review", actor_label="pipeline").count() == 1


def test_every_failing_reason_is_listed_and_the_version_goes_to_changes_requested(
    stored_version: StoredVersion, alice: Member, api_client: Any
) -> None:
    files = clean_checkpoint()
    files["config.json"] = b"{not json"
    files["extra.bin"] = b"\x80\x04\x95\x1d\x00\x00\x00\x00\x00\x00\x00\x8c\x05posix\x94\x8c\x06system\x94\x93\x94."
    version = drive(finalized(stored_version, alice, files))
    assert version.state == Version.State.CHANGES_REQUESTED
    _, secret = alice.token("read")
    body = bearer(api_client, secret).get(f"/api/v1/versions/{version.public_id}/checks/").json()
    assert body["status"] == "failed"
    assert body["version_state"] == "changes_requested"
    failing = {(r["step"], r["path"]) for r in body["reasons"]}
    assert ("safety", "extra.bin") in failing
    assert ("format", "config.json") in failing
    assert bearer(api_client, secret).get(f"/api/v1/versions/{version.public_id}/").json()["checks"] == "failed"


def test_storage_errors_are_retried_with_backoff_and_never_fail_the_version(
    stored_version: StoredVersion, alice: Member, monkeypatch: pytest.MonkeyPatch
) -> None:
    version = finalized(stored_version, alice, clean_checkpoint())
    integrity = Step.objects.get(run__version=version, name="integrity")
    real = storage.object_chunks
    failures = iter([True])

    def flaky(key: str) -> Any:
        if next(failures, False):
            raise EndpointConnectionError(endpoint_url=settings.S3_ENDPOINT_URL)
        return real(key)

    monkeypatch.setattr(storage, "object_chunks", flaky)
    assert pipeline.step_execute(integrity.pk) == "retry"
    integrity.refresh_from_db()
    assert integrity.status == Step.Status.QUEUED
    assert integrity.attempts == 1
    assert "Could not connect" in integrity.last_error
    assert integrity.not_before is not None
    version = drive(version)
    integrity.refresh_from_db()
    assert (integrity.status, integrity.attempts) == (Step.Status.PASSED, 2)
    assert version.state == Version.State.IN_REVIEW


def test_a_step_that_exhausts_its_attempts_is_errored_visible_and_rerun_by_a_steward(
    stored_version: StoredVersion, alice: Member, steward: Member, monkeypatch: pytest.MonkeyPatch, api_client: Any
) -> None:
    version = finalized(stored_version, alice, clean_checkpoint())

    def down(key: str) -> Any:
        raise EndpointConnectionError(endpoint_url=settings.S3_ENDPOINT_URL)

    monkeypatch.setattr(storage, "object_chunks", down)
    version = drive(version)
    integrity = Step.objects.get(run__version=version, name="integrity")
    assert (integrity.status, integrity.attempts) == (Step.Status.ERRORED, settings.PIPELINE_MAX_ATTEMPTS)
    assert integrity.summary.startswith("gave up after 3 attempts")
    assert version.state == Version.State.CHECKING, "an errored step never fails the version"
    assert PipelineRun.objects.get(version=version).status == PipelineRun.Status.ERRORED

    url = f"/api/v1/versions/{version.public_id}/checks/integrity/rerun/"
    _, secret = alice.token("read", "push")
    assert bearer(api_client, secret).post(url, {"reason": "retry"}, format="json").status_code == 403
    api_client.credentials()
    api_client.force_login(steward.user)
    assert api_client.post(url, {}, format="json").status_code == 400, "a reason is required"
    rerun = api_client.post(url, {"reason": "S3 is back"}, format="json")
    assert rerun.status_code == 200, rerun.content
    assert (rerun.json()["status"], rerun.json()["attempts"]) == ("queued", 0)
    assert AuditEvent.objects.filter(action="check.rerun", data__reason="S3 is back").count() == 1

    monkeypatch.undo()
    version = drive(version)
    assert version.state == Version.State.IN_REVIEW
    assert api_client.post(url, {"reason": "again"}, format="json").status_code == 409


def test_a_claimed_step_cannot_be_claimed_twice_and_a_stale_holder_writes_nothing(
    stored_version: StoredVersion, alice: Member, settings: Any
) -> None:
    version = finalized(stored_version, alice, clean_checkpoint())
    step = Step.objects.get(run__version=version, name="license")
    first = pipeline.step_claim(step.pk)
    assert first is not None
    assert pipeline.step_claim(step.pk) is None
    assert Version.objects.get(pk=version.pk).state == Version.State.CHECKING
    # The first holder's lease lapses (its worker hung); a second worker takes over and finishes.
    Step.objects.filter(pk=step.pk).update(lease_expires_at=first[0].started_at)
    assert pipeline.step_execute(step.pk) == Step.Status.PASSED
    ctx = pipeline.CheckContext(version=version, files=[])
    assert pipeline.step_finish(first[0], first[1], ctx) == "lease_lost"
    assert AuditEvent.objects.filter(action="check.passed", data__step="license").count() == 1


def test_the_reconciler_requeues_a_step_whose_worker_stopped_heartbeating_and_sends_unsent_steps(
    stored_version: StoredVersion, alice: Member, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broker_down(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(step_run_task, "apply_async", broker_down)
    version = finalized(stored_version, alice, clean_checkpoint())
    assert Step.objects.filter(run__version=version, gating=True, dispatched_at__isnull=True).count() == 5
    monkeypatch.undo()
    step = Step.objects.get(run__version=version, name="integrity")
    claimed = pipeline.step_claim(step.pk)
    assert claimed is not None
    Step.objects.filter(pk=step.pk).update(lease_expires_at=claimed[0].started_at)  # the worker died
    counts = pipeline.pipeline_reconcile()
    assert counts == {"requeued": 1, "errored": 0, "created": 0, "sent": 5, "unsent": 0}, "never a measurement"
    assert len(queued_messages()) == 5
    assert pipeline.pipeline_reconcile()["sent"] == 0, "sent steps are not sent again until they are overdue"
    step.refresh_from_db()
    assert step.status == Step.Status.QUEUED
    assert "stopped heartbeating" in step.last_error


def test_the_heartbeat_renews_the_lease_and_publishes_progress(stored_version: StoredVersion, alice: Member) -> None:
    version = finalized(stored_version, alice, clean_checkpoint())
    step, token = pipeline.step_claim(Step.objects.get(run__version=version, name="integrity").pk) or (None, None)
    assert step is not None
    assert token is not None
    heartbeat = pipeline.Heartbeat(step, token)
    heartbeat.report(10, 40, "bytes")
    heartbeat.beat()
    step.refresh_from_db()
    assert (step.progress_done, step.progress_total, step.progress_unit) == (10, 40, "bytes")
    assert step.lease_expires_at > step.started_at
    Step.objects.filter(pk=step.pk).update(lease_token=None)  # taken over elsewhere
    heartbeat.beat()
    with pytest.raises(pipeline.LeaseLost):
        heartbeat.report(20, 40, "bytes")


def test_checks_of_a_draft_are_404_and_of_an_invisible_version_too(
    stored_version: StoredVersion, alice: Member, charlie: Member, api_client: Any
) -> None:
    draft = stored_version("checkpoint", clean_checkpoint(), organization=alice.organization, state="draft")
    _, secret = alice.token("read")
    assert bearer(api_client, secret).get(f"/api/v1/versions/{draft.public_id}/checks/").status_code == 404
    version = finalized(stored_version, alice, clean_checkpoint(), number="2.0.0")
    assert bearer(api_client, secret).get(f"/api/v1/versions/{version.public_id}/checks/").status_code == 200
    _, other = charlie.token("read")
    assert bearer(APIClient(), other).get(f"/api/v1/versions/{version.public_id}/checks/").status_code == 404


def test_evidence_smuggling_nul_or_nan_is_stored_not_lost(stored_version: StoredVersion, alice: Member) -> None:
    version = finalized(stored_version, alice, clean_checkpoint())
    claim = pipeline.step_claim(Step.objects.get(run__version=version, name="metadata").pk)
    assert claim is not None
    ctx = pipeline.CheckContext(version=version, files=[])
    ctx.details = {"r": float("nan"), "names": ["a\x00b"], "x\x00": float("inf")}
    ctx.fail("odd", "name with \x00 inside", path="weird\x00.bin")
    assert pipeline.step_finish(claim[0], claim[1], ctx) == Step.Status.FAILED
    stored = Step.objects.get(pk=claim[0].pk)
    assert stored.details == {"r": "nan", "names": ["a\ufffdb"], "x\ufffd": "inf"}
    assert stored.reasons[0]["path"] == "weird\ufffd.bin"


def test_a_failed_step_settles_the_version_even_when_another_errored(
    stored_version: StoredVersion, alice: Member, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = clean_checkpoint()
    files["config.json"] = b"{not json"

    def down(key: str) -> Any:
        raise EndpointConnectionError(endpoint_url=settings.S3_ENDPOINT_URL)

    monkeypatch.setattr(storage, "object_chunks", down)
    version = drive(finalized(stored_version, alice, files))
    statuses = dict(Step.objects.filter(run__version=version).values_list("name", "status"))
    assert (statuses["integrity"], statuses["format"]) == (Step.Status.ERRORED, Step.Status.FAILED)
    assert version.state == Version.State.CHANGES_REQUESTED


def test_the_reconciler_gives_a_run_to_a_submitted_version_that_has_none(
    stored_version: StoredVersion, alice: Member
) -> None:
    version = stored_version("dataset", {"train.jsonl": b'{"a": 1}\n'}, organization=alice.organization)
    assert not PipelineRun.objects.filter(version=version).exists()  # submitted before the pipeline existed
    assert pipeline.pipeline_reconcile()["created"] == 1
    assert Step.objects.filter(run__version=version, dispatched_at__isnull=False).count() == 4, "sent on commit"
    assert pipeline.pipeline_reconcile()["created"] == 0
    assert drive(version).state == Version.State.IN_REVIEW


def test_infrastructure_errors_are_shown_to_the_org_only(
    stored_version: StoredVersion, alice: Member, charlie: Member, api_client: Any
) -> None:
    version = finalized(stored_version, alice, clean_checkpoint())
    version.artifact.sharing = "consortium"
    version.artifact.save()
    Step.objects.filter(run__version=version).update(last_error="EndpointConnectionError: http://s3.internal:8333")
    url = f"/api/v1/versions/{version.public_id}/checks/"
    _, mine = alice.token("read")
    _, theirs = charlie.token("read")
    assert {s["last_error"] for s in bearer(api_client, mine).get(url).json()["steps"]} == {
        "EndpointConnectionError: http://s3.internal:8333"
    }
    assert {s["last_error"] for s in bearer(APIClient(), theirs).get(url).json()["steps"]} == {""}
