"""A version's measurements as the API, the portal and the Hub card read them: the measurement
steps (evidence in `details`), and the eval scores with the suite version each came from."""

from __future__ import annotations

from dataclasses import dataclass

from jobs.models import EvalResult, Step
from registry.models import Version


@dataclass(frozen=True)
class Measurements:
    steps: list[Step]  # the run's measurement steps, in order; empty before a run exists
    evals: list[EvalResult]  # `suite__artifact__organization` loaded

    def step(self, name: str) -> Step | None:
        return next((s for s in self.steps if s.name == name), None)


def measurements_of(version: Version) -> Measurements:
    """Two queries, whatever the number of scores."""
    steps = list(Step.objects.filter(run__version=version, gating=False).order_by("position"))
    evals = list(
        EvalResult.objects.filter(version=version)
        .select_related("suite__artifact__organization")
        .order_by("suite_id", "task", "metric", "filter")
    )
    return Measurements(steps=steps, evals=evals)
