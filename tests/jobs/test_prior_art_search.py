"""Prior-art search over stored recipe features: only what the actor sees, same stage, best first."""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

import pytest
from django.db import transaction

from jobs.models import RecipeFeatures
from jobs.prior_art.evaluation import load_pairs
from jobs.prior_art.normalize import Experiment, experiment_from
from jobs.prior_art.prefilter import BOUNDED, FEATURE, MIN_SCORE, feature_columns, parameter_band, possible
from jobs.prior_art.search import prior_art
from jobs.prior_art.similarity import METHOD_FACTOR, score
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
    RecipeFeatures.objects.create(version=version, features=found.as_dict(), **feature_columns(found))
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


def test_the_prefilters_premises_hold() -> None:
    assert METHOD_FACTOR < MIN_SCORE  # another method is left out outright
    assert all(FEATURE[f].kind in ("log", "category") and FEATURE[f].floor == 0 for f, _ in BOUNDED)
    pretraining = experiment_from(recipes.pretraining_recipe())
    assert round(parameter_band(pretraining) or 0, 2) == 3.50
    assert parameter_band(experiment_from(recipes.rl_recipe())) is None  # no parameter count given
    rl_sized = dataclasses.replace(experiment_from(recipes.rl_recipe()), parameters=10**9)
    assert parameter_band(rl_sized) is None  # RL's weight leaves the count too little to prove it


def variants(base: Experiment) -> list[Experiment]:
    """`base` changed around the prefilter's edges: parameter counts just inside and outside the
    band, learning rates, family, schedule, optimizer, tokens and method, alone and together."""
    found = []
    size = base.parameters or 10**9
    for ratio in (1, 1 / 3.6, 1.7, 2.6, 3.4, 3.6, 6):
        for lr in (1, 1.6, 3.2):
            for other in ({}, {"family": "mamba"}, {"schedule": "constant"}, {"total_tokens": 10**13}):
                changes: dict[str, Any] = {"parameters": int(size * ratio), "lr": base.lr * lr, **other}
                found.append(dataclasses.replace(base, **changes))
    found.append(dataclasses.replace(base, optimizer="lion", parameters=int(size * 2.2)))
    found.append(dataclasses.replace(base, parameters=None, family=None, lr=base.lr * 3))
    if base.stage == "posttraining":
        found += [dataclasses.replace(base, method=m) for m in ("sft", "dpo", "rl") if m != base.method]
        found.append(dataclasses.replace(base, base_model="hub:other/base"))
    return found


def test_the_prefilter_never_drops_a_recipe_scoring_at_least_the_minimum(alice: Member, org_b: Organization) -> None:
    """The labelled pairs' recipes and variants around the band, searched with each other."""
    pairs = load_pairs()
    sides = list({e: None for p in pairs for e in (experiment_from(p.mine), experiment_from(p.theirs))})
    stored = sides + [v for base in sides[:1] + sides[-1:] for v in variants(base)]
    versions = []
    for stage, kind in (("pretraining", "pretraining_recipe"), ("posttraining", "posttraining_recipe")):
        artifact = factories.ArtifactFactory(organization=org_b, slug=f"many-{stage}", kind=kind)
        found = [e for e in stored if e.stage == stage]
        made = Version.objects.bulk_create(
            Version(
                artifact=artifact,
                number=f"1.0.{i}",
                state=State.PUBLISHED,
                license="MIT",
                created_by=artifact.created_by,
            )
            for i in range(len(found))
        )
        RecipeFeatures.objects.bulk_create(
            RecipeFeatures(version=v, features=e.as_dict(), **feature_columns(e))
            for v, e in zip(made, found, strict=True)
        )
        versions += zip(made, found, strict=True)
    dropped = 0
    for wanted in sides + stored[len(sides) :: 9]:
        kept = set(possible(wanted))
        reaching = {v.pk for v, e in versions if e.stage == wanted.stage and score(wanted, e) >= MIN_SCORE}
        assert reaching <= kept, wanted
        dropped += sum(e.stage == wanted.stage for _, e in versions) - len(kept)
        expected = sorted((-score(wanted, e), v.pk) for v, e in versions if v.pk in reaching)
        assert [(-m.score, m.version.pk) for m in prior_art(alice.actor, wanted, limit=1000)] == expected
    assert dropped > 1000  # and it does leave recipes out
