"""The check pipeline: runs created with `finalize`, steps claimed by lease, results written once,
the version's outcome settled when the last step finishes, and a reconciler for lost work.

The database is the source of truth. A Celery message only says "try step N"; whoever wins the
compare-and-swap claim runs it, and only the lease holder may write its result, so redelivered or
duplicated messages do nothing. Everything that could be lost (a message never sent because Redis
was down, a worker killed mid-step) is found again from the rows by `pipeline_reconcile`.
"""

from __future__ import annotations

import contextlib
import math
import random
import threading
import traceback
import uuid
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import structlog
from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from jobs.checks import MEASURES_BY_KIND, QUEUES, STEPS_BY_KIND, check_for
from jobs.checks.base import CheckContext
from jobs.models import PipelineRun, Publication, Step
from registry.actors import Actor
from registry.errors import Forbidden, InvalidTransition, StaleState
from registry.models import Artifact, Version
from registry.services.audit import audit_record

log = structlog.get_logger(__name__)

PIPELINE = Actor.of_system("pipeline")
# A step may run: a gating check, or a measurement of a run whose gating checks passed.
RUNNABLE = Q(gating=True) | Q(run__status=PipelineRun.Status.PASSED)


class LeaseLost(Exception):
    """Another worker took the step over (our lease expired): stop and write nothing."""


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=value)


def run_create(version: Version) -> PipelineRun:
    """A run with the kind's queued steps, in the caller's (finalize's) transaction; the gating
    checks are sent once it commits, the measurements once those have passed (`run_settle`). If
    sending fails, the rows are still there for the reconciler."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("run_create must run inside the transaction that finalizes the version")
    run = PipelineRun.objects.create(version=version)
    kind = version.artifact.kind
    names = [(name, True) for name in STEPS_BY_KIND[kind]] + [(name, False) for name in MEASURES_BY_KIND.get(kind, ())]
    steps = Step.objects.bulk_create(
        Step(run=run, name=name, gating=gating, queue=QUEUES[name], position=i)
        for i, (name, gating) in enumerate(names)
    )
    ids = [step.pk for step in steps if step.gating]
    transaction.on_commit(lambda: steps_dispatch(ids), robust=True)  # a failed send is the reconciler's
    return run


def steps_dispatch(step_ids: Iterable[int]) -> int:
    """Send one message per queued step. A broker error stops sending (each attempt would wait
    for the same timeout) and leaves `dispatched_at` unset, which the reconciler picks up."""
    from jobs.tasks import step_run_task

    sent = 0
    for step in Step.objects.filter(pk__in=list(step_ids), status=Step.Status.QUEUED).order_by("pk"):
        try:
            step_run_task.apply_async(args=[step.pk], queue=step.queue, retry=False)
        except Exception as exc:  # kombu/redis raise several types for "broker unreachable"
            log.warning("pipeline.dispatch_deferred", step_id=step.pk, step=step.name, error=str(exc))
            break
        Step.objects.filter(pk=step.pk, status=Step.Status.QUEUED).update(dispatched_at=timezone.now())
        sent += 1
    return sent


def step_claim(step_id: int) -> tuple[Step, uuid.UUID] | None:
    """Take the step's lease if it is queued and due, or running under an expired lease.
    Returns None when someone else holds it, it is finished, or its attempts are used up."""
    now = timezone.now()
    token = uuid.uuid4()
    due = Q(status=Step.Status.QUEUED) & (Q(not_before__isnull=True) | Q(not_before__lte=now))
    abandoned = Q(status=Step.Status.RUNNING, lease_expires_at__lt=now)
    claimable = Step.objects.filter(due | abandoned, RUNNABLE, pk=step_id, attempts__lt=settings.PIPELINE_MAX_ATTEMPTS)
    claimed = claimable.update(
        status=Step.Status.RUNNING,
        lease_token=token,
        lease_expires_at=now + _seconds(settings.PIPELINE_LEASE_SECONDS),
        heartbeat_at=now,
        started_at=now,
        finished_at=None,
        attempts=F("attempts") + 1,
    )
    if claimed != 1:
        return None
    step = Step.objects.select_related("run__version__artifact__organization").get(pk=step_id)
    version = step.run.version
    if version.state == Version.State.SUBMITTED:
        with contextlib.suppress(StaleState):  # a parallel step moved it first
            version.transition(Version.State.CHECKING)
    return step, token


class Heartbeat(threading.Thread):
    """Renews a leased row's lease (a step's or a publication's) every heartbeat while its work
    runs, and writes the latest progress when there is any. When the lease turns out to be someone
    else's, `lost` is set and the work is stopped at its next progress report."""

    def __init__(self, row: Step | Publication, token: uuid.UUID) -> None:
        super().__init__(name=f"heartbeat-{type(row).__name__.lower()}-{row.pk}", daemon=True)
        self.model, self.pk, self.token = type(row), row.pk, token
        self.progress: tuple[int, int, str] | None = None
        self.lost = threading.Event()
        self._halt = threading.Event()

    def report(self, done: int, total: int, unit: str) -> None:
        self.progress = (done, total, unit)
        if self.lost.is_set():
            raise LeaseLost(f"{self.model.__name__} {self.pk}: lease taken over")

    def beat(self) -> None:
        now = timezone.now()
        fields: dict[str, Any] = {
            "lease_expires_at": now + _seconds(settings.PIPELINE_LEASE_SECONDS),
            "heartbeat_at": now,
        }
        if self.progress is not None:
            fields["progress_done"], fields["progress_total"], fields["progress_unit"] = self.progress
        if not self.model.objects.filter(pk=self.pk, lease_token=self.token).update(**fields):
            self.lost.set()

    def run(self) -> None:
        try:
            while not self._halt.wait(settings.PIPELINE_HEARTBEAT_SECONDS):
                try:
                    self.beat()
                except Exception as exc:  # a DB hiccup: the next beat tries again before the lease ends
                    log.warning("heartbeat.failed", row=self.name, error=str(exc))
                    close_old_connections()
        finally:
            connection.close()

    def stop(self) -> None:
        self._halt.set()
        self.join()


