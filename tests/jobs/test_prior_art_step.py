"""The prior-art step: it compares a pushed recipe with the recipes its org can see, stores the
matches as rows (each reader is shown those they can see), names no match in its summary or
details (everyone who sees the version reads them), and never fails a recipe."""

from __future__ import annotations

import json

import pytest
from django.db import transaction

from jobs.checks import STEPS_BY_KIND
from jobs.checks.base import CheckContext
from jobs.checks.prior_art import NOT_COMPARED
from jobs.models import PriorArtMatch, RecipeFeatures
from jobs.prior_art.normalize import experiment_from
from registry.models import Organization, Sharing, Version
from tests import factories
from tests.corpus import recipes
from tests.jobs.conftest import StoredVersion, run_check
from tests.jobs.test_prior_art_search import changed_lr, recipe_version

pytestmark = pytest.mark.django_db
State = Version.State


def recorded(ctx: CheckContext) -> None:
    """What the pipeline does with a step's records: run them in the transaction of its result."""
    with transaction.atomic():
        for record in ctx.records:
            record()


def test_prior_art_runs_after_format_for_both_recipe_kinds() -> None:
    for kind in ("pretraining_recipe", "posttraining_recipe"):
        steps = STEPS_BY_KIND[kind]
        assert steps.index("prior_art") == steps.index("format") + 1
    assert "prior_art" not in STEPS_BY_KIND["checkpoint"]


def test_bs_near_identical_recipe_is_matched_with_as_and_the_lr_difference_in_rows_only(
    stored_version: StoredVersion, org_a: Organization, org_b: Organization
) -> None:
    theirs = recipe_version(
        org_a, "tiny", recipes.pretraining_recipe(), sharing=Sharing.CONSORTIUM, state=State.IN_REVIEW
    )
    recipe_version(org_a, "secret", changed_lr("2.5e-4"), state=State.IN_REVIEW)  # org-only: B never sees it
    ours = stored_version("pretraining_recipe", recipes.recipe_files(changed_lr("2.5e-4")), organization=org_b)
    earlier = factories.VersionFactory(artifact=ours.artifact, number="0.9", state=State.PUBLISHED)
    found = experiment_from(changed_lr("2.5e-4"))
    RecipeFeatures.objects.create(
        version=earlier, stage=found.stage, parameters=found.parameters, features=found.as_dict()
    )

    ctx = run_check("prior_art", ours)
    recorded(ctx)

    assert ctx.passed
    assert ctx.summary == "compared with the recipes visible to org-b; matches are listed under Prior art"
    shown = ctx.summary + json.dumps(ctx.details)
    assert [word for word in ("org-a", "tiny", "secret") if word in shown] == []
    rows = list(PriorArtMatch.objects.filter(version=ours))
    assert [(r.match, r.rank, r.near_duplicate) for r in rows] == [(theirs, 1, True)]  # not its own 0.9
    assert [d["text"] for d in rows[0].comparison["differences"]] == ["lr 2.5e-4 vs 3e-4"]
    assert rows[0].comparison["summary"] == "same as org-a/tiny@1.0 except lr 2.5e-4 vs 3e-4"

    again = run_check("prior_art", ours)  # a re-run replaces the rows
    recorded(again)
    assert list(PriorArtMatch.objects.filter(version=ours).values_list("match", flat=True)) == [theirs.pk]


def test_an_invalid_recipe_is_not_compared_and_passes(stored_version: StoredVersion, org_b: Organization) -> None:
    raw = recipes.pretraining_recipe()
    raw["optimizer"]["lr"] = "fast"
    ours = stored_version("pretraining_recipe", recipes.recipe_files(raw), organization=org_b)
    stale = factories.VersionFactory(state=State.PUBLISHED)
    PriorArtMatch.objects.create(version=ours, match=stale, rank=1, score=1.0)

    ctx = run_check("prior_art", ours)
    recorded(ctx)

    assert (ctx.passed, ctx.summary, ctx.details) == (True, NOT_COMPARED, {"compared": False})
    assert not PriorArtMatch.objects.filter(version=ours).exists(), "an earlier run's matches are gone"
