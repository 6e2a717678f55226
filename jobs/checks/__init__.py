"""The gating checks, and which of them run for each artifact kind.

Every step of a run is independent of the others (each reads the stored files itself), so a run's
steps are dispatched together and run in parallel on as many workers as there are.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module

from jobs.checks.base import CheckContext
from registry.models import Kind

# step name → "module:function"; imported on first use so the web process loads no scanners.
CHECKS: dict[str, str] = {
    "integrity": "jobs.checks.integrity:check",
    "safety": "jobs.checks.safety:check",
    "format": "jobs.checks.formats:check",
    "license": "jobs.checks.license:check",
    "metadata": "jobs.checks.metadata:check",
}

_MODEL_STEPS = ("integrity", "safety", "format", "license", "metadata")
_OTHER_STEPS = ("integrity", "safety", "format", "license")

STEPS_BY_KIND: dict[str, tuple[str, ...]] = {
    Kind.CHECKPOINT: _MODEL_STEPS,
    Kind.ADAPTER: _MODEL_STEPS,
    Kind.DATASET: _OTHER_STEPS,
    Kind.EVAL_SUITE: _OTHER_STEPS,
    Kind.PRETRAINING_RECIPE: _OTHER_STEPS,
    Kind.POSTTRAINING_RECIPE: _OTHER_STEPS,
    Kind.RL_ENVIRONMENT: _OTHER_STEPS,
}

# Gating checks run on the default queue; evals and probes (a later issue) take `gpu`.
QUEUES: dict[str, str] = dict.fromkeys(CHECKS, "default")


def check_for(name: str) -> Callable[[CheckContext], None]:
    module, function = CHECKS[name].split(":")
    return getattr(import_module(module), function)
