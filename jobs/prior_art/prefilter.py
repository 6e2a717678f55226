"""What a prior-art search leaves out in SQL, before comparing: the recipes that provably score below
MIN_SCORE against the searched one. Matches below MIN_SCORE are not listed, so the search returns
what comparing every visible recipe would, at or above it.

The argument, from `similarity.compare`: the score is the sum of w_g * s_g over the groups that
apply, the weights GROUP_WEIGHTS renormalised to sum to 1, times METHOD_FACTOR (< MIN_SCORE, so
another method is left out outright) when the methods differ. Hence

    score = 1 - sum_g w_g * (1 - s_g) <= 1 - sum_g (GROUP_WEIGHTS[g] / T) * (1 - u_g)

where T is the sum of the weights of every group that can apply (not RL for pretraining or sft: their
schema forbids an `rl` section, and candidates share the searched stage and method), and u_g >= s_g
bounds a group's score from a few of its features: a group score is a product of factors
1 - importance * (1 - similarity), each at most 1, so leaving factors out only raises it. A group
with a bounded feature given on both sides applies, so its weight is at least GROUP_WEIGHTS[g] / T.
The bounded features are kept as columns of RecipeFeatures (`feature_columns`): family, parameter
count and base model; optimizer, learning rate and schedule; total tokens. A NULL on either side
counts as the same, so a row whose columns are unknown is never left out. Numbers are compared by
ratio (similarity 1 - |ln a - ln b| / ln scale, at least 0), so their columns hold logarithms.
"""

from __future__ import annotations

import math
from typing import Any

from django.db.models import Case, F, FloatField, Q, QuerySet, Value, When
from django.db.models.expressions import CombinedExpression
from django.db.models.functions import Abs, Least

from jobs.models import RecipeFeatures
from jobs.prior_art.normalize import Experiment
from jobs.prior_art.similarity import FEATURES, GROUP_WEIGHTS, Feature

MIN_SCORE = 0.8
"""Matches scoring below it are not listed: they share too little to be prior art."""
ROUNDING_MARGIN = 1e-3  # scores are shown to 4 decimals: a left-out 0.79996 must not be a shown 0.8
FEATURE = {feature.field: feature for feature in FEATURES}
# (Experiment field, RecipeFeatures column): the features the SQL bound reads.
BOUNDED: tuple[tuple[str, str], ...] = (
    ("family", "family"),
    ("parameters", "log_parameters"),
    ("base_model", "base_model"),
    ("optimizer", "optimizer"),
    ("lr", "log_lr"),
    ("schedule", "schedule"),
    ("total_tokens", "log_total_tokens"),
)
# The argument's premises (checked by the tests): METHOD_FACTOR < MIN_SCORE, and the bounded features
# are categories or logs without a floor.


def _log(value: float | None) -> float | None:
    return math.log(value) if value is not None and value > 0 else None


def feature_columns(found: Experiment) -> dict[str, Any]:
    """The RecipeFeatures columns of an experiment besides `features` (its `as_dict()`)."""
    columns: dict[str, Any] = {"stage": found.stage, "parameters": found.parameters, "method": found.method}
    for field, column in BOUNDED:
        value = getattr(found, field)
        columns[column] = _log(value) if FEATURE[field].kind == "log" else value
    return columns


def _applicable(wanted: Experiment) -> float:
    """T: the weights of every group that can apply between `wanted` and a recipe of its stage and method."""
    rl_possible = not (wanted.stage == "pretraining" or wanted.method == "sft")
    return sum(weight for group, weight in GROUP_WEIGHTS.items() if group != "rl" or rl_possible)


def parameter_band(wanted: Experiment) -> float | None:
    """The ratio R such that a recipe with over R times, or under 1/R times, `wanted`'s parameter
    count scores below MIN_SCORE; None when no ratio can prove it. The bound above with the
    parameter count alone: score <= 1 - (0.25 / T) * 0.8 * min(1, ln r / ln 4) at a ratio r, below
    MIN_SCORE (less the margin) once r > 3.50 for pretraining and sft; for dpo and rl (T = 1.1) the
    count alone takes at most 0.18, too little. The part of the bound an index serves."""
    parameters = FEATURE["parameters"]
    if wanted.parameters is None or wanted.parameters <= 0:
        return None
    most = parameters.importance * GROUP_WEIGHTS[parameters.group] / _applicable(wanted)  # the loss at similarity 0
    needed = 1 - MIN_SCORE + ROUNDING_MARGIN
    return float(parameters.scale ** (needed / most)) if most > needed else None


def _factor(feature: Feature, column: str, value: Any) -> CombinedExpression | Case | None:
    """An upper bound of the feature's factor in its group's score, as SQL; None if `wanted` lacks it."""
    if feature.kind == "log":
        if (logged := _log(value)) is None:
            return None
        dissimilarity = Least(Value(1.0), Abs(F(column) - Value(logged)) / Value(math.log(feature.scale)))
        return Case(
            When(**{f"{column}__isnull": True}, then=Value(1.0)),
            default=Value(1.0) - Value(feature.importance) * dissimilarity,
            output_field=FloatField(),
        )
    if value is None:
        return None
    return Case(
        When(Q(**{f"{column}__isnull": False}) & ~Q(**{column: value}), then=Value(1.0 - feature.importance)),
        default=Value(1.0),
        output_field=FloatField(),
    )


def upper_bound(wanted: Experiment) -> Any:
    """SQL for an upper bound of each row's score against `wanted` (the module's argument)."""
    total = _applicable(wanted)
    groups: dict[str, Any] = {}
    for field, column in BOUNDED:
        feature = FEATURE[field]
        if (factor := _factor(feature, column, getattr(wanted, field))) is not None:
            groups[feature.group] = factor if feature.group not in groups else groups[feature.group] * factor
    bound: Any = Value(1.0)
    for group, score in groups.items():
        bound = bound - Value(GROUP_WEIGHTS[group] / total) * (Value(1.0) - score)
    return bound


def possible(wanted: Experiment) -> QuerySet[RecipeFeatures, int]:
    """The version ids of the stored recipes of `wanted`'s stage that may score MIN_SCORE or more
    against it, whoever may see them: the search keeps those its actor sees. Read from the index
    `recipe_features_prefilter` alone (no row, no JSON): the parameter band is a range of it, and the
    rows without a parameter count are a second range rather than an OR, which would read the rows."""
    rows = RecipeFeatures.objects.filter(stage=wanted.stage)
    if wanted.stage != "pretraining":  # pretraining has no method
        rows = rows.filter(Q(method=wanted.method) | Q(method__isnull=True))
    rows = rows.alias(prior_art_bound=upper_bound(wanted)).filter(prior_art_bound__gte=MIN_SCORE - ROUNDING_MARGIN)
    if (band := parameter_band(wanted)) is None or wanted.parameters is None:
        return rows.values_list("version_id", flat=True)
    low, high = math.ceil(wanted.parameters / band), math.floor(wanted.parameters * band)
    in_band = rows.filter(parameters__gte=low, parameters__lte=high).values_list("version_id", flat=True)
    return in_band.union(rows.filter(parameters__isnull=True).values_list("version_id", flat=True), all=True)
