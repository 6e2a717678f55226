"""The cost probe: parameter count, the weights' memory at fp32/bf16/int8, and tokens per second of
greedy generation on the worker's hardware (labelled with that hardware), run in the sandbox."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobs.sandbox import run_module


@dataclass(frozen=True)
class Cost:
    parameters: int  # everything loaded: the base, plus the adapter when there is one
    adapter_parameters: int | None  # the adapter's own; None for a checkpoint
    memory_bytes: dict[str, int]  # the weights alone at "fp32", "bf16", "int8" (no activations, KV cache)
    tokens_per_second: float  # greedy, batch 1, median of repeats after a warm-up
    hardware: dict[str, Any]  # processor, threads, device, torch, and a one-line "label"
    found: dict[str, Any]  # everything the run recorded (timings, prompt, first-token time, peak RSS)


def probe(
    *,
    model: Path,
    scratch: Path,
    adapter: Path | None = None,
    new_tokens: int = 32,
    time_limit: float,
    memory_limit: int,
) -> Cost:
    """Measure `model` (and `adapter` on it) in the sandbox. Raises SandboxFailed when it cannot
    finish: weights that do not load, a crash or a limit."""
    args = ["--model", str(model), "--new-tokens", str(new_tokens)]
    args += ["--adapter", str(adapter)] if adapter else []
    found, _ = run_module(
        "jobs.probes.cost_child",
        args,
        cwd=scratch,
        scratch=scratch,
        time_limit=time_limit,
        memory_limit=memory_limit,
    )
    return Cost(
        parameters=found["parameters"],
        adapter_parameters=found["adapter_parameters"],
        memory_bytes=found["memory_bytes"],
        tokens_per_second=found["tokens_per_second"],
        hardware=found["hardware"],
        found=found,
    )
