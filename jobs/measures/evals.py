"""The eval step: the version (an adapter on its base) scored with lm-evaluation-harness on each
eval suite chosen for it (`jobs.measures.suites`), in the sandbox. The scores become `EvalResult`
rows and each suite an `evaluated_with` lineage edge the registry recorded (`measured`), written
with the step's result; a re-run replaces the version's rows."""

from __future__ import annotations

from functools import partial

from django.db import transaction

from jobs.checks.base import CheckContext, version_files
from jobs.evals.runner import Outcome, evaluate
from jobs.measures.suites import suites_for
from jobs.measures.workspace import Subject, fetch, measurement
from jobs.models import EvalResult
from registry.models import LineageEdge, Relation, Version


def measure(ctx: CheckContext) -> None:
    chosen = suites_for(ctx.version)
    if not chosen.suites:
        ctx.skip(f"not measured (no eval suite chosen for {ctx.kind}s and none named)")
        ctx.details = {"problems": chosen.problems}
        return
    measurement(partial(_scored, suites=chosen.suites, problems=chosen.problems))(ctx)


def _scored(ctx: CheckContext, subject: Subject, *, suites: list[Version], problems: list[str]) -> None:
    outcomes: list[tuple[Version, Outcome]] = []
    for i, suite in enumerate(suites):
        directory = fetch(version_files(suite), subject.scratch / f"suite-{i}")

        def progress(done: int, total: int, i: int = i) -> None:
            ctx.progress(done, total, f"requests {i + 1}/{len(suites)}" if len(suites) > 1 else "requests")

        outcomes.append(
            (
                suite,
                evaluate(
                    model=subject.model,
                    adapter=subject.adapter,
                    suite=directory,
                    scratch=subject.scratch,
                    time_limit=subject.time_limit,
                    memory_limit=subject.memory_limit,
                    progress=progress,
                ),
            )
        )
    ctx.details = {
        "suites": [
            {
                "suite": str(suite.public_id),
                "name": f"{suite.artifact.organization.slug}/{suite.artifact.slug}",
                "number": suite.number,
                "harness_version": outcome.harness_version,
                "seconds": round(outcome.seconds, 2),
                "scores": len(outcome.scores),
            }
            for suite, outcome in outcomes
        ],
        "problems": problems,
    }
    scored = sum(len(outcome.scores) for _, outcome in outcomes)
    ctx.summary = f"{scored} scores on {len(outcomes)} suite(s)"
    ctx.records.append(partial(_store, ctx.version, outcomes))


def _store(version: Version, outcomes: list[tuple[Version, Outcome]]) -> None:
    """Replace the version's scores with these, and record each suite as lineage (run inside the
    pipeline's transaction for the step's result)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("eval results are stored with the step's result, in its transaction")
    EvalResult.objects.filter(version=version).delete()
    EvalResult.objects.bulk_create(
        EvalResult(
            version=version,
            suite=suite,
            task=score.task,
            metric=score.metric,
            filter=score.filter,
            value=score.value,
            stderr=score.stderr,
            samples=score.samples,
            task_version=score.task_version[:40],
            harness_version=outcome.harness_version[:40],
        )
        for suite, outcome in outcomes
        for score in outcome.scores
    )
    # Locked so a concurrent `transition` marks these edges too (it updates them after this commits).
    state = Version.objects.select_for_update().values_list("state", flat=True).get(pk=version.pk)
    LineageEdge.objects.bulk_create(
        [
            LineageEdge(
                child=version,
                relation=Relation.EVALUATED_WITH,
                parent=suite,
                measured=True,
                child_in_review=state == Version.State.IN_REVIEW,
            )
            for suite, _ in outcomes
        ],
        ignore_conflicts=True,  # declared by the pusher already, or recorded by an earlier run
    )
