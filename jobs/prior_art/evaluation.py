"""How well the near-duplicate threshold separates hand-labelled recipe pairs (data/labelled_pairs.yaml).

Each pair is two edits of an example recipe (examples/recipes): unit variants, reordered mixtures and
incidental changes (seed, hardware, outcome) are labelled near-duplicates; a different learning rate,
architecture, mixture, stage or RL setup is not. Used by the tests now and by a benchmark later.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from jobs.prior_art.normalize import experiment_from
from jobs.prior_art.similarity import NEAR_DUPLICATE, compare

PAIRS = Path(__file__).resolve().parent / "data" / "labelled_pairs.yaml"
ROOT = Path(__file__).resolve().parents[2]  # example paths in the pairs file are relative to the repository


@dataclass(frozen=True)
class LabelledPair:
    id: str
    near_duplicate: bool
    why: str
    mine: dict[str, Any]
    theirs: dict[str, Any]


@dataclass(frozen=True)
class Evaluation:
    threshold: float
    true_positives: int
    false_positives: int
    false_negatives: int
    true_negatives: int
    mistakes: list[tuple[str, float, bool]] = field(default_factory=list)  # (pair id, score, label)

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 1.0

    @property
    def recall(self) -> float:
        labelled = self.true_positives + self.false_negatives
        return self.true_positives / labelled if labelled else 1.0


def _edited(base: dict[str, Any], edits: dict[str, Any]) -> dict[str, Any]:
    """`base` with `delete` (dotted paths), then `set` ({dotted path: value}), then `order`
    ({list path: [old indexes in new order]}) applied; numbers in a path index lists."""
    recipe = copy.deepcopy(base)

    def parent(path: str) -> tuple[Any, str | int]:
        *parts, last = path.split(".")
        node: Any = recipe
        for part in parts:
            node = node[int(part)] if part.isdigit() else node[part]
        return node, int(last) if last.isdigit() else last

    for path in edits.get("delete", []):
        node, key = parent(path)
        del node[key]
    for path, value in edits.get("set", {}).items():
        node, key = parent(path)
        node[key] = copy.deepcopy(value)
    for path, order in edits.get("order", {}).items():
        node, key = parent(path)
        node[key] = [node[key][i] for i in order]
    return recipe


def load_pairs(path: Path = PAIRS) -> list[LabelledPair]:
    document = yaml.safe_load(path.read_text())
    bases = {name: yaml.safe_load((ROOT / file).read_text()) for name, file in document["bases"].items()}
    pairs = []
    for item in document["pairs"]:
        sides = []
        for side in ("mine", "theirs"):
            edits = item.get(side) or {}
            sides.append(_edited(bases[edits.get("base", item["base"])], edits))
        pairs.append(LabelledPair(item["id"], bool(item["near_duplicate"]), item["why"], sides[0], sides[1]))
    return pairs


def evaluate(pairs: list[LabelledPair], threshold: float = NEAR_DUPLICATE) -> Evaluation:
    """Counts of the threshold's calls against the labels, and the pairs it got wrong."""
    counts = {(True, True): 0, (True, False): 0, (False, True): 0, (False, False): 0}
    mistakes = []
    for pair in pairs:
        score = compare(experiment_from(pair.mine), experiment_from(pair.theirs)).score
        called = score >= threshold
        counts[called, pair.near_duplicate] += 1
        if called != pair.near_duplicate:
            mistakes.append((pair.id, score, pair.near_duplicate))
    return Evaluation(
        threshold=threshold,
        true_positives=counts[True, True],
        false_positives=counts[True, False],
        false_negatives=counts[False, True],
        true_negatives=counts[False, False],
        mistakes=mistakes,
    )
