"""Prior-art search over stored recipe features: only what the actor sees, same stage, best first."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from django.db import transaction

from jobs.models import RecipeFeatures
from jobs.prior_art.normalize import Experiment, experiment_from
from jobs.prior_art.search import prior_art
from registry.models import Organization, Sharing, Version
from tests import factories
from tests.conftest import Member
from tests.corpus import recipes
from tests.jobs.conftest import StoredVersion, run_check

pytestmark = pytest.mark.django_db
State = Version.State


def recipe_version(
    organization: Organization,
    slug: str,
    raw: dict[str, Any],
    *,
    state: str = State.PUBLISHED,
    sharing: str = Sharing.ORG,
    number: str = "1.0",
) -> Version:
    """A recipe version with the features its format check would have stored."""
    found = experiment_from(raw)
    kind = "pretraining_recipe" if found.stage == "pretraining" else "posttraining_recipe"
    artifact = factories.ArtifactFactory(organization=organization, slug=slug, kind=kind, sharing=sharing)
    version = factories.VersionFactory(artifact=artifact, number=number, state=state)
    RecipeFeatures.objects.create(
        version=version, stage=found.stage, parameters=found.parameters, features=found.as_dict()
    )
    return version


def changed_lr(lr: str) -> dict[str, Any]:
    raw = copy.deepcopy(recipes.pretraining_recipe())
    raw["optimizer"]["lr"] = lr
    return raw


@pytest.mark.parametrize("name", sorted(recipes.example_recipes()))
def test_an_experiment_round_trips_through_json(name: str) -> None:
    import yaml

    found = experiment_from(yaml.safe_load(recipes.example_recipes()[name][1]))
    assert Experiment.from_dict(json.loads(json.dumps(found.as_dict()))) == found


def test_an_exact_duplicate_scores_1_and_says_so(alice: Member, org_b: Organization) -> None:
    recipe_version(org_b, "tiny", recipes.pretraining_recipe())
    [match] = prior_art(alice.actor, experiment_from(recipes.pretraining_recipe()))
    assert (match.name, match.score, match.near_duplicate) == ("org-b/tiny@1.0", 1.0, True)
    assert match.differences == []
    assert match.summary == "same as org-b/tiny@1.0"


def test_a_near_duplicate_is_found_with_what_differs(alice: Member, org_b: Organization) -> None:
    recipe_version(org_b, "tiny", changed_lr("2.5e-4"))
    [match] = prior_art(alice.actor, experiment_from(recipes.pretraining_recipe()))
    assert match.near_duplicate
    assert 0.9 <= match.score < 1
    assert [(d.field, d.text) for d in match.differences] == [("lr", "lr 3e-4 vs 2.5e-4")]
    assert match.summary == "same as org-b/tiny@1.0 except lr 3e-4 vs 2.5e-4"


def test_a_recipe_the_actor_cannot_see_is_never_returned_nor_counted(
    alice: Member, charlie: Member, org_b: Organization
) -> None:
    hidden = recipe_version(org_b, "secret", recipes.pretraining_recipe(), state=State.IN_REVIEW)
    shared = recipe_version(org_b, "shared", changed_lr("1e-3"), state=State.IN_REVIEW, sharing=Sharing.CONSORTIUM)
    wanted = experiment_from(recipes.pretraining_recipe())

    assert [m.version for m in prior_art(alice.actor, wanted, limit=100)] == [shared]
    assert [m.version for m in prior_art(charlie.actor, wanted)] == [hidden, shared]  # its own org's


def test_only_checked_work_of_other_orgs_but_all_of_ones_own(alice: Member, org_b: Organization) -> None:
    raw = recipes.pretraining_recipe()
    recipe_version(org_b, "failed", raw, state=State.CHANGES_REQUESTED, sharing=Sharing.CONSORTIUM)
    recipe_version(org_b, "gone", raw, state=State.DELETED, sharing=Sharing.CONSORTIUM)
    mine = recipe_version(alice.organization, "mine", raw, state=State.CHANGES_REQUESTED)
    recipe_version(alice.organization, "mine-deleted", raw, state=State.DELETED)
    assert [m.version for m in prior_art(alice.actor, experiment_from(raw))] == [mine]


def test_another_stage_is_left_out(alice: Member, org_b: Organization) -> None:
    recipe_version(org_b, "rl", recipes.rl_recipe())
    assert prior_art(alice.actor, experiment_from(recipes.pretraining_recipe())) == []


def test_matches_come_best_first_then_oldest_first_and_exclude_the_searched_version(
    alice: Member, org_b: Organization
) -> None:
    far = recipe_version(org_b, "far", changed_lr("3e-3"))
    second = recipe_version(org_b, "same-2", recipes.pretraining_recipe())
    first = recipe_version(org_b, "same-1", recipes.pretraining_recipe())
    Version.objects.filter(pk=first.pk).update(created_at=second.created_at.replace(year=2020))
    wanted = experiment_from(recipes.pretraining_recipe())

    assert [m.version for m in prior_art(alice.actor, wanted)] == [first, second, far]
    assert [m.version for m in prior_art(alice.actor, wanted, limit=1)] == [first]
    assert [m.version for m in prior_art(alice.actor, wanted, exclude_version=first)] == [second, far]


def test_the_format_check_stores_a_passing_recipes_features(stored_version: StoredVersion) -> None:
    version = stored_version("pretraining_recipe", recipes.recipe_files(recipes.pretraining_recipe()))
    ctx = run_check("format", version)
    assert ctx.passed
    with transaction.atomic():
        for record in ctx.records:
            record()
    stored = RecipeFeatures.objects.get(version=version)
    assert (stored.stage, stored.parameters) == ("pretraining", 117_000)
    assert Experiment.from_dict(stored.features) == experiment_from(recipes.pretraining_recipe())


def test_a_failing_recipe_stores_no_features(stored_version: StoredVersion) -> None:
    raw = recipes.pretraining_recipe()
    raw["optimizer"]["lr"] = "fast"
    ctx = run_check("format", stored_version("pretraining_recipe", recipes.recipe_files(raw)))
    assert not ctx.passed
    assert ctx.records == []
