"""Explainable similarity between two experiments: a score in [0, 1], one score per group of fields,
and the differences that cost the most, in words ("lr 3e-4 vs 1e-4, starcoderdata 30% vs 10%").

Each group starts at 1 and every differing field multiplies it by (1 - importance * dissimilarity),
so a single decisive change (the learning rate, the architecture) takes its full share whatever
else matches. The score is the mean of the group scores with fixed weights, renormalised over the
groups that apply (RL only when either run has an RL section), times a factor when stage or method
differ. Numbers are compared on a log scale: 3e-4 vs 0.0003 is identical, 3e-4 vs 1e-4 is not.
Everything is plain float arithmetic on sorted data, so equal inputs always give equal outputs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from jobs.checks.schemas.common import SUFFIXES
from jobs.prior_art.normalize import Experiment, display_name

NEAR_DUPLICATE = 0.9
"""The product's stated threshold: at or above it, the other run is reported as "this has been tried"
(a near-duplicate of yours), not just related work. Measured on data/labelled_pairs.yaml."""

# Share of the score each group carries when it applies; renormalised over the groups that apply.
GROUP_WEIGHTS: dict[str, float] = {
    "architecture": 0.25,  # architecture and scale (for post-training: the base model)
    "data": 0.25,  # data mixture overlap
    "optimization": 0.25,  # optimizer and schedule
    "batch": 0.15,  # batch and tokens
    "rl": 0.20,  # RL setup, only when either run has one
}
STAGE_FACTOR = 0.5  # a pretraining and a post-training run are different experiments whatever else matches
METHOD_FACTOR = 0.7  # sft, dpo and rl from the same base answer different questions
# Mixtures sharing half their tokens or less score 0 in the data group: 1 - TV is rescaled from
# [0.5, 1] to [0, 1], so a 20-point shift of the mixture is a real difference, not a 10% one.
MIXTURE_FLOOR = 0.5
SAME = 1e-9  # relative tolerance under which two numbers are the same value
SHARE_SAME = 1e-6  # mixture fractions derived from token budgets carry float rounding

Kind = Literal["category", "log", "pair", "set"]
Format = Literal["text", "number", "count", "int", "pair", "keys"]


@dataclass(frozen=True)
class Feature:
    """One compared field: its group, how much of the group a total mismatch takes, and its scale."""

    field: str  # Experiment attribute
    group: str
    importance: float
    label: str
    kind: Kind = "category"
    scale: float = 10.0  # log features: the ratio at which they count as entirely different
    floor: float = 0.0  # added before taking logs, for fields that may be 0
    one_sided: float = 0.5  # similarity when only one run gives the field
    format: Format = "text"
    unit: str = ""


FEATURES: tuple[Feature, ...] = (
    Feature("family", "architecture", 0.6, "family", one_sided=0.0),
    Feature("parameters", "architecture", 0.8, "params", "log", scale=4, format="count"),
    Feature("active_parameters", "architecture", 0.5, "active params", "log", scale=4, format="count"),
    Feature("layers", "architecture", 0.3, "layers", "log", scale=4, format="int"),
    Feature("hidden_size", "architecture", 0.3, "hidden size", "log", scale=4, format="int"),
    Feature("heads", "architecture", 0.2, "heads", "log", scale=4, format="int"),
    Feature("context_length", "architecture", 0.3, "context", "log", scale=8, format="int"),
    Feature("base_model", "architecture", 0.8, "base model", one_sided=0.0, format="keys"),
    Feature("optimizer", "optimization", 0.6, "optimizer"),
    Feature("lr", "optimization", 0.6, "lr", "log", scale=3, format="number"),
    Feature("betas", "optimization", 0.2, "betas", "pair", scale=10, format="pair"),
    Feature("weight_decay", "optimization", 0.2, "weight decay", "log", scale=10, floor=1e-2, format="number"),
    Feature("schedule", "optimization", 0.5, "schedule"),
    Feature("warmup_steps", "optimization", 0.2, "warmup", "log", scale=4, floor=1, format="int", unit=" steps"),
    Feature("total_steps", "optimization", 0.3, "steps", "log", scale=4, format="int"),
    Feature("total_tokens", "batch", 0.7, "tokens", "log", scale=4, format="count"),
    Feature("batch_tokens", "batch", 0.4, "batch", "log", scale=4, format="count", unit=" tokens"),
    Feature("precision", "batch", 0.2, "precision"),
    Feature("rl_algorithm", "rl", 0.8, "rl", one_sided=0.0),
    Feature("reward_model", "rl", 0.4, "reward model", format="keys"),
    Feature("environments", "rl", 0.4, "environments", "set", format="keys"),
    Feature("kl_coef", "rl", 0.6, "kl", "log", scale=10, floor=1e-4, format="number"),
    Feature("rollouts_per_prompt", "rl", 0.3, "rollouts", "log", scale=4, format="int"),
)


@dataclass(frozen=True)
class Difference:
    """One field that differs; `cost` is about how much of the score it takes (for ordering)."""

    field: str
    mine: object
    theirs: object
    text: str
    cost: float


@dataclass(frozen=True)
class Comparison:
    score: float
    groups: dict[str, float]
    differences: list[Difference]

    @property
    def near_duplicate(self) -> bool:
        return self.score >= NEAR_DUPLICATE

    @property
    def summary(self) -> str:
        return summary(self.differences)


def _log_similarity(a: float, b: float, feature: Feature) -> float:
    if math.isclose(a, b, rel_tol=SAME, abs_tol=0.0):
        return 1.0
    lo, hi = sorted((a + feature.floor, b + feature.floor))
    if lo <= 0:
        return 0.0
    return max(0.0, 1 - math.log(hi / lo) / math.log(feature.scale))


def similarity(feature: Feature, mine: Any, theirs: Any) -> float | None:
    """In [0, 1], or None when neither run gives the field (it is then left out)."""
    empty = (None, ())
    if mine in empty and theirs in empty:
        return None
    if mine in empty or theirs in empty:
        return feature.one_sided
    if feature.kind == "log":
        return _log_similarity(float(mine), float(theirs), feature)
    if feature.kind == "pair":
        # Betas matter by their distance from 1 (0.95 vs 0.99 is a 5x longer memory).
        return min(_log_similarity(1 - a, 1 - b, feature) for a, b in zip(mine, theirs, strict=True))
    if feature.kind == "set":
        return len(set(mine) & set(theirs)) / len(set(mine) | set(theirs))
    return 1.0 if mine == theirs else 0.0


def number(value: float) -> str:
    """0.0003 → '3e-4', 0.95 → '0.95', 0 → '0': how learning rates are written in papers."""
    if value == 0 or 1e-2 <= abs(value) < 1e5:
        return f"{value:.4g}"
    exponent = math.floor(math.log10(abs(value)))
    mantissa = round(value / 10**exponent, 3)
    if abs(mantissa) >= 10:
        mantissa, exponent = mantissa / 10, exponent + 1
    return f"{mantissa:g}e{exponent}"


def count(value: int) -> str:
    """100000000000 → '100B', 4194304 → '4.19M'."""
    for suffix, size in sorted(SUFFIXES.items(), key=lambda item: -item[1]):
        if suffix and abs(value) >= size:
            return f"{value / size:.3g}{suffix}"
    return str(value)


def shown(value: object, format: Format) -> str:
    if value in (None, ()):
        return "none"
    if format == "number" and isinstance(value, int | float):
        return number(float(value))
    if format == "count" and isinstance(value, int):
        return count(value)
    if format == "pair" and isinstance(value, tuple):
        return "/".join(number(v) for v in value)
    if format == "keys" and isinstance(value, tuple):
        return "+".join(display_name(k) for k in value)
    if format == "keys" and isinstance(value, str):
        return display_name(value)
    return str(value)


def percent(share: float | None) -> str:
    return "none" if share is None else f"{share * 100:.3g}%"


def _mixture(
    mine: Experiment, theirs: Experiment, weight: float, explain: bool = True
) -> tuple[float | None, list[Difference]]:
    """(group score, per-dataset differences, listed only if `explain`); None when neither run lists data."""
    a, b = mine.fractions, theirs.fractions
    if not a and not b:
        return None, []
    overlap = sum(min(a.get(key, 0.0), b.get(key, 0.0)) for key in a.keys() | b.keys())
    differing = [key for key in sorted(a.keys() | b.keys()) if abs(a.get(key, 0.0) - b.get(key, 0.0)) > SHARE_SAME]
    if not differing:
        return 1.0, []
    differences = [
        Difference(
            field=f"data_mixture[{key}]",
            mine=a.get(key, 0.0),
            theirs=b.get(key, 0.0),
            text=f"{display_name(key)} {percent(a.get(key))} vs {percent(b.get(key))}",
            cost=weight * abs(a.get(key, 0.0) - b.get(key, 0.0)) / (2 * (1 - MIXTURE_FLOOR)),
        )
        for key in (differing if explain else ())
    ]
    return max(0.0, (overlap - MIXTURE_FLOOR) / (1 - MIXTURE_FLOOR)), differences


def compare(mine: Experiment, theirs: Experiment) -> Comparison:
    """How alike `theirs` is to `mine`, with the differences that explain the score, costliest first."""
    return _compared(mine, theirs, explain=True)


def score(mine: Experiment, theirs: Experiment) -> float:
    """`compare(mine, theirs).score` without putting the differences into words: what a search ranks
    thousands of recipes by before it explains the few it lists (the same arithmetic, so the same value)."""
    return _compared(mine, theirs, explain=False).score


def _compared(mine: Experiment, theirs: Experiment, explain: bool) -> Comparison:
    per_group: dict[str, list[tuple[Feature, float, object, object]]] = {}
    for feature in FEATURES:
        a, b = getattr(mine, feature.field), getattr(theirs, feature.field)
        sim = similarity(feature, a, b)
        if sim is not None:
            per_group.setdefault(feature.group, []).append((feature, sim, a, b))
    data_applies = bool(mine.mixture or theirs.mixture)
    applying = [g for g in GROUP_WEIGHTS if g in per_group or (g == "data" and data_applies)]
    total = sum(GROUP_WEIGHTS[g] for g in applying)
    weights = {g: GROUP_WEIGHTS[g] / total for g in applying}

    groups: dict[str, float] = {}
    differences: list[Difference] = []
    for group in applying:
        if group == "data":
            data_score, found = _mixture(mine, theirs, weights[group], explain)
            groups[group] = 1.0 if data_score is None else data_score
            differences += found
            continue
        score = 1.0
        for feature, sim, a, b in per_group[group]:
            score *= 1 - feature.importance * (1 - sim)
            if sim < 1 and explain:
                text = f"{feature.label} {shown(a, feature.format)} vs {shown(b, feature.format)}{feature.unit}"
                cost = weights[group] * feature.importance * (1 - sim)
                differences.append(Difference(feature.field, a, b, text, cost))
        groups[group] = score

    score = sum(weights[g] * groups[g] for g in applying)
    # Cost 1 puts a different stage or method first: it is the difference that decides the rest.
    if mine.stage != theirs.stage:
        if explain:
            text = f"stage {mine.stage} vs {theirs.stage}"
            differences.append(Difference("stage", mine.stage, theirs.stage, text, 1))
        score *= STAGE_FACTOR
    elif mine.method != theirs.method:
        if explain:
            text = f"method {mine.method or 'none'} vs {theirs.method or 'none'}"
            differences.append(Difference("method", mine.method, theirs.method, text, 1))
        score *= METHOD_FACTOR
    differences.sort(key=lambda d: (-round(d.cost, 9), d.field))
    return Comparison(
        score=round(score, 4),
        groups={g: round(s, 4) for g, s in groups.items()},
        differences=differences,
    )


def summary(differences: Sequence[Difference], limit: int = 3) -> str:
    """'lr 3e-4 vs 1e-4, starcoderdata 30% vs 10%': the costliest differences, then how many more."""
    if not differences:
        return "same setup"
    text = ", ".join(d.text for d in differences[:limit])
    rest = len(differences) - limit
    return text + (f", and {rest} more" if rest > 0 else "")
