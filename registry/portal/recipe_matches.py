"""The "Prior art" section of a recipe version's page: the matches its prior-art step stored, as far
as the reader can see them, and which of them the version's org acknowledged it will not re-run."""

from __future__ import annotations

from typing import Any

from jobs.ledger.acknowledgements import acknowledgement_list
from jobs.prior_art.evidence import RECIPE_KINDS, visible_matches
from jobs.prior_art.similarity import NEAR_DUPLICATE
from registry.actors import Actor
from registry.models import Version
from registry.permissions import Capability


def prior_art_section(actor: Actor, version: Version) -> dict[str, Any] | None:
    """The version page's "Prior art" section (recipes only): the stored matches `actor` can see,
    whether the version's org acknowledged each, and who gets the form to acknowledge one."""
    if version.artifact.kind not in RECIPE_KINDS:
        return None
    organization = version.artifact.organization
    matches = visible_matches(actor, version)
    mine = acknowledgement_list(actor).filter(organization=organization, source__in=[m.version for m in matches])
    done = set(mine.values_list("source_id", flat=True))
    may_push = actor.can(organization.pk, Capability.PUSH)
    rows = [
        {
            "match": m,
            "acknowledged": m.version.pk in done,
            # Only another member's run can be "not re-run"; the org's own is its own to reuse.
            "acknowledgeable": may_push
            and m.version.pk not in done
            and m.version.artifact.organization_id != organization.pk,
        }
        for m in matches
    ]
    return {"rows": rows, "threshold": NEAR_DUPLICATE}
