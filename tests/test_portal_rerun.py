"""A steward's re-run from the version page: a form beside each finished measurement and each
errored check of a version still being checked, for stewards only; the re-run is `step_rerun`'s,
with its reason audited, and a refusal changes nothing and says why."""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest

from jobs.models import PipelineRun, Step
from registry.models import AuditEvent, Version
from tests.conftest import Member, portal_client
from tests.test_portal_measurements import checkpoint, measured, section

pytestmark = pytest.mark.django_db

CaptureCallbacks = Callable[..., AbstractContextManager[list[Callable[[], Any]]]]
FORM = 'class="inline rerun"'


def rerun_url(version: Version, step: str) -> str:
    return f"/versions/{version.public_id}/steps/{step}/rerun/"


def in_review_with_measurements(member: Member) -> tuple[Version, PipelineRun]:
    """A checkpoint whose checks passed: evals finished, cost still running."""
    version = checkpoint(member.organization, state="in_review")
    run = measured(
        version,
        evals={"status": "passed", "summary": "4 scores on 1 suite(s)", "attempts": 2, "details": {"suites": []}},
        cost={"status": "running", "attempts": 1},
    )
    return version, run


def snapshot(run: PipelineRun) -> list[tuple[Any, ...]]:
    return list(run.steps.order_by("pk").values_list("name", "status", "attempts", "summary"))


def test_a_steward_re_runs_a_finished_measurement_with_a_reason(
    alice: Member, steward: Member, django_capture_on_commit_callbacks: CaptureCallbacks
) -> None:
    version, run = in_review_with_measurements(alice)
    client = portal_client(steward)
    page = client.get(f"/versions/{version.public_id}/").content.decode()
    measurements = section(page, "measurements")
    assert measurements.count(FORM) == 1, "evals is finished; cost is still running"
    assert f'action="{rerun_url(version, "evals")}"' in measurements
    assert '<label for="rerun-evals">Reason to re-run<span class="visually-hidden"> Evaluations</span></label>' in (
        measurements
    )
    assert '<input id="rerun-evals" name="reason" required' in measurements
    assert FORM not in section(page, "checks"), "a passed check has no re-run"

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(rerun_url(version, "evals"), {"reason": "lm-eval 0.4.14 landed"}, follow=True)
    assert response.redirect_chain == [(f"/versions/{version.public_id}/", 302)]
    assert "evals queued again: it runs from scratch" in response.content.decode()
    assert len(callbacks) == 1, "the step is sent to a worker once the re-run commits"
    step = Step.objects.get(run=run, name="evals")
    assert (step.status, step.attempts, step.summary, step.details) == ("queued", 0, "", {})
    event = AuditEvent.objects.get(action="measure.rerun")
    assert (event.actor, event.organization) == (steward.user, alice.organization)
    assert event.target_id == str(version.public_id)
    assert event.data == {"step": "evals", "reason": "lm-eval 0.4.14 landed"}
    assert FORM not in section(response.content.decode(), "measurements"), "queued again: nothing to re-run"


def test_an_errored_check_of_a_version_still_checking_is_re_run(alice: Member, steward: Member) -> None:
    version = checkpoint(alice.organization, state="checking")
    run = measured(version, run_status="errored", evals={"status": "queued"})
    Step.objects.filter(run=run, name="integrity").update(status="errored", attempts=5, summary="gave up")
    client = portal_client(steward)
    checks = section(client.get(f"/versions/{version.public_id}/").content.decode(), "checks")
    assert '<label for="rerun-integrity">Reason to re-run<span class="visually-hidden"> integrity' in checks
    assert FORM not in section(client.get(f"/versions/{version.public_id}/").content.decode(), "measurements")

    response = client.post(rerun_url(version, "integrity"), {"reason": "the S3 outage is over"}, follow=True)
    assert "integrity queued again" in response.content.decode()
    assert Step.objects.get(run=run, name="integrity").status == "queued"
    assert PipelineRun.objects.get(pk=run.pk).status == "running"
    assert AuditEvent.objects.get(action="check.rerun").data == {"step": "integrity", "reason": "the S3 outage is over"}

    Step.objects.filter(run=run, name="integrity").update(status="errored")
    Version.objects.filter(pk=version.pk).update(state="in_review")
    checks = section(client.get(f"/versions/{version.public_id}/").content.decode(), "checks")
    assert FORM not in checks, "once the version left checking, its checks are settled"


def test_members_see_no_form_and_are_refused(
    alice: Member, bob: Member, charlie: Member, django_capture_on_commit_callbacks: CaptureCallbacks
) -> None:
    version, run = in_review_with_measurements(alice)
    before = snapshot(run)
    for member in (alice, bob):
        client = portal_client(member)
        page = client.get(f"/versions/{version.public_id}/").content.decode()
        assert FORM not in page
        assert "/rerun/" not in page
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            response = client.post(rerun_url(version, "evals"), {"reason": "me too"})
        assert response.status_code == 403
        assert "Not allowed" in response.content.decode()
        assert callbacks == []
    assert portal_client(charlie).post(rerun_url(version, "evals"), {"reason": "x"}).status_code == 404, "invisible"
    anonymous = portal_client(None).post(rerun_url(version, "evals"), {"reason": "x"})
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/accounts/login/")
    assert snapshot(run) == before
    assert not AuditEvent.objects.filter(action__endswith=".rerun").exists()


def test_a_passed_check_is_not_re_run_and_the_page_says_why(alice: Member, steward: Member) -> None:
    version, run = in_review_with_measurements(alice)
    before = snapshot(run)
    client = portal_client(steward)
    page = client.get(f"/versions/{version.public_id}/").content.decode()
    assert rerun_url(version, "integrity") not in page, "not offered..."
    response = client.post(rerun_url(version, "integrity"), {"reason": "just because"}, follow=True)  # ...nor taken
    assert response.redirect_chain == [(f"/versions/{version.public_id}/", 302)]
    assert "check integrity is passed; only an errored check is re-run" in response.content.decode()
    running = client.post(rerun_url(version, "cost"), {"reason": "impatient"}, follow=True)
    assert f"cost of version {version.number} is already running" in running.content.decode()
    assert snapshot(run) == before
    assert not AuditEvent.objects.filter(action__endswith=".rerun").exists()


def test_a_re_run_needs_a_reason_and_a_step_that_exists(alice: Member, steward: Member) -> None:
    version, run = in_review_with_measurements(alice)
    before = snapshot(run)
    client = portal_client(steward)
    for blank in ({}, {"reason": "   "}):
        response = client.post(rerun_url(version, "evals"), blank, follow=True)
        assert "Nothing was re-run: reason: say why it is re-run" in response.content.decode()
    assert client.post(rerun_url(version, "probes"), {"reason": "x"}).status_code == 404
    assert client.get(rerun_url(version, "evals")).status_code == 405
    assert snapshot(run) == before
    assert not AuditEvent.objects.filter(action__endswith=".rerun").exists()


def test_polling_pauses_while_a_stewards_re_run_form_is_in_use(alice: Member, steward: Member) -> None:
    version, _ = in_review_with_measurements(alice)  # cost is running: the block polls
    url = f"/versions/{version.public_id}/checks/"
    trigger = re.compile(r'hx-trigger="([^"]*)"')
    assert trigger.findall(portal_client(alice).get(url).content.decode()) == ["every 2s"]
    partial = portal_client(steward).get(url).content.decode()
    assert trigger.findall(partial) == ["every 2s [!this.querySelector('form.rerun :focus, form.rerun input:valid')]"]
    assert FORM in partial, "the polled block keeps the steward's forms"
