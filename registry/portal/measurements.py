"""The measurements section of a version's page: evals and probes, which inform and never gate.

Built from `selectors.version_measurements` (`measurements_of`'s two queries, plus one to learn
which eval suites the viewer may see): scores on a suite the viewer cannot see are left out, its
name and count included, as the lineage leaves out what it may not show."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from django.template.defaultfilters import filesizeformat

from jobs.checks import MEASURES_BY_KIND
from jobs.measures.results import Measurements
from jobs.models import EvalResult, PipelineRun, Step
from registry import selectors
from registry.actors import Actor
from registry.models import Version

TITLES = {
    "evals": "Evaluations",
    "compatibility": "Tooling compatibility",
    "finetune": "Fine-tunability",
    "cost": "Cost",
}
LIVE = frozenset({Step.Status.QUEUED, Step.Status.RUNNING})
# What a compatibility check's outcome says in words (the mark alone, or its colour, is not enough).
OUTCOMES = {True: ("✓", "passed", "yes"), False: ("✗", "failed", "no"), None: ("—", "does not apply", "na")}


@dataclass(frozen=True)
class Score:
    task: str
    metric: str
    filter: str  # "" when the harness used none
    value: str
    stderr: str
    samples: int | None


@dataclass(frozen=True)
class SuiteScores:
    suite: Version
    harness_version: str
    seconds: float | None
    scores: list[Score]


@dataclass
class Measurement:
    step: Step
    title: str
    waiting: str = ""  # why a queued measurement has not started yet
    progress: str = ""  # how far a running one has got, in words
    facts: dict[str, Any] = field(default_factory=dict)  # the probe's figures, ready to print

    @property
    def pending(self) -> bool:
        return self.step.status in LIVE


@dataclass
class MeasurementsView:
    measurements: list[Measurement]
    suites: list[SuiteScores]  # eval scores the viewer may see, by suite
    live: bool  # some measurement may still change without a steward: keep polling
    found: Measurements | None = None  # what they were read from, for the page's scorecard to reuse


def number(value: float | None) -> str:
    """A score as people read it: four significant digits, no exponent for large values."""
    if value is None:
        return ""
    return f"{value:,.1f}" if abs(value) >= 1000 else f"{value:.4g}"


def _suites(evals: list[EvalResult], details: dict[str, Any]) -> list[SuiteScores]:
    seconds = {s.get("suite"): s.get("seconds") for s in details.get("suites", []) if isinstance(s, dict)}
    grouped = []
    for _, rows in itertools.groupby(evals, key=lambda e: e.suite_id):
        scores = list(rows)
        suite = scores[0].suite
        grouped.append(
            SuiteScores(
                suite=suite,
                harness_version=scores[0].harness_version,
                seconds=seconds.get(str(suite.public_id)),
                scores=[
                    Score(
                        task=e.task,
                        metric=e.metric,
                        filter="" if e.filter in ("", "none") else e.filter,
                        value=number(e.value),
                        stderr=number(e.stderr),
                        samples=e.samples,
                    )
                    for e in scores
                ],
            )
        )
    return grouped


def _compatibility(details: dict[str, Any]) -> dict[str, Any]:
    rows = []
    for check in details.get("checks", []):
        mark, word, css = OUTCOMES.get(check.get("passed"), OUTCOMES[None])
        rows.append(
            {"check": check.get("check", ""), "detail": check.get("detail", ""), "mark": mark, "word": word, "css": css}
        )
    return {"checks": rows, "libraries": sorted(details.get("libraries", {}).items())}


def _figure(value: Any, spec: str, unit: str = "") -> str:
    """`value` formatted, or "" when the probe did not report it (or reported something else)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return ""
    return f"{value:{spec}}{unit}"


def _finetune(details: dict[str, Any]) -> dict[str, Any]:
    drop = details.get("relative_heldout_drop")
    budget = details.get("budget", {})
    return {
        "before": _figure(details.get("heldout_loss_before"), ".3f"),
        "after": _figure(details.get("heldout_loss_after"), ".3f") or "not finite",
        "change": _figure(-drop if isinstance(drop, int | float) else None, "+.1%"),
        "stable": details.get("stable"),
        "steps": _figure(details.get("steps"), ","),
        "rank": _figure(budget.get("rank"), "d") if isinstance(budget, dict) else "",
        "trainable": _figure(details.get("trainable_parameters"), ","),
        "seconds_per_step": _figure(details.get("seconds_per_step"), ".2f", " s"),
    }


def _cost(details: dict[str, Any]) -> dict[str, Any]:
    memory = details.get("memory_bytes", {})
    hardware = details.get("hardware", {})
    return {
        "parameters": _figure(details.get("parameters"), ","),
        "adapter_parameters": _figure(details.get("adapter_parameters"), ","),
        "memory": [(name, filesizeformat(memory[name])) for name in ("bf16", "int8", "fp32") if name in memory],
        "tokens_per_second": _figure(details.get("tokens_per_second"), ",.1f"),
        "seconds_to_first_token": _figure(details.get("seconds_to_first_token"), ".3f", " s"),
        "hardware": hardware.get("label", "") if isinstance(hardware, dict) else "",
    }


FACTS = {"compatibility": _compatibility, "finetune": _finetune, "cost": _cost}


def _progress(step: Step) -> str:
    """ "3.0 MB of 12.0 MB fetched", or "40 of 120 requests, suite 1 of 2" (the eval step's unit
    is "requests" or "requests i/n")."""
    if not step.progress_total:
        return ""
    if step.progress_unit == "bytes":
        return f"{filesizeformat(step.progress_done)} of {filesizeformat(step.progress_total)} fetched"
    unit, _, part = step.progress_unit.partition(" ")
    done, _, of = part.partition("/")
    suffix = f", suite {done} of {of}" if done and of else f" {part}" if part else ""
    return f"{step.progress_done:,} of {step.progress_total:,} {unit}{suffix}"


def _waiting(run: PipelineRun) -> str:
    if run.status == PipelineRun.Status.RUNNING:
        return "waits for the checks to pass"
    if run.status == PipelineRun.Status.ERRORED:
        return "waits for the errored checks: a steward may re-run them"
    return "waits for a GPU worker"


def measurements_view(*, actor: Actor, version: Version, run: PipelineRun | None) -> MeasurementsView | None:
    """What the page shows of the version's measurements; None for kinds that have none."""
    if version.artifact.kind not in MEASURES_BY_KIND:
        return None
    if run is None:
        return MeasurementsView(measurements=[], suites=[], live=False)
    found = selectors.version_measurements(actor=actor, version=version)
    shown = []
    for step in found.steps:
        details = step.details if isinstance(step.details, dict) else {}
        facts = FACTS[step.name](details) if step.name in FACTS and details else {}
        waiting = _waiting(run) if step.status == Step.Status.QUEUED else ""
        shown.append(
            Measurement(
                step=step,
                title=TITLES.get(step.name, step.name),
                waiting=waiting,
                progress=_progress(step) if step.status == Step.Status.RUNNING else "",
                facts=facts,
            )
        )
    evals = found.step("evals")
    suites = _suites(found.evals, evals.details if evals and isinstance(evals.details, dict) else {})
    # Queued measurements of a run whose checks errored wait for a steward: polling would not help.
    live = run.status == PipelineRun.Status.PASSED and any(step.status in LIVE for step in found.steps)
    return MeasurementsView(measurements=shown, suites=suites, live=live, found=found)
