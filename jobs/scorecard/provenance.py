"""Provenance: who produced the model (its org's country), where its training data comes from (the
jurisdictions each dataset declares in `metadata.jurisdictions`), and how complete its lineage is:
the recipe that produced it, the data it was trained on and, for adapters and fine-tunes, its base."""

from __future__ import annotations

from typing import Any

from django_countries.fields import Country

from jobs.scorecard.lineage import Parents
from jobs.scorecard.model import Evidence, Factor, Status, edge_evidence
from registry.declared_metadata import jurisdictions_of
from registry.models import HubRepoType, Kind, LineageEdge, Relation, Version

_WHAT = {
    Relation.PRODUCED_BY: "the recipe that produced it",
    Relation.TRAINED_ON: "the data it was trained on",
    Relation.DERIVED_FROM: "its base model",
}


def _expects_base(version: Version, parents: Parents) -> bool:
    """Adapters always have a base; a checkpoint does when a posttraining recipe produced it."""
    if version.artifact.kind == Kind.ADAPTER:
        return True
    recipes = [e.parent for e in parents.of(Relation.PRODUCED_BY) if e.parent is not None]
    return any(r.artifact.kind == Kind.POSTTRAINING_RECIPE for r in recipes)


def _lineage(version: Version, parents: Parents) -> tuple[list[dict[str, Any]], list[str]]:
    rows, missing = [], []
    for relation in (Relation.PRODUCED_BY, Relation.TRAINED_ON, Relation.DERIVED_FROM):
        edges = parents.of(relation)
        expected = relation != Relation.DERIVED_FROM or _expects_base(version, parents)
        registry = [e.parent.ref for e in edges if e.parent is not None]
        hub = [f"{e.external_repo}@{e.external_revision[:12]}" for e in edges if e.parent is None]
        state = "registry" if registry and not hub else "hub" if hub and not registry else "mixed" if edges else ""
        if not edges:
            state = "missing" if expected else "not expected"
            if expected:
                missing.append(f"{_WHAT[relation]} ({relation})")
        rows.append({"relation": str(relation), "state": state, "registry": registry, "hub": hub})
    return rows, missing


def _datasets(parents: Parents) -> list[LineageEdge]:
    return [
        e
        for e in parents.of(Relation.TRAINED_ON)
        if (e.parent is not None and e.parent.artifact.kind == Kind.DATASET)
        or (e.parent is None and e.external_repo_type == HubRepoType.DATASET)
    ]


def provenance_factor(*, version: Version, parents: Parents) -> Factor:
    org = version.artifact.organization
    country: Country = org.country  # type: ignore[assignment]  # django-countries' descriptor, typed as str
    evidence = [Evidence("organization", f"{org.name} ({country.name or 'country not recorded'})", org.slug)]
    missing: list[str] = []
    if not country.code:
        missing.append("the producing organization's country")
    lineage, lineage_missing = _lineage(version, parents)
    missing += lineage_missing
    data = []
    for edge in _datasets(parents):
        declared = jurisdictions_of(edge.parent.metadata) if edge.parent is not None else None
        name = edge.parent.ref if edge.parent is not None else edge.external_repo
        data.append({"dataset": name, "jurisdictions": declared})
        if declared is None:
            where = (
                "in its metadata.jurisdictions" if edge.parent is not None else "(a Hub dataset: nothing declared here)"
            )
            missing.append(f"the jurisdictions of {name} {where}")
    evidence += [edge_evidence(e) for e in parents.edges]
    jurisdictions = sorted({j for row in data for j in row["jurisdictions"] or []})
    complete = not lineage_missing
    declared_all = bool(data) and all(row["jurisdictions"] is not None for row in data)
    points = sum([bool(country.code), complete, declared_all])
    status = Status.GOOD if points == 3 else Status.FAIR if points == 2 else Status.POOR
    present = sum(1 for row in lineage if row["state"] not in ("missing", "not expected"))
    expected = sum(1 for row in lineage if row["state"] != "not expected")
    declaring = sum(1 for row in data if row["jurisdictions"] is not None)
    where = f"data from {', '.join(jurisdictions)} ({declaring} of {len(data)} datasets declare it)"
    headline = f"{country.code or 'country unknown'}; lineage {present} of {expected} declared; " + (
        where if jurisdictions else "data jurisdictions not declared"
    )
    figures = {
        "country": country.code or None,
        "country_name": country.name or None,
        "lineage": lineage,
        "datasets": data,
        "jurisdictions": jurisdictions,
    }
    return Factor("provenance", "Provenance", status, headline, figures, evidence, missing)
