"""What a scorecard is made of: factors, each with a status, a headline, its figures, the evidence
it was read from and what is missing. Statuses come only from recorded evidence; a factor without
any is `missing`, never estimated."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from registry.models import LineageEdge, Version


class Status(StrEnum):
    GOOD = "good"
    FAIR = "fair"
    POOR = "poor"
    MISSING = "missing"


@dataclass(frozen=True)
class Evidence:
    """Where a factor's figures come from: a registry version (`ref` its id), a measurement or check
    of the scored version (`ref` the step's name), a Hub repo pinned to a revision, an org, or (for
    readiness) another factor of the same card."""

    kind: str  # "version" | "step" | "hub" | "organization" | "factor"
    label: str
    ref: str
    revision: str = ""  # hub: the pinned commit
    repo_type: str = ""  # hub: model or dataset

    def as_json(self) -> dict[str, str]:
        found = {"kind": self.kind, "label": self.label, "ref": self.ref}
        return {**found, "revision": self.revision, "repo_type": self.repo_type} if self.kind == "hub" else found


@dataclass
class Factor:
    key: str
    title: str
    status: Status
    headline: str
    figures: dict[str, Any] = field(default_factory=dict)
    evidence: list[Evidence] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "status": str(self.status),
            "headline": self.headline,
            "figures": self.figures,
            "evidence": [e.as_json() for e in self.evidence],
            "missing": self.missing,
        }


@dataclass(frozen=True)
class ContaminationFlag:
    """An eval score whose suite (and task) a dataset or recipe upstream of the model declared it overlaps."""

    suite: Version
    task: str
    metric: str
    filter: str
    declared_by: Version
    declared_suite: str  # as declared: org/suite or org/suite@number
    overlap: str

    def as_json(self) -> dict[str, Any]:
        return {
            "suite": suite_ref(self.suite),
            "task": self.task,
            "metric": self.metric,
            "filter": self.filter,
            "declared_by": {**suite_ref(self.declared_by), "kind": self.declared_by.artifact.kind},
            "declared_suite": self.declared_suite,
            "overlap": self.overlap,
        }


@dataclass
class Scorecard:
    version: Version
    factors: list[Factor]
    contamination: list[ContaminationFlag]

    def factor(self, key: str) -> Factor:
        return next(f for f in self.factors if f.key == key)

    def as_json(self) -> dict[str, Any]:
        return {
            "version": str(self.version.public_id),
            "factors": {f.key: f.as_json() for f in self.factors},
            "contamination": [flag.as_json() for flag in self.contamination],
        }


def suite_ref(version: Version) -> dict[str, str]:
    return {
        "id": str(version.public_id),
        "name": f"{version.artifact.organization.slug}/{version.artifact.slug}",
        "number": version.number,
    }


def version_evidence(version: Version) -> Evidence:
    return Evidence("version", f"{version.ref} ({version.artifact.kind.replace('_', ' ')})", str(version.public_id))


def edge_evidence(edge: LineageEdge) -> Evidence:
    """A lineage parent: the registry version, or the Hub repo at its pinned revision."""
    if edge.parent is not None:
        return version_evidence(edge.parent)
    repo_type = edge.external_repo_type or "model"
    return Evidence(
        "hub", f"{edge.external_repo} (Hub {repo_type})", edge.external_repo, edge.external_revision, repo_type
    )