def step_execute(step_id: int) -> str:
    """Claim, run and record one step; returns what happened (for logs and tests)."""
    claim = step_claim(step_id)
    if claim is None:
        log.info("pipeline.step_not_claimed", step_id=step_id)
        return "not_claimed"
    step, token = claim
    structlog.contextvars.bind_contextvars(step_id=step.pk, step=step.name, version=str(step.run.version.public_id))
    log.info("pipeline.step_started", attempt=step.attempts)
    heartbeat = Heartbeat(step, token)
    heartbeat.start()
    ctx: CheckContext | None = None
    error: Exception | None = None
    try:
        ctx = CheckContext.for_version(step.run.version)
        ctx.on_progress = heartbeat.report
        check_for(step.name)(ctx)
    except LeaseLost:
        pass
    except Exception as exc:
        error = exc
    finally:
        heartbeat.stop()
    if heartbeat.lost.is_set():
        log.warning("pipeline.lease_lost")
        return "lease_lost"
    close_old_connections()  # the check may have outlived the connection (idle timeouts, proxies)
    if error is None and ctx is not None:  # ctx is unset only when the lease was lost
        if heartbeat.progress is not None:
            step.progress_done, step.progress_total, step.progress_unit = heartbeat.progress
        try:
            return step_finish(step, token, ctx)
        except Exception as exc:  # the result could not be written: retried like any infrastructure error
            error = exc
    return step_retry(step, token, error or RuntimeError("the check ended without a result"))


@transaction.atomic(durable=True)
def step_finish(step: Step, token: uuid.UUID, ctx: CheckContext) -> str:
    """Write the result once: only while our lease is the step's lease."""
    status = Step.Status.SKIPPED if ctx.skipped else Step.Status.PASSED if ctx.passed else Step.Status.FAILED
    summary = ctx.summary or ("passed" if ctx.passed else f"{len(ctx.reasons)} problem(s)")
    written = Step.objects.filter(pk=step.pk, lease_token=token, status=Step.Status.RUNNING).update(
        status=status,
        finished_at=timezone.now(),
        lease_token=None,
        lease_expires_at=None,
        summary=_storable(summary[:500]),
        details=_storable(ctx.details),
        reasons=_storable([reason.as_dict() for reason in ctx.reasons]),
        progress_done=step.progress_done,
        progress_total=step.progress_total,
        progress_unit=step.progress_unit,
    )
    if not written:
        log.warning("pipeline.lease_lost")
        return "lease_lost"
    version = step.run.version
    if ctx.version_facts:
        Version.objects.filter(pk=version.pk).update(**ctx.version_facts)
    for record in ctx.records:
        record()
    audit_record(
        actor=PIPELINE,
        action=f"{'check' if step.gating else 'measure'}.{status}",
        target=version,
        organization=version.artifact.organization,
        data={"step": step.name, "attempt": step.attempts, "reasons": _storable([str(r) for r in ctx.reasons][:50])},
    )
    log.info("pipeline.step_finished", status=status, reasons=len(ctx.reasons), summary=summary)
    run_settle(step.run_id)
    return status


