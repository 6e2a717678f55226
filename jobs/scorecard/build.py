"""The adoption scorecard of a checkpoint or adapter, computed for one actor from what it sees."""

from __future__ import annotations

from jobs.measures.results import Measurements
from jobs.models import Step
from jobs.scorecard.contamination import contamination_flags
from jobs.scorecard.lineage import parents_of, upstream_declarers
from jobs.scorecard.model import Evidence, Factor, Scorecard, Status
from jobs.scorecard.openness import license_factor
from jobs.scorecard.performance import model_size, performance_factor
from jobs.scorecard.probes import finetune_factor, tooling_factor
from jobs.scorecard.provenance import provenance_factor
from registry import selectors
from registry.actors import Actor
from registry.models import Kind, Relation, Version

SCORED_KINDS = frozenset({Kind.CHECKPOINT, Kind.ADAPTER})


def readiness_factor(factors: list[Factor]) -> Factor:
    """A summary of the other factors, never a guess: poor if any is poor, good if all are, missing
    if none has evidence, fair otherwise."""
    by_status = {status: [f for f in factors if f.status == status] for status in Status}
    if by_status[Status.POOR]:
        status = Status.POOR
    elif len(by_status[Status.GOOD]) == len(factors):
        status = Status.GOOD
    elif len(by_status[Status.MISSING]) == len(factors):
        status = Status.MISSING
    else:
        status = Status.FAIR
    parts = [f"{len(by_status[Status.GOOD])} of {len(factors)} factors good"]
    for word in (Status.FAIR, Status.POOR, Status.MISSING):
        if by_status[word]:
            parts.append(f"{word}: {', '.join(f.title.lower() for f in by_status[word])}")
    figures = {str(s): [f.key for f in found] for s, found in by_status.items()}
    evidence = [Evidence("factor", f.title, f.key) for f in factors]
    missing = [f"{f.title.lower()}: {'; '.join(f.missing)}" for f in by_status[Status.MISSING]]
    return Factor("readiness", "Readiness", status, "; ".join(parts), figures, evidence, missing)


def _finetune(version: Version, found: Measurements, bases: list[Version]) -> Factor:
    if version.artifact.kind == Kind.CHECKPOINT:
        return finetune_factor(found.step("finetune"))
    base = next((b for b in bases if b.artifact.kind == Kind.CHECKPOINT), None)
    step = Step.objects.filter(run__version=base, name="finetune").first() if base is not None else None
    return finetune_factor(step, base=base, adapter=True)


def scorecard(*, actor: Actor, version: Version, measurements: Measurements | None = None) -> Scorecard:
    """Six factors for a checkpoint or adapter the caller already found through `visible_to`: every
    score, parent, peer and declaration read is one `actor` may see; what it may not is neither used
    nor counted. `measurements`: what `selectors.version_measurements` gave the caller for `actor`."""
    if version.artifact.kind not in SCORED_KINDS:
        raise ValueError(f"scorecards are for checkpoints and adapters, not for a {version.artifact.kind}")
    found = measurements or selectors.version_measurements(actor=actor, version=version)
    parents = parents_of(actor=actor, version=version)
    flags = contamination_flags(found.evals, upstream_declarers(actor=actor, parents=parents))
    bases = [e.parent for e in parents.of(Relation.DERIVED_FROM) if e.parent is not None]
    factors = [
        performance_factor(
            actor=actor, version=version, results=found.evals, size=model_size(version, bases), flags=flags
        ),
        provenance_factor(version=version, parents=parents),
        license_factor(version=version, parents=parents),
        tooling_factor(found.step("compatibility")),
        _finetune(version, found, bases),
    ]
    factors.append(readiness_factor(factors))
    return Scorecard(version=version, factors=factors, contamination=flags)
