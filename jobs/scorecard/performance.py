"""Performance for its size: each of the version's visible scores against the scores of other
visible checkpoints (and adapters, by their base) of similar size on the same suite, task, metric
and filter. Similar size is SIZE_BAND times the version's parameters (an adapter's: its base's)."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from typing import Any, cast

from django.db.models import Exists, OuterRef, Q

from jobs.models import EvalResult
from jobs.scorecard.model import ContaminationFlag, Evidence, Factor, Status, suite_ref, version_evidence
from registry.actors import Actor
from registry.models import Kind, LineageEdge, Relation, Version

SIZE_BAND = (0.5, 2.0)
GOOD_PERCENTILE, FAIR_PERCENTILE = 67, 33  # the median percentile that makes the factor good, fair
_LOWER_IS_BETTER_NAMES = frozenset({"bits_per_byte", "bpb", "ter", "wer", "cer"})

Key = tuple[int, str, str, str]  # suite artifact, task, metric, filter


def lower_is_better(metric: str) -> bool:
    """Perplexity-, loss- and error-like metrics improve downwards; the harness's others upwards."""
    name = metric.lower()
    return "perplexity" in name or "loss" in name or name.endswith("error") or name in _LOWER_IS_BETTER_NAMES


def model_size(version: Version, bases: list[Version]) -> int | None:
    """Parameters a checkpoint has; for an adapter, those of its (single, visible) registry base."""
    if version.artifact.kind == Kind.CHECKPOINT:
        return version.parameters
    sizes = {b.parameters for b in bases if b.parameters}
    return sizes.pop() if len(sizes) == 1 else None


def _band(size: int) -> tuple[int, int]:
    return math.ceil(size * SIZE_BAND[0]), math.floor(size * SIZE_BAND[1])


def _peer_values(actor: Actor, version: Version, results: list[EvalResult], size: int) -> dict[Key, list[float]]:
    """Each peer's value per key (one per peer version: on the newest suite version it was scored on)."""
    lo, hi = _band(size)
    visible = Version.objects.visible_to(actor)
    base_in_band = LineageEdge.objects.filter(
        child_id=OuterRef("version_id"), relation=Relation.DERIVED_FROM, parent__parameters__range=(lo, hi)
    ).filter(Exists(visible.filter(pk=OuterRef("parent_id"))))
    rows = (
        EvalResult.objects.filter(
            suite__artifact_id__in={r.suite.artifact_id for r in results},
            task__in={r.task for r in results},
            metric__in={r.metric for r in results},
            value__isnull=False,
        )
        .exclude(version_id=version.pk)
        .exclude(version__state=Version.State.DELETED)
        .filter(Exists(visible.filter(pk=OuterRef("version_id"))), Exists(visible.filter(pk=OuterRef("suite_id"))))
        .filter(
            Q(version__artifact__kind=Kind.CHECKPOINT, version__parameters__range=(lo, hi))
            | Q(Exists(base_in_band), version__artifact__kind=Kind.ADAPTER)
        )
        .order_by("version_id", "-suite_id")
        .values_list("version_id", "suite__artifact_id", "task", "metric", "filter", "value")
    )
    taken: set[tuple[int, Key]] = set()
    values: dict[Key, list[float]] = defaultdict(list)
    for peer, artifact_id, task, metric, filter_, value in rows:
        key = (artifact_id, task, metric, filter_)
        if (peer, key) in taken or value is None or not math.isfinite(value):
            continue
        taken.add((peer, key))
        values[key].append(value)
    return values


def _percentile(value: float, peers: list[float], *, lower: bool) -> int:
    """The share of peers this value beats, ties counting half, in percent."""
    beaten = sum(1 for p in peers if (value < p if lower else value > p))
    ties = sum(1 for p in peers if p == value)
    return round(100 * (beaten + ties / 2) / len(peers))


def performance_factor(
    *, actor: Actor, version: Version, results: list[EvalResult], size: int | None, flags: list[ContaminationFlag]
) -> Factor:
    title = "Performance for its size"
    scored = [r for r in results if r.value is not None and math.isfinite(r.value)]
    evidence = [Evidence("step", "evals (this version's scores)", "evals")]
    evidence += [version_evidence(s) for s in {r.suite.pk: r.suite for r in scored}.values()]
    if not scored:
        return Factor("performance", title, Status.MISSING, "no eval scores", missing=["eval scores you can see"])
    peers = _peer_values(actor, version, scored, size) if size else {}
    flagged = {(f.suite.pk, f.task, f.metric, f.filter) for f in flags}
    rows: list[dict[str, Any]] = []
    counted: list[int] = []
    for r in scored:
        lower = lower_is_better(r.metric)
        found = peers.get((r.suite.artifact_id, r.task, r.metric, r.filter), [])
        contaminated = (r.suite.pk, r.task, r.metric, r.filter) in flagged
        row: dict[str, Any] = {
            "suite": suite_ref(r.suite),
            "task": r.task,
            "metric": r.metric,
            "filter": r.filter,
            "value": r.value,
            "better": "lower" if lower else "higher",
            "peers": len(found),
            "percentile": None,
            "peer_median": None,
            "contaminated": contaminated,
        }
        if found:
            row["percentile"] = _percentile(cast(float, r.value), found, lower=lower)
            row["peer_median"] = statistics.median(found)
            if not contaminated:
                counted.append(row["percentile"])
        rows.append(row)
    if not size:
        what = (
            "its base's parameter count (a registry checkpoint you can see, counted by its metadata step)"
            if version.artifact.kind == Kind.ADAPTER
            else "its parameter count (counted by the metadata step)"
        )
        figures: dict[str, Any] = {"parameters": None, "peer_parameters": None, "scores": rows}
        missing = [what]
        return Factor("performance", title, Status.MISSING, "size unknown: not compared", figures, evidence, missing)
    lo, hi = _band(size)
    figures = {"parameters": size, "peer_parameters": [lo, hi], "scores": rows}
    missing = []
    if not counted:
        missing.append(
            "other checkpoints of similar size you can see, scored on the same suite, task and metric"
            + (" (contaminated scores are not compared)" if flagged else "")
        )
        return Factor("performance", title, Status.MISSING, "no peers of similar size", figures, evidence, missing)
    median = statistics.median(counted)
    status = Status.GOOD if median >= GOOD_PERCENTILE else Status.FAIR if median >= FAIR_PERCENTILE else Status.POOR
    peers_n = sorted({row["peers"] for row in rows if row["percentile"] is not None and not row["contaminated"]})
    n = f"{peers_n[0]}" if len(peers_n) == 1 else f"{peers_n[0]}-{peers_n[-1]}"
    headline = (
        f"median percentile {median:g} on {len(counted)} score(s), against {n} peer(s) of {lo:,}-{hi:,} parameters"
    )
    if without := sum(1 for row in rows if not row["peers"]):
        missing.append(f"{without} score(s) with no peer of similar size")
    if contaminated_n := sum(1 for row in rows if row["contaminated"]):
        missing.append(f"{contaminated_n} score(s) flagged by a contamination declaration, not compared")
    return Factor("performance", title, status, headline, figures, evidence, missing)
