"""Format: each kind's files are what they claim to be, read with the field's own libraries."""

from __future__ import annotations

from importlib import import_module

from jobs.checks.base import CheckContext
from registry.models import Kind

_BY_KIND: dict[str, str] = {
    Kind.CHECKPOINT: "checkpoint",
    Kind.ADAPTER: "adapter",
    Kind.DATASET: "dataset",
    Kind.EVAL_SUITE: "eval_suite",
    Kind.PRETRAINING_RECIPE: "recipe",
    Kind.POSTTRAINING_RECIPE: "recipe",
    Kind.RL_ENVIRONMENT: "rl_environment",
}


def check(ctx: CheckContext) -> None:
    import_module(f"jobs.checks.formats.{_BY_KIND[ctx.kind]}").check(ctx)
