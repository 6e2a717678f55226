"""The fine-tunability probe: how a checkpoint responds to a short, fixed LoRA run on the
consortium's held-out set (`jobs/probes/data/`), run in the sandbox."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobs.sandbox import run_module

DATA = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class Finetunability:
    steps: int
    heldout_loss_before: float
    heldout_loss_after: float | None
    relative_heldout_drop: float | None  # (before - after) / before: the comparable figure
    stable: bool  # every loss finite, and the last training loss not above the first
    seconds_per_step: float
    found: dict[str, Any]  # everything the run recorded (training losses, budget, parameters)


def probe(*, model: Path, scratch: Path, steps: int = 30, time_limit: float, memory_limit: int) -> Finetunability:
    args = ["--model", str(model), "--steps", str(steps)]
    args += ["--train", str(DATA / "finetune-train.jsonl"), "--heldout", str(DATA / "finetune-heldout.jsonl")]
    found, _ = run_module(
        "jobs.probes.finetune_child",
        args,
        cwd=scratch,
        scratch=scratch,
        time_limit=time_limit,
        memory_limit=memory_limit,
    )
    return Finetunability(
        steps=found["steps"],
        heldout_loss_before=found["heldout_loss_before"],
        heldout_loss_after=found["heldout_loss_after"],
        relative_heldout_drop=found["relative_heldout_drop"],
        stable=found["stable"],
        seconds_per_step=found["seconds_per_step"],
        found=found,
    )
