"""License, in the spirit of the Model Openness Framework: how open each component is under its
declared SPDX expression (the weights, an adapter's or fine-tune's base weights, the code, i.e. the
recipe that produced it, and the training data). Classes come from the registry's license table
(registry/model_licenses.py): permissive and copyleft terms are open; use restrictions,
non-commercial and no-derivatives terms are restricted; terms the table does not know are unknown.
A summary for adopters, not legal advice, and not a MOF certification."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from jobs.scorecard.lineage import Parents
from jobs.scorecard.model import Evidence, Factor, Status, edge_evidence
from registry.licenses import license_choices, license_parse
from registry.model_licenses import Category, Commercial, ModelLicense, Obligation
from registry.models import LineageEdge, Relation, Version


class Openness(StrEnum):
    OPEN = "open"
    RESTRICTED = "restricted"
    UNKNOWN = "unknown"


_RANK = [Openness.RESTRICTED, Openness.UNKNOWN, Openness.OPEN]  # worst first


def _license_openness(entry: ModelLicense) -> Openness:
    if not entry.known:
        return Openness.UNKNOWN
    if (
        entry.category is Category.USE_RESTRICTED
        or entry.commercial is Commercial.NO
        or Obligation.NO_DERIVATIVES in entry.obligations
    ):
        return Openness.RESTRICTED
    return Openness.OPEN


def openness(expression: str) -> Openness:
    """An expression's class: the licensee takes the most open side of each OR, and every license of
    an AND applies (the least open wins). Unparseable or empty: unknown."""
    parsed, _ = license_parse(expression)
    choices = license_choices(parsed) if parsed is not None else None
    if not choices:
        return Openness.UNKNOWN
    classes = [min((_license_openness(e) for e in choice.licenses), key=_RANK.index) for choice in choices]
    return max(classes, key=_RANK.index)


def _source(edge: LineageEdge) -> dict[str, Any]:
    parent = edge.parent
    name = parent.ref if parent is not None else edge.external_repo
    expression = parent.license if parent is not None else edge.external_license
    return {"name": name, "license": expression or None, "class": str(openness(expression))}


def _component(name: str, sources: list[dict[str, Any]]) -> dict[str, Any]:
    """A component is as open as its least open source; with no source it is missing."""
    if not sources:
        return {"component": name, "class": "missing", "sources": []}
    worst = min((Openness(s["class"]) for s in sources), key=_RANK.index)
    return {"component": name, "class": str(worst), "sources": sources}


def _mof_spirit(weights: str, code: str, data: str) -> str:
    if weights != Openness.OPEN:
        return (
            "not open: the weights' terms are not open" if weights == Openness.RESTRICTED else "weights' terms unknown"
        )
    if code != Openness.OPEN:
        return "open model (weights)"
    if data != Openness.OPEN:
        return "open tooling (weights and code)"
    return "open science (weights, code and data)"


def license_factor(*, version: Version, parents: Parents) -> Factor:
    own = {"name": version.ref, "license": version.license, "class": str(openness(version.license))}
    bases = [_source(e) for e in parents.of(Relation.DERIVED_FROM)]
    components = [
        _component("weights", [own, *bases]),
        _component("code", [_source(e) for e in parents.of(Relation.PRODUCED_BY)]),
        _component("data", [_source(e) for e in parents.of(Relation.TRAINED_ON)]),
    ]
    weights, code, data = (c["class"] for c in components)
    missing = []
    if code == "missing":
        missing.append("the code's license: no recipe you can see produced it")
    if data == "missing":
        missing.append("the data's licenses: no training data you can see is declared")
    for component in components:
        for source in component["sources"]:
            if source["class"] == Openness.UNKNOWN:
                terms = source["license"] or "no license declared"
                missing.append(f"the terms of {source['name']}'s license ({terms}) are not in the registry's table")
    if weights == Openness.RESTRICTED:
        status = Status.POOR
    elif weights == code == data == Openness.OPEN:
        status = Status.GOOD
    else:
        status = Status.FAIR
    spirit = _mof_spirit(weights, code, data)
    headline = f"weights {weights}, code {code}, data {data}: {spirit}"
    evidence = [Evidence("version", f"{version.ref}: declared license {version.license}", str(version.public_id))]
    evidence += [edge_evidence(e) for e in parents.edges if e.relation != Relation.EVALUATED_WITH]
    figures = {"components": components, "openness": spirit}
    return Factor("license", "License", status, headline, figures, evidence, missing)
