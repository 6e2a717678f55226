"""License and provenance: the declared SPDX expression, and what lineage passes on to it.

Semantics:
- Every license in the declared expression must be on the SPDX list or in the registry's table
  (registry/model_licenses.py); an unknown `LicenseRef-` fails. A valid SPDX id the table lacks is
  accepted with unknown terms, read conservatively: it may permit commercial use, and a derivative
  of it must carry it.
- An expression is a set of choices (an OR is the licensee's choice; the licenses of an AND all
  apply, so the most restrictive commercial term wins). A parent counts with its most permissive
  choice; for this version, every choice must satisfy every constraint.
- Non-commercial: a version `derived_from` or `trained_on` a parent whose every choice forbids
  commercial use may not permit commercial use in any choice (a conditional grant, like Llama's,
  permits it). `produced_by` (a recipe) and `evaluated_with` (an eval suite) pass nothing on: what
  a program outputs or measures is not a derivative of it.
- Pass-through: a version `derived_from` a base (registry or Hub; an adapter included) whose license
  passes use restrictions or share-alike on must carry that license in every choice of its own
  expression ('LicenseRef-Llama-3.1 AND MIT'); when the base offers choices, one of them suffices.
  A base whose every choice forbids derivatives (CC-BY-ND) fails.
- Terms that may reach models trained on data (Llama's and Gemma's output clauses, share-alike
  data) and EU carve-outs (Llama 3.2 and 4 multimodal) are reported as notices for reviewers.
- Only direct edges are read: a registry parent's own license was checked against its lineage
  when it was pushed. External edges carry the Hub's license string (aliases like 'llama3.1').
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django_countries import countries

from jobs.checks.base import CheckContext
from registry.licenses import Choice, best_commercial, license_choices, license_parse, unknown_keys
from registry.model_licenses import EU_COUNTRIES, Commercial, Obligation
from registry.models import LineageEdge, Organization, Relation

NON_COMMERCIAL_REACH = frozenset({Relation.DERIVED_FROM.value, Relation.TRAINED_ON.value})
PASSED_ON = frozenset({Obligation.USE_RESTRICTIONS, Obligation.SHARE_ALIKE, Obligation.NAMING})


@dataclass(frozen=True)
class Terms:
    """A license expression, normalized, and the choices it gives a licensee."""

    expression: str
    choices: list[Choice]

    @property
    def commercial(self) -> Commercial:
        return best_commercial(self.choices)

    def as_dict(self) -> dict[str, Any]:
        """Evidence for reviewers: the expression, its choices and each license's terms."""
        licenses = {entry.id: entry.as_dict() for choice in self.choices for entry in choice.licenses}
        return {
            "expression": self.expression,
            "commercial": str(self.commercial),
            "obligations": sorted({str(o) for choice in self.choices for o in _obligations(choice)}),
            "choices": [
                {
                    "licenses": sorted(choice.ids),
                    "commercial": str(choice.commercial),
                    "obligations": sorted(str(o) for o in _obligations(choice)),
                    "pass_through": sorted(choice.pass_through),
                }
                for choice in self.choices
            ],
            "licenses": dict(sorted(licenses.items())),
        }


def check(ctx: CheckContext) -> None:
    declared = ctx.version.license
    own = _terms(ctx, declared, subject="this version's license")
    organization = ctx.version.artifact.organization
    edges = ctx.version.parent_edges.select_related("parent__artifact__organization").order_by("relation", "id")
    notices: list[str] = []
    records = [_edge(ctx, edge, own, organization, notices) for edge in edges]
    ctx.details = {
        "license": _evidence(declared, own),
        "producer": _producer(organization),
        "lineage": records,
        "notices": notices,
    }
    if ctx.reasons or own is None:
        summary = f"{len(ctx.reasons)} license problem(s): {ctx.reasons[0]}"
    else:
        summary = f"{own.expression}: commercial use {own.commercial}; {len(records)} lineage edge(s) respected"
    ctx.summary = summary[:299]


def _terms(ctx: CheckContext, expression: str, *, subject: str) -> Terms | None:
    """The expression's terms, or None after failing with what is wrong (prefixed by `subject`)."""
    parsed, problem = license_parse(expression)
    if parsed is None:
        ctx.fail("missing_license" if not expression.strip() else "invalid_license", f"{subject}: {problem}")
        return None
    unknown = unknown_keys(parsed)
    for key in unknown:
        where = "not in the registry's license table" if key.startswith("LicenseRef-") else "not an SPDX license id"
        ctx.fail("unknown_license", f"{subject}: unknown license {key}: {where}")
    choices = license_choices(parsed)
    if choices is None:
        ctx.fail("invalid_license", f"{subject}: '{expression}' has too many alternatives to assess")
    return None if unknown or choices is None else Terms(str(parsed), choices)


