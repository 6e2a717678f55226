"""Tooling at release (the compatibility probe's matrix) and fine-tunability (the fixed LoRA probe),
read from the measurement steps as recorded. A probe that did not run, or has not finished, is
missing with the step's own reason (like "not measured (size)")."""

from __future__ import annotations

from typing import Any

from jobs.models import Step
from jobs.scorecard.model import Evidence, Factor, Status
from registry.models import Version

_TAKEN = frozenset({Step.Status.PASSED, Step.Status.FAILED})


def _not_taken(key: str, title: str, step: Step | None, what: str) -> Factor:
    if step is None:
        return Factor(key, title, Status.MISSING, "not measured", missing=[what])
    skipped = step.status == Step.Status.SKIPPED and step.summary  # says why, like "not measured (size)"
    return Factor(
        key,
        title,
        Status.MISSING,
        step.summary if skipped else f"not measured: {step.status}",
        evidence=[Evidence("step", title, step.name)],
        missing=[what],
    )


def tooling_factor(step: Step | None) -> Factor:
    key, title = "tooling", "Tooling at release"
    details: dict[str, Any] = step.details if step is not None and isinstance(step.details, dict) else {}
    checks = [c for c in details.get("checks", []) if isinstance(c, dict)]
    if step is None or step.status not in _TAKEN or not checks:
        return _not_taken(key, title, step, "the compatibility probe's matrix")
    passed = [c.get("check", "") for c in checks if c.get("passed") is True]
    failed = [c.get("check", "") for c in checks if c.get("passed") is False]
    status = Status.GOOD if passed and not failed else Status.POOR if len(failed) >= len(passed) else Status.FAIR
    headline = f"{len(passed)} of {len(passed) + len(failed)} compatibility checks passed"
    if failed:
        headline += f"; failed: {', '.join(failed)}"
    figures = {
        "passed": len(passed),
        "failed": len(failed),
        "not_applicable": len(checks) - len(passed) - len(failed),
        "failed_checks": failed,
        "libraries": details.get("libraries", {}),
    }
    return Factor(key, title, status, headline, figures, [Evidence("step", "compatibility matrix", step.name)])


def finetune_factor(step: Step | None, *, base: Version | None = None, adapter: bool = False) -> Factor:
    """The fine-tune probe of a checkpoint; of an adapter (a fine-tune already, never probed
    itself), the probe of its registry base: how well that base takes a LoRA, the adapter's kind."""
    key, title = "finetune", "Fine-tunability"
    if adapter and base is None:
        missing = ["the base's fine-tune probe: the adapter's base is not a checkpoint in the registry"]
        return Factor(key, title, Status.MISSING, "no registry base to read", missing=missing)
    details: dict[str, Any] = step.details if step is not None and isinstance(step.details, dict) else {}
    if step is None or step.status not in _TAKEN or "heldout_loss_before" not in details:
        factor = _not_taken(key, title, step, "the fine-tune probe's held-out losses")
        if base is not None:
            factor.headline, factor.evidence = f"its base: {factor.headline}", [_base_probe(base)]
        return factor
    before, after = details.get("heldout_loss_before"), details.get("heldout_loss_after")
    drop, stable = details.get("relative_heldout_drop"), details.get("stable") is True
    improved = isinstance(drop, int | float) and drop > 0
    status = Status.POOR if not stable else Status.GOOD if improved else Status.FAIR
    loss = f"held-out loss {_loss(before)} → {_loss(after)}"
    change = f" ({-drop:+.1%})" if isinstance(drop, int | float) else ""
    headline = f"{loss}{change}, {'stable' if stable else 'unstable'}"
    figures = {
        "heldout_loss_before": before,
        "heldout_loss_after": after,
        "relative_heldout_drop": drop,
        "stable": stable,
        "steps": details.get("steps"),
        "seconds_per_step": details.get("seconds_per_step"),
    }
    if base is not None:
        return Factor(key, title, status, f"its base: {headline}", figures, [_base_probe(base)])
    return Factor(key, title, status, headline, figures, [Evidence("step", "fine-tune probe", step.name)])


def _base_probe(base: Version) -> Evidence:
    return Evidence("version", f"fine-tune probe of its base {base.ref}", str(base.public_id))


def _loss(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) and not isinstance(value, bool) else "not finite"
