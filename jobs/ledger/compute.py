"""A run's compute as figures: GPU-hours and FLOPs, each None when unknown (never zero-filled)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jobs.checks.schemas.recipe_v1 import Recipe

# Training FLOPs of a dense transformer: forward and backward ≈ 6 * parameters * tokens (Kaplan et
# al. 2020); for a mixture of experts, the parameters active per token.
FLOPS_PER_PARAMETER_TOKEN = 6


@dataclass(frozen=True)
class Compute:
    gpu_hours: float | None = None
    flops: float | None = None
    flops_estimated: bool = False


def figure(value: Any) -> float | None:
    """A declared figure as a float ≥ 0, or None when absent or not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) and number >= 0 else None


def declared(compute: Mapping[str, Any] | Any) -> Compute:
    """A version's declared compute (`Version.compute`)."""
    if not isinstance(compute, Mapping):
        return Compute()
    return Compute(gpu_hours=figure(compute.get("gpu_hours")), flops=figure(compute.get("flops")))


def tokens_trained(recipe: Recipe) -> int | None:
    """Tokens the run went through: as reported (`outcome.tokens_seen`), else its completed steps
    times the batch, else the planned total for a run that succeeded; None for a run that stopped
    early without saying how far it went (its plan is not what it spent)."""
    outcome, per_step = recipe.outcome, recipe.batch.tokens
    if outcome.tokens_seen is not None:
        return outcome.tokens_seen
    if outcome.steps_completed is not None and per_step is not None:
        return outcome.steps_completed * per_step
    return recipe.total_tokens if outcome.status == "succeeded" else None


def estimated_flops(recipe: Recipe) -> float | None:
    """6 * (active) parameters * tokens trained; None without both."""
    arch = recipe.architecture
    parameters = None if arch is None else arch.parameters if arch.active_parameters is None else arch.active_parameters
    tokens = tokens_trained(recipe)
    if parameters is None or tokens is None:
        return None
    return float(FLOPS_PER_PARAMETER_TOKEN * parameters * tokens)


def of_recipe(recipe: Recipe, declared_compute: Mapping[str, Any] | Any) -> Compute:
    """A recipe run's cost: its hardware.gpu_hours, and the FLOPs its version declares, else estimated."""
    flops = declared(declared_compute).flops
    if flops is not None:
        return Compute(gpu_hours=recipe.hardware.gpu_hours, flops=flops)
    estimate = estimated_flops(recipe)
    return Compute(gpu_hours=recipe.hardware.gpu_hours, flops=estimate, flops_estimated=estimate is not None)
