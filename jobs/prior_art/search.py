"""Prior-art search: the recipes an actor can see that are closest to an experiment, best first.

Candidates are the stored features (`RecipeFeatures`) of versions visible to the actor whose checks
passed or that went further (in review, approved, published), plus the actor's own orgs' others,
of the same stage. Nothing is read from S3, and a version the actor cannot see is never compared,
so it is neither returned nor counted. Matches scoring below MIN_SCORE are not listed, which lets SQL
leave out, before any comparison, the recipes that provably score below it (`prefilter`); the rest
are scored without words, and only the listed ones are explained.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Exists, OuterRef, Q

from jobs.models import RecipeFeatures
from jobs.prior_art.normalize import Experiment
from jobs.prior_art.prefilter import MIN_SCORE, possible
from jobs.prior_art.similarity import Comparison, Difference, compare, score
from registry.actors import Actor
from registry.models import Artifact, Version

State = Version.State
# Checked and passed, or further along: work others may build on (or should know about).
SHARED_STATES = (State.IN_REVIEW, State.APPROVED, State.PUBLISHING, State.PUBLISHED)
CHUNK = 2000  # prefiltered ids per query (SQLite takes at most 32,766 parameters)


@dataclass(frozen=True)
class Match:
    version: Version
    comparison: Comparison

    @property
    def name(self) -> str:
        """org/artifact@number."""
        return self.version.ref

    @property
    def score(self) -> float:
        return self.comparison.score

    @property
    def near_duplicate(self) -> bool:
        return self.comparison.near_duplicate

    @property
    def groups(self) -> dict[str, float]:
        return self.comparison.groups

    @property
    def differences(self) -> list[Difference]:
        return self.comparison.differences

    @property
    def summary(self) -> str:
        """'same as org-b/run@1.0 except lr 3e-4 vs 1e-4, c4 75% vs 60%'."""
        if not self.differences:
            return f"same as {self.name}"
        return f"same as {self.name} except {self.comparison.summary}"


def candidates(
    actor: Actor,
    wanted: Experiment,
    *,
    exclude_version: Version | None = None,
    exclude_artifact: Artifact | None = None,
) -> list[tuple[int, dict[str, Any], datetime]]:
    """(version id, features, the version's creation) of the recipes the actor may compare with
    (visible versions whose checks passed or went further, plus the actor's own orgs' others, not
    deleted) of `wanted`'s stage that may score MIN_SCORE or more against it (`prefilter.possible`).
    Two steps: the prefilter's ids from its index, then the visible ones among them with their
    features (with an id list, planners check visibility per row instead of listing all of it)."""
    versions = Version.objects.visible_to(actor).filter(
        Q(state__in=SHARED_STATES) | (Q(artifact__organization_id__in=actor.org_ids) & ~Q(state=State.DELETED))
    )
    rows = RecipeFeatures.objects.filter(Exists(versions.filter(pk=OuterRef("version_id"))))
    if exclude_version is not None:
        rows = rows.exclude(version_id=exclude_version.pk)
    if exclude_artifact is not None:
        rows = rows.exclude(version__artifact_id=exclude_artifact.pk)
    ids = list(possible(wanted))
    found: list[tuple[int, dict[str, Any], datetime]] = []
    for start in range(0, len(ids), CHUNK):
        chunk = rows.filter(version_id__in=ids[start : start + CHUNK])
        found += chunk.values_list("version_id", "features", "version__created_at")
    return found


def prior_art(
    actor: Actor,
    experiment: Experiment,
    *,
    limit: int = 10,
    exclude_version: Version | None = None,
    exclude_artifact: Artifact | None = None,
) -> list[Match]:
    """The `limit` visible recipes closest to `experiment` scoring at least MIN_SCORE, by score, then
    oldest first; without `exclude_version`, or any version of `exclude_artifact` (a recipe's own
    earlier versions). Only the features are read to score; the versions of the best are read last."""
    scored = []
    found = candidates(actor, experiment, exclude_version=exclude_version, exclude_artifact=exclude_artifact)
    for version_id, features, created_at in found:
        theirs = Experiment.from_dict(features)
        if (value := score(experiment, theirs)) >= MIN_SCORE:
            scored.append((-value, created_at, version_id, theirs))
    best = heapq.nsmallest(limit, scored, key=lambda item: item[:3])
    versions = Version.objects.select_related("artifact__organization").in_bulk([item[2] for item in best])
    return [Match(versions[version_id], compare(experiment, theirs)) for _, _, version_id, theirs in best]