def _storable(value: Any) -> Any:
    """A check's evidence as both databases store it: pushed files can smuggle NUL characters
    (refused by Postgres) and NaN or infinities (refused by JSON) into names and values."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {_storable(str(k)): _storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_storable(v) for v in value]
    return value


def backoff(attempt: int, *, first: float | None = None, most: float | None = None) -> float:
    """Seconds to wait after failed attempt `attempt`: `first` doubling up to `most`, ±20% jitter
    (by default the pipeline's PIPELINE_BACKOFF_SECONDS and PIPELINE_BACKOFF_MAX_SECONDS)."""
    first = settings.PIPELINE_BACKOFF_SECONDS if first is None else first
    most = settings.PIPELINE_BACKOFF_MAX_SECONDS if most is None else most
    return min(first * 2 ** max(attempt - 1, 0), most) * random.uniform(0.8, 1.2)  # noqa: S311


def step_retry(step: Step, token: uuid.UUID, exc: BaseException) -> str:
    """An infrastructure error: queue the step again after a backoff, or mark it `errored` once its
    attempts are used up. Never a failure of the version."""
    error = "".join(traceback.format_exception_only(exc)).strip()[:2000]
    if step.attempts >= settings.PIPELINE_MAX_ATTEMPTS:
        log.error("pipeline.step_errored", attempts=step.attempts, error=error)
        step_error(step.pk, Q(lease_token=token), error)
        return Step.Status.ERRORED
    delay = backoff(step.attempts)
    log.warning("pipeline.step_retry", attempts=step.attempts, delay=round(delay, 2), error=error)
    with transaction.atomic():
        requeued = Step.objects.filter(pk=step.pk, lease_token=token).update(
            status=Step.Status.QUEUED,
            lease_token=None,
            lease_expires_at=None,
            not_before=timezone.now() + _seconds(delay),
            dispatched_at=timezone.now(),
            last_error=error,
        )
        if requeued:
            transaction.on_commit(lambda: _send_later(step, delay))
    return "retry"


def _send_later(step: Step, delay: float) -> None:
    from jobs.tasks import step_run_task

    try:
        step_run_task.apply_async(args=[step.pk], queue=step.queue, countdown=delay, retry=False)
    except Exception as exc:
        Step.objects.filter(pk=step.pk, status=Step.Status.QUEUED).update(dispatched_at=None)
        log.warning("pipeline.dispatch_deferred", step_id=step.pk, error=str(exc))


@transaction.atomic(durable=True)
def step_error(step_id: int, condition: Q, error: str) -> bool:
    """Give up on a step (attempts exhausted): `errored`, visible, re-runnable by a steward."""
    step = Step.objects.select_related("run__version__artifact__organization").get(pk=step_id)
    done = Step.objects.filter(condition, pk=step_id).exclude(status__in=Step.FINISHED)
    if not done.update(
        status=Step.Status.ERRORED,
        finished_at=timezone.now(),
        lease_token=None,
        lease_expires_at=None,
        last_error=error,
        summary=f"gave up after {step.attempts} attempts: {error.splitlines()[-1] if error else 'no error'}"[:500],
    ):
        return False
    version = step.run.version
    audit_record(
        actor=PIPELINE,
        action=f"{'check' if step.gating else 'measure'}.errored",
        target=version,
        organization=version.artifact.organization,
        data={"step": step.name, "attempts": step.attempts, "error": error[:500]},
    )
    run_settle(step.run_id)
    return True


def run_settle(run_id: int) -> str:
    """When every gating check of the run is finished, decide the version: all passed → in_review,
    and the measurements are sent; any failed → changes_requested with every reason, and the
    measurements are skipped; else any errored → the version stays `checking`. The run row lock
    serializes the last two steps finishing at once."""
    run = (
        PipelineRun.objects.select_for_update(of=("self",))
        .select_related("version__artifact__organization")
        .get(pk=run_id)
    )
    steps = list(run.steps.filter(gating=True))
    if any(step.status not in Step.FINISHED for step in steps) or run.status != PipelineRun.Status.RUNNING:
        return run.status
    statuses = {step.status for step in steps}
    if Step.Status.FAILED in statuses:  # a certain problem: no need to wait for an errored step
        outcome, state = PipelineRun.Status.FAILED, Version.State.CHANGES_REQUESTED
    elif Step.Status.ERRORED in statuses:
        outcome, state = PipelineRun.Status.ERRORED, None
    else:
        outcome, state = PipelineRun.Status.PASSED, Version.State.IN_REVIEW
    run.status, run.finished_at = outcome, timezone.now()
    run.save(update_fields=["status", "finished_at"])
    measures = run.steps.filter(gating=False, status=Step.Status.QUEUED)
    if outcome == PipelineRun.Status.PASSED:
        ids = list(measures.values_list("pk", flat=True))
        transaction.on_commit(lambda: steps_dispatch(ids), robust=True)
    elif outcome == PipelineRun.Status.FAILED:
        measures.update(status=Step.Status.SKIPPED, finished_at=run.finished_at, summary="not run: the checks failed")
    version = run.version
    reasons = [
        f"{step.name}: {reason['path'] + ': ' if reason['path'] else ''}{reason['message']}"
        for step in steps
        for reason in step.reasons
    ]
    if state is not None:
        version.transition(state)
        audit_record(
            actor=PIPELINE,
            action=f"version.{state}",
            target=version,
            organization=version.artifact.organization,
            data={"reasons": reasons[:100]},
        )
    log.info("pipeline.run_settled", run=str(run.public_id), outcome=outcome, reasons=len(reasons))
    return outcome


def pipeline_reconcile() -> dict[str, int]:
    """Find lost work: steps whose worker stopped heartbeating go back to the queue (or become
    `errored` when their attempts are used up), queued steps that are due but were never sent, or
    were sent long ago, are sent again, and submitted versions without a run get one. Each item is
    handled on its own, so one bad row never stops the pass."""
    now = timezone.now()
    counts = {"requeued": 0, "errored": 0, "created": 0, "sent": 0, "unsent": 0}
    expired = Q(status=Step.Status.RUNNING, lease_expires_at__lt=now)
    exhausted = Q(status=Step.Status.QUEUED, attempts__gte=settings.PIPELINE_MAX_ATTEMPTS)
    for step in Step.objects.filter(expired | exhausted):
        try:
            counts[_reclaim(step)] += 1
        except Exception:
            log.exception("pipeline.reconcile_failed", step_id=step.pk)
    for version_id in Version.objects.filter(state=Version.State.SUBMITTED, pipeline__isnull=True).values_list(
        "pk", flat=True
    ):
        try:
            counts["created"] += _run_backfill(version_id)
        except Exception:
            log.exception("pipeline.reconcile_failed", version_id=version_id)
    unsent = Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=now - _seconds(settings.PIPELINE_REDISPATCH_SECONDS))
    due = Q(not_before__isnull=True) | Q(not_before__lte=now)
    pending = list(Step.objects.filter(unsent & due, RUNNABLE, status=Step.Status.QUEUED).values_list("pk", flat=True))
    counts["sent"] = steps_dispatch(pending) if pending else 0
    counts["unsent"] = len(pending) - counts["sent"]
    if any(counts.values()):
        log.info("pipeline.reconciled", **counts)
    return counts


