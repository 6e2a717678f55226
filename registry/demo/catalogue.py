"""The demo catalogue: which versions it holds (examples/demo/<key>/consortium.yaml), how they link,
and where each one stands. Later demos extend CATALOGUE; the seeding loop needs no change."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import Any

import yaml

from jobs.models import PipelineRun, Publication
from registry.demo.files import EXAMPLES
from registry.models import Relation, ReleaseTarget, Version

State = Version.State


@dataclass(frozen=True)
class Item:
    """One version of the catalogue, pushed from examples/demo/<key>/."""

    key: str
    lineage: tuple[tuple[str, str], ...] = ()  # (relation, key of the parent item)
    after: tuple[str, ...] = ()  # items its files name by registry reference: finalized first
    waits_for: tuple[str, ...] = ()  # items that must reach their end state before it is pushed

    @cached_property
    def manifest(self) -> dict[str, Any]:
        return yaml.safe_load((EXAMPLES / self.key / "consortium.yaml").read_text())

    @property
    def org(self) -> str:
        return self.manifest["organization"]

    @property
    def ref(self) -> str:
        m = self.manifest
        return f"{m['organization']}/{m['artifact']}@{m['version']}"

    @property
    def needs(self) -> tuple[str, ...]:
        """Items that must be finalized before this one is pushed."""
        return (*self.after, *(parent for _, parent in self.lineage))

    def find(self) -> Version | None:
        m = self.manifest
        return (
            Version.objects.filter(
                artifact__organization__slug=m["organization"], artifact__slug=m["artifact"], number=str(m["version"])
            )
            .select_related("artifact__organization", "pipeline", "publication")
            .first()
        )


CATALOGUE: tuple[Item, ...] = (
    Item("eval-suite"),  # the stewards' default suite for checkpoints and adapters, once approved
    Item("dataset"),
    Item("recipe", after=("dataset",)),  # its data mixture names the dataset
    Item(
        "checkpoint",
        lineage=((Relation.PRODUCED_BY, "recipe"), (Relation.TRAINED_ON, "dataset")),
        waits_for=("eval-suite",),  # so its evals find the default suite
    ),
    Item("adapter", lineage=((Relation.DERIVED_FROM, "checkpoint"),)),
    Item("ablation"),  # aurora's finished 1.2B run: the prior art
    Item("ablation-plan", waits_for=("ablation",)),  # borealis's near-copy of it, planned and not run
)
# The suite the stewards choose for every version of these kinds once it is approved.
DEFAULT_SUITE_FOR = {"eval-suite": ("checkpoint", "adapter")}
# item → the item whose run its org acknowledges as answering its own (a prior-art match it will not re-run).
ACKNOWLEDGES = {"ablation-plan": "ablation"}


class Stage(StrEnum):
    """What the seeding has left to do for one version."""

    PUSH = "push"  # absent, or a draft whose push was interrupted
    CHECKING = "checking"
    REVIEW = "review"  # in_review: waits for the other org's approval
    PUBLISHING = "publishing"
    DONE = "done"  # its end state: published, or approved when its release target is the consortium
    STOPPED = "stopped"  # refused, errored or withdrawn: nothing the seeding can do

    @property
    def settled(self) -> bool:
        return self in (Stage.DONE, Stage.STOPPED)


def _run_status(version: Version) -> str | None:
    try:
        return version.pipeline.status
    except PipelineRun.DoesNotExist:
        return None


def publication_of(version: Version) -> Publication | None:
    try:
        return version.publication
    except Publication.DoesNotExist:
        return None


def stage_of(version: Version | None) -> Stage:
    if version is None or version.state == State.DRAFT:
        return Stage.PUSH
    if version.state in (State.SUBMITTED, State.CHECKING):
        return Stage.STOPPED if _run_status(version) == PipelineRun.Status.ERRORED else Stage.CHECKING
    if version.state == State.IN_REVIEW:
        return Stage.REVIEW
    if version.state == State.PUBLISHED:
        return Stage.DONE
    if version.state == State.APPROVED:
        if version.release_target == ReleaseTarget.CONSORTIUM:
            return Stage.DONE
        publication = publication_of(version)
        failed = publication is not None and publication.status == Publication.Status.FAILED
        return Stage.STOPPED if failed else Stage.PUBLISHING
    if version.state == State.PUBLISHING:
        return Stage.PUBLISHING
    return Stage.STOPPED  # changes_requested, rejected, withdrawn, deleted


def catalogue_status() -> str:
    """`seeded` when the seeding has nothing left to do, `absent` before it starts, else `partial`."""
    stages = [stage_of(item.find()) for item in CATALOGUE]
    if all(stage.settled for stage in stages):
        return "seeded"
    return "absent" if all(stage == Stage.PUSH for stage in stages) else "partial"
