"""The fine-tunability probe on the demo's tiny checkpoint: a real LoRA run with peft, offline."""

from __future__ import annotations

import math
from pathlib import Path

from jobs.probes.finetune import probe


def test_a_short_lora_run_lowers_the_heldout_loss_and_is_stable(tiny_checkpoint: Path, tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    found = probe(model=tiny_checkpoint, scratch=scratch, steps=20, time_limit=300, memory_limit=6 * 2**30)
    assert found.steps == 20
    assert found.stable
    assert found.heldout_loss_after is not None
    assert found.heldout_loss_after < found.heldout_loss_before
    assert found.relative_heldout_drop is not None
    assert 0 < found.relative_heldout_drop < 1
    assert math.isclose(
        found.relative_heldout_drop, (found.heldout_loss_before - found.heldout_loss_after) / found.heldout_loss_before
    )
    assert len(found.found["train_losses"]) == 20
    assert found.found["trainable_parameters"] > 0
    assert found.seconds_per_step > 0


def test_the_same_budget_gives_the_same_figures(tiny_checkpoint: Path, tmp_path: Path) -> None:
    runs = []
    for name in ("first", "second"):
        scratch = tmp_path / name
        scratch.mkdir()
        runs.append(probe(model=tiny_checkpoint, scratch=scratch, steps=5, time_limit=300, memory_limit=6 * 2**30))
    assert runs[0].found["train_losses"] == runs[1].found["train_losses"]
