"""The Scorecard section of a checkpoint's or adapter's page: jobs.scorecard computed for the viewer,
each factor's evidence turned into links on the portal (versions, this page's measurements, the
Hub), and each contaminated score beside its suite."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse

from jobs.measures.results import Measurements
from jobs.publication.hub import hub_web_url
from jobs.scorecard import SCORED_KINDS, Scorecard, scorecard
from jobs.scorecard.model import Evidence, Factor
from registry.actors import Actor
from registry.models import Version


@dataclass(frozen=True)
class Link:
    label: str
    href: str  # "" when the evidence has no page of its own


@dataclass(frozen=True)
class FactorView:
    factor: Factor
    links: list[Link]


@dataclass(frozen=True)
class ScorecardView:
    card: Scorecard
    factors: list[FactorView]


def evidence_href(evidence: Evidence) -> str:
    if evidence.kind == "version":
        return reverse("portal-version", args=[evidence.ref])
    if evidence.kind == "step":
        return f"#measure-{evidence.ref}-heading"
    if evidence.kind == "hub":
        return hub_web_url(evidence.repo_type, evidence.ref, revision=evidence.revision or None)
    if evidence.kind == "factor":
        return f"#scorecard-{evidence.ref}"
    if evidence.kind == "organization":
        return reverse("portal-browse") + f"?org={evidence.ref}"
    return ""


def scorecard_section(actor: Actor, version: Version, found: Measurements | None = None) -> ScorecardView | None:
    """The section's content, or None for kinds without a scorecard. `found`: the page's measurements,
    as `selectors.version_measurements` read them for `actor`."""
    if version.artifact.kind not in SCORED_KINDS:
        return None
    card = scorecard(actor=actor, version=version, measurements=found)
    factors = [FactorView(f, [Link(e.label, evidence_href(e)) for e in f.evidence]) for f in card.factors]
    return ScorecardView(card=card, factors=factors)
