"""Prior art (a gating step of recipes): the recipes the pushing org can see that are closest to
this one, stored as the version's matches for reviewers and the pusher.

It never fails a valid recipe: a near-duplicate is evidence, not a defect. An invalid recipe is
not compared and passes here; the format check fails it and says why. Everyone who sees the
version reads this step's summary and details, but not everyone sees every match, so they name
and count no other version: the matches are rows, shown to each reader filtered by what they see.
"""

from __future__ import annotations

from functools import partial

from jobs.checks.base import CheckContext
from jobs.checks.formats.documents import load_mapping
from jobs.checks.formats.recipe import STAGE_OF_KIND, find_recipe
from jobs.prior_art.evidence import matches_store
from jobs.prior_art.normalize import Experiment, InvalidRecipe, experiment_from
from jobs.prior_art.search import prior_art
from registry.actors import Actor

LIMIT = 10
NOT_COMPARED = "not compared: the recipe is not valid (the format check says why)"


def _experiment(ctx: CheckContext) -> Experiment | None:
    """The recipe's experiment, or None if the format check will refuse the recipe."""
    scratch = CheckContext(version=ctx.version, files=ctx.files)  # its reasons are the format check's to give
    file = find_recipe(scratch)
    raw = load_mapping(scratch, file) if file is not None else None
    if raw is None or raw.get("stage") != STAGE_OF_KIND.get(ctx.kind):
        return None
    try:
        return experiment_from(raw)
    except InvalidRecipe:
        return None


def check(ctx: CheckContext) -> None:
    found = _experiment(ctx)
    if found is None:
        ctx.records.append(partial(matches_store, ctx.version, []))  # a re-run leaves no stale matches
        ctx.summary = NOT_COMPARED
        ctx.details = {"compared": False}
        return
    organization = ctx.version.artifact.organization
    reader = Actor.of_system("prior-art", reading_for=organization.pk)
    matches = prior_art(reader, found, limit=LIMIT, exclude_artifact=ctx.version.artifact)
    ctx.records.append(partial(matches_store, ctx.version, matches))
    ctx.summary = f"compared with the recipes visible to {organization.slug}; matches are listed under Prior art"
    ctx.details = {"compared": True, "stage": found.stage, "searched_as": organization.slug, "limit": LIMIT}