def _reclaim(step: Step) -> str:
    """A step nobody runs any more: back to the queue, or `errored` once its attempts are used up."""
    current = Q(status=step.status, lease_token=step.lease_token)
    if step.attempts >= settings.PIPELINE_MAX_ATTEMPTS:
        cause = "the worker stopped heartbeating on the last attempt" if step.status == Step.Status.RUNNING else ""
        return "errored" if step_error(step.pk, current, cause or step.last_error or "attempts used up") else "unsent"
    moved = Step.objects.filter(current, pk=step.pk).update(
        status=Step.Status.QUEUED,
        lease_token=None,
        lease_expires_at=None,
        dispatched_at=None,
        last_error="the worker stopped heartbeating (killed or lost); requeued",
    )
    return "requeued" if moved else "unsent"


@transaction.atomic(durable=True)
def _run_backfill(version_id: int) -> int:
    """A run for a version submitted before the pipeline existed (or whose run was lost)."""
    version = Version.objects.select_for_update().select_related("artifact").get(pk=version_id)
    if version.state != Version.State.SUBMITTED or PipelineRun.objects.filter(version=version).exists():
        return 0
    run_create(version)
    return 1


def step_rerun_refusal(step: Step, *, run: PipelineRun, version: Version) -> str | None:
    """Why a steward may not re-run `step` of `run` now, or None when they may. `step_rerun`
    enforces it; the version page shows its re-run forms by it, so the two never disagree."""
    if step.gating and step.status != Step.Status.ERRORED:
        return f"check {step.name} is {step.status}; only an errored check is re-run"
    if step.gating and version.state != Version.State.CHECKING:
        return f"version {version.number} is {version.state}: its checks are settled"
    if not step.gating and step.status not in Step.FINISHED:
        return f"{step.name} of version {version.number} is already {step.status}"
    if not step.gating and run.status != PipelineRun.Status.PASSED:
        return f"the checks of version {version.number} have not passed; its measurements wait for them"
    if version.state == Version.State.DELETED:
        return f"version {version.number} is deleted"
    return None


