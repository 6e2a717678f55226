"""Running `jobs.evals.harness` in the sandbox (`jobs.sandbox`) and reading its outcome back as
structured scores."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from jobs.sandbox import run_module


@dataclass(frozen=True)
class Score:
    task: str
    metric: str
    filter: str
    value: float | None
    stderr: float | None
    samples: int | None
    task_version: str


@dataclass(frozen=True)
class Outcome:
    scores: list[Score]
    harness_version: str
    seconds: float


def evaluate(
    *,
    model: Path,
    suite: Path,
    scratch: Path,
    adapter: Path | None = None,
    tasks: list[str] | None = None,
    time_limit: float,
    memory_limit: int,
    progress: Callable[[int, int], None] | None = None,
) -> Outcome:
    """Score `model` (with `adapter` on it, when given) on the tasks of `suite` (all of them unless
    named), in the suite's directory (task configs name their data relative to it). `scratch` takes
    the libraries' caches; `memory_limit` is in bytes of address space; `progress` gets the
    requests scored and known so far. Raises SandboxFailed."""
    args = ["--model", str(model), "--suite", str(suite)] + (["--adapter", str(adapter)] if adapter else [])
    for task in tasks or []:
        args += ["--task", task]
    found, seconds = run_module(
        "jobs.evals.harness",
        args,
        cwd=suite,
        scratch=scratch,
        time_limit=time_limit,
        memory_limit=memory_limit,
        progress=progress,
    )
    return Outcome(
        scores=[Score(**row) for row in found["scores"]],
        harness_version=found["harness_version"],
        seconds=seconds,
    )