def _edge(
    ctx: CheckContext, edge: LineageEdge, own: Terms | None, organization: Organization, notices: list[str]
) -> dict[str, Any]:
    """Check one parent's license against this version's; the edge's evidence."""
    if edge.parent is not None:
        artifact = edge.parent.artifact
        target = edge.parent.ref
        label = f"{artifact.organization.slug}/{artifact.slug} v{edge.parent.number}"
        declared = edge.parent.license
    else:
        target = label = f"hub:{edge.external_repo}@{edge.external_revision[:12]}"
        declared = edge.external_license
    name = f"{edge.relation} {label}"
    parent: Terms | None = None
    if not declared.strip():
        ctx.fail("lineage_license_missing", f"{name} declares no license: give the license the parent is under")
    else:
        parent = _terms(ctx, declared, subject=name)
    if parent is not None:
        name = f"{name} ({parent.expression})"
        if own is not None:
            _propagate(ctx, edge.relation, name, parent, own)
        notices.extend(_notices(edge.relation, name, parent, organization))
    return {
        "relation": edge.relation,
        "target": target,
        "external": edge.parent is None,
        "license": _evidence(declared, parent),
    }


def _propagate(ctx: CheckContext, relation: str, name: str, parent: Terms, own: Terms) -> None:
    if relation in NON_COMMERCIAL_REACH and parent.commercial is Commercial.NO:
        commercial = [choice for choice in own.choices if choice.commercial is not Commercial.NO]
        if commercial:
            taken = "" if len(own.choices) == 1 else " taken as " + " or ".join(_group(c) for c in commercial)
            ctx.fail(
                "non_commercial_parent",
                f"{name} is non-commercial: this version's license {own.expression}{taken} permits commercial use",
            )
    if relation != Relation.DERIVED_FROM.value:
        return
    if all(Obligation.NO_DERIVATIVES in _obligations(choice) for choice in parent.choices):
        ctx.fail("no_derivatives_parent", f"{name} forbids derivatives: it cannot be a base")
        return
    if any(not any(base.pass_through <= choice.ids for base in parent.choices) for choice in own.choices):
        carry = " AND ".join(sorted(min(parent.choices, key=lambda base: len(base.pass_through)).pass_through))
        passed = sorted({str(o) for base in parent.choices for o in _obligations(base) if o in PASSED_ON})
        why = ", ".join(passed) or "terms unknown to the registry"
        others = "" if len(parent.choices) == 1 else " (or another of its choices)"
        example = own.expression if len(own.choices) == 1 else f"({own.expression})"
        ctx.fail(
            "license_not_carried",
            f"{name} passes its terms on to derivatives ({why}): this version's license {own.expression} "
            f"must include {carry}{others}, as in '{carry} AND {example}'",
        )


def _notices(relation: str, name: str, parent: Terms, organization: Organization) -> list[str]:
    """What reviewers should look at that the check cannot decide."""
    notices = []
    if relation == Relation.TRAINED_ON.value and all(choice.pass_through for choice in parent.choices):
        notices.append(f"{name}: its terms may reach models trained on it; check this version's name and license")
    withheld = sorted({entry.id for choice in parent.choices for entry in choice.licenses if entry.withheld_in_eu})
    country = str(organization.country)  # the ISO 3166-1 code
    if relation in NON_COMMERCIAL_REACH and withheld and country in EU_COUNTRIES:
        notices.append(
            f"{name}: {', '.join(withheld)} withholds rights to multimodal models from EU-domiciled licensees, "
            f"and {organization.slug} is in {countries.name(country)}"
        )
    return notices


def _obligations(choice: Choice) -> frozenset[Obligation]:
    return frozenset(o for entry in choice.licenses for o in entry.obligations)


def _group(choice: Choice) -> str:
    return str(choice) if len(choice.licenses) == 1 else f"({choice})"


def _evidence(declared: str, terms: Terms | None) -> dict[str, Any]:
    return {"declared": declared, "valid": terms is not None, **(terms.as_dict() if terms else {})}


def _producer(organization: Organization) -> dict[str, Any]:
    country = str(organization.country)  # the ISO 3166-1 code
    return {
        "slug": organization.slug,
        "name": organization.name,
        "country": {"code": country, "name": str(countries.name(country))} if country else None,
    }
