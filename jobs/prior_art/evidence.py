"""A pushed recipe's prior art as evidence: the matches its step found (stored as its org saw them)
and, for each reader, only the matches that reader can see.

The step's own summary and details name no match, because everyone who sees the version reads
them; the rows are the evidence, filtered per reader through `Version.objects.visible_to`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from jobs.models import PriorArtMatch
from jobs.prior_art.search import Match
from registry.actors import Actor
from registry.models import Kind, Version

RECIPE_KINDS = (Kind.PRETRAINING_RECIPE, Kind.POSTTRAINING_RECIPE)


def matches_store(version: Version, matches: Sequence[Match]) -> None:
    """Replace the version's matches (a re-run finds them again). Run by the pipeline in the
    transaction that records the step's result."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("prior-art matches are stored with the step's result, in its transaction")
    PriorArtMatch.objects.filter(version=version).delete()
    now = timezone.now()
    PriorArtMatch.objects.bulk_create(
        PriorArtMatch(
            version=version,
            match=match.version,
            rank=rank,
            score=match.score,
            near_duplicate=match.near_duplicate,
            comparison={
                "groups": match.groups,
                "differences": [
                    {"field": d.field, "mine": d.mine, "theirs": d.theirs, "text": d.text} for d in match.differences
                ],
                "summary": match.summary,
            },
            created_at=now,
        )
        for rank, match in enumerate(matches, start=1)
    )


@dataclass(frozen=True)
class SeenMatch:
    """One stored match, as a reader who can see it is shown it."""

    row: PriorArtMatch

    @property
    def version(self) -> Version:
        return self.row.match

    @property
    def name(self) -> str:
        """org/artifact@number."""
        return self.version.ref

    @property
    def score(self) -> float:
        return self.row.score

    @property
    def near_duplicate(self) -> bool:
        return self.row.near_duplicate

    @property
    def differences(self) -> list[dict[str, Any]]:
        return list(self.row.comparison.get("differences", []))

    @property
    def summary(self) -> str:
        return str(self.row.comparison.get("summary", ""))


def visible_matches(actor: Actor, version: Version) -> list[SeenMatch]:
    """The matches stored for `version` that `actor` can see, best first, if it can see `version`
    itself; the others are neither listed nor counted."""
    seen = Version.objects.visible_to(actor)
    rows = (
        PriorArtMatch.objects.filter(version=version, match__in=seen)
        .filter(version__in=seen)
        .select_related("match__artifact__organization")
        .order_by("rank")
    )
    return [SeenMatch(row) for row in rows]
