"""Prior-art search: the recipes an actor can see that are closest to an experiment, best first.

Candidates are the stored features (`RecipeFeatures`) of versions visible to the actor whose checks
passed or that went further (in review, approved, published), plus the actor's own orgs' others,
of the same stage. Nothing is read from S3, and a version the actor cannot see is never compared,
so it is neither returned nor counted.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q

from jobs.models import RecipeFeatures
from jobs.prior_art.normalize import Experiment
from jobs.prior_art.similarity import Comparison, Difference, compare
from registry.actors import Actor
from registry.models import Version

State = Version.State
# Checked and passed, or further along: work others may build on (or should know about).
SHARED_STATES = (State.IN_REVIEW, State.APPROVED, State.PUBLISHING, State.PUBLISHED)


@dataclass(frozen=True)
class Match:
    version: Version
    comparison: Comparison

    @property
    def name(self) -> str:
        """org/artifact@number."""
        artifact = self.version.artifact
        return f"{artifact.organization.slug}/{artifact.slug}@{self.version.number}"

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


def candidates(actor: Actor, stage: str) -> list[RecipeFeatures]:
    versions = Version.objects.visible_to(actor).filter(
        Q(state__in=SHARED_STATES) | (Q(artifact__organization_id__in=actor.org_ids) & ~Q(state=State.DELETED))
    )
    return list(
        RecipeFeatures.objects.filter(stage=stage, version__in=versions).select_related(
            "version__artifact__organization"
        )
    )


def prior_art(
    actor: Actor, experiment: Experiment, *, limit: int = 10, exclude_version: Version | None = None
) -> list[Match]:
    """The `limit` visible recipes closest to `experiment`, by score, then oldest first."""
    matches = [
        Match(row.version, compare(experiment, Experiment.from_dict(row.features)))
        for row in candidates(actor, experiment.stage)
        if exclude_version is None or row.version_id != exclude_version.pk
    ]
    matches.sort(key=lambda m: (-m.score, m.version.created_at, m.version.pk))
    return matches[:limit]