@transaction.atomic(durable=True)
def step_rerun(*, actor: Actor, step: Step, reason: str) -> Step:
    """A steward runs a step again from scratch (attempts reset), with a reason: an `errored` check
    of a version still being checked, or a finished measurement of a version whose checks passed
    (a new harness or suite version landed, or the measurement errored)."""
    if not actor.is_steward:
        raise Forbidden("only a steward can re-run a check")
    step = (
        Step.objects.select_for_update(of=("self",))
        .select_related("run__version__artifact__organization")
        .get(pk=step.pk)
    )
    version = step.run.version
    refusal = step_rerun_refusal(step, run=step.run, version=version)
    if refusal is not None:
        raise InvalidTransition(refusal, field="step")
    Step.objects.filter(pk=step.pk).update(
        status=Step.Status.QUEUED,
        attempts=0,
        not_before=None,
        dispatched_at=None,
        started_at=None,
        finished_at=None,
        last_error="",
        progress_unit="",
        summary="",
        details={},
        reasons=[],
        progress_done=0,
        progress_total=0,
    )
    if step.gating:
        PipelineRun.objects.filter(pk=step.run_id).update(status=PipelineRun.Status.RUNNING, finished_at=None)
    audit_record(
        actor=actor,
        action="check.rerun" if step.gating else "measure.rerun",
        target=version,
        organization=version.artifact.organization,
        data={"step": step.name, "reason": reason},
    )
    transaction.on_commit(lambda: steps_dispatch([step.pk]), robust=True)
    step.refresh_from_db()
    return step


def measures_rerun(*, actor: Actor, name: str, reason: str, suite: Artifact | None = None) -> int:
    """A steward re-runs measurement `name` on every version that has it finished (only those
    evaluated with `suite`, when given): after a new harness or suite version lands. Returns how
    many were queued; each is its own `step_rerun`, audited on its version."""
    if not actor.is_steward:
        raise Forbidden("only a steward can re-run measurements")
    finished = Step.objects.filter(
        name=name, gating=False, status__in=Step.FINISHED, run__status=PipelineRun.Status.PASSED
    ).exclude(run__version__state=Version.State.DELETED)
    if suite is not None:
        finished = finished.filter(run__version__eval_results__suite__artifact=suite)
    queued = 0
    for step in finished.distinct().order_by("pk"):
        try:
            step_rerun(actor=actor, step=step, reason=reason)
        except InvalidTransition:  # it moved meanwhile (queued by another re-run, its version deleted)
            continue
        queued += 1
    return queued
