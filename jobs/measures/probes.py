"""The probe steps: tooling compatibility, fine-tunability and cost, each on the fetched model
(`jobs.measures.workspace`) in the sandbox, its figures kept as the step's evidence."""

from __future__ import annotations

import dataclasses

from jobs.checks.base import CheckContext
from jobs.measures.workspace import Subject, measurement
from jobs.probes import compatibility as compatibility_probe
from jobs.probes import cost as cost_probe
from jobs.probes import finetune as finetune_probe


@measurement
def compatibility(ctx: CheckContext, subject: Subject) -> None:
    found = compatibility_probe.probe(
        model=subject.model,
        adapter=subject.adapter,
        scratch=subject.scratch,
        time_limit=subject.time_limit,
        memory_limit=subject.memory_limit,
    )
    ctx.details = {"checks": [dataclasses.asdict(c) for c in found.checks], "libraries": found.libraries}
    for check in found.checks:
        if check.passed is False:
            ctx.fail("incompatible", f"{check.check}: {check.detail}")
    applied = [c for c in found.checks if c.passed is not None]
    ctx.summary = f"{sum(bool(c.passed) for c in applied)} of {len(applied)} compatibility checks passed"


@measurement
def finetune(ctx: CheckContext, subject: Subject) -> None:
    found = finetune_probe.probe(
        model=subject.model, scratch=subject.scratch, time_limit=subject.time_limit, memory_limit=subject.memory_limit
    )
    ctx.details = found.found
    if not found.stable:
        ctx.fail("unstable", "the LoRA run diverged or produced non-finite losses")
    drop = found.relative_heldout_drop
    change = f"held-out loss {found.heldout_loss_before:.3f} → {found.heldout_loss_after:.3f}"
    ctx.summary = f"{change} ({-drop:+.1%}) in {found.steps} LoRA steps" if drop is not None else change


@measurement
def cost(ctx: CheckContext, subject: Subject) -> None:
    found = cost_probe.probe(
        model=subject.model,
        adapter=subject.adapter,
        scratch=subject.scratch,
        time_limit=subject.time_limit,
        memory_limit=subject.memory_limit,
    )
    ctx.details = found.found
    device = found.hardware.get("device", "cpu")
    ctx.summary = f"{found.parameters:,} parameters, {found.tokens_per_second:.1f} tokens/s on {device}"
