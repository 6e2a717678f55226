"""The gating checks and the measurements, and which of them run for each artifact kind.

Every step of a run is independent of the others (each reads the stored files itself), so a run's
gating checks are dispatched together and run in parallel on as many workers as there are; its
measurements (evals and probes) are dispatched together once those checks have passed.
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
    "prior_art": "jobs.checks.prior_art:check",
}
# Measurements inform and never gate (DESIGN.md): evals and probes of models.
MEASURES: dict[str, str] = {
    "evals": "jobs.measures.evals:measure",
    "compatibility": "jobs.measures.probes:compatibility",
    "finetune": "jobs.measures.probes:finetune",
    "cost": "jobs.measures.probes:cost",
}

_MODEL_STEPS = ("integrity", "safety", "format", "license", "metadata")
_OTHER_STEPS = ("integrity", "safety", "format", "license")
# A recipe is compared with the recipes its org can see (evidence for reviewers; it never fails one).
_RECIPE_STEPS = ("integrity", "safety", "format", "prior_art", "license")

STEPS_BY_KIND: dict[str, tuple[str, ...]] = {
    Kind.CHECKPOINT: _MODEL_STEPS,
    Kind.ADAPTER: _MODEL_STEPS,
    Kind.DATASET: _OTHER_STEPS,
    Kind.EVAL_SUITE: _OTHER_STEPS,
    Kind.PRETRAINING_RECIPE: _RECIPE_STEPS,
    Kind.POSTTRAINING_RECIPE: _RECIPE_STEPS,
    Kind.RL_ENVIRONMENT: _OTHER_STEPS,
}

# An adapter is scored on its base; it is a fine-tune already, so only checkpoints are fine-tuned.
MEASURES_BY_KIND: dict[str, tuple[str, ...]] = {
    Kind.CHECKPOINT: ("evals", "compatibility", "finetune", "cost"),
    Kind.ADAPTER: ("evals", "compatibility", "cost"),
}

# Gating checks run on the default queue; evals and probes take `gpu` (the accelerator's workers).
QUEUES: dict[str, str] = {**dict.fromkeys(CHECKS, "default"), **dict.fromkeys(MEASURES, "gpu")}


def check_for(name: str) -> Callable[[CheckContext], None]:
    module, function = {**CHECKS, **MEASURES}[name].split(":")
    return getattr(import_module(module), function)
