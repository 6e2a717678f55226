"""POST /api/v1/prior-art/: a recipe (or a visible recipe version) in, the closest visible recipes out."""

from __future__ import annotations

import copy

import pytest
from rest_framework.test import APIClient

from registry.models import Organization, Sharing, Version
from tests.conftest import Member, bearer
from tests.corpus import recipes
from tests.jobs.test_prior_art_search import changed_lr, recipe_version

pytestmark = pytest.mark.django_db
URL = "/api/v1/prior-art/"


def test_a_recipe_finds_its_near_duplicate_with_the_difference(alice: Member, org_b: Organization) -> None:
    theirs = recipe_version(org_b, "tiny", changed_lr("2.5e-4"))
    client = bearer(APIClient(), alice.token("read")[1])
    response = client.post(URL, {"recipe": recipes.pretraining_recipe()}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["threshold"] == 0.9
    [match] = body["matches"]
    assert match["version"]["id"] == str(theirs.public_id)
    assert match["name"] == "org-b/tiny@1.0"
    assert match["near_duplicate"] is True
    assert match["differences"] == [{"field": "lr", "mine": 0.0003, "theirs": 0.00025, "text": "lr 3e-4 vs 2.5e-4"}]
    assert match["summary"] == "same as org-b/tiny@1.0 except lr 3e-4 vs 2.5e-4"
    assert set(match["groups"]) == {"architecture", "data", "optimization", "batch"}


def test_an_invalid_recipe_is_400_naming_each_field(alice: Member) -> None:
    raw = copy.deepcopy(recipes.pretraining_recipe())
    raw["optimizer"]["lr"] = "fast"
    raw["data_mixture"][1]["weight"] = "a lot%"
    response = bearer(APIClient(), alice.token("read")[1]).post(URL, {"recipe": raw}, format="json")
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert set(fields) == {"recipe.optimizer.lr", "recipe.data_mixture[1].weight"}


def test_recipe_or_version_exactly_one(alice: Member) -> None:
    client = bearer(APIClient(), alice.token("read")[1])
    assert client.post(URL, {}, format="json").status_code == 400
    assert client.post(URL, {"recipe": {}, "version": "0" * 32}, format="json").status_code == 400


def test_a_version_searches_for_others_and_must_be_visible(alice: Member, org_b: Organization) -> None:
    mine = recipe_version(alice.organization, "mine", recipes.pretraining_recipe(), state=Version.State.CHECKING)
    theirs = recipe_version(org_b, "theirs", recipes.pretraining_recipe(), sharing=Sharing.CONSORTIUM)
    hidden = recipe_version(org_b, "hidden", recipes.pretraining_recipe(), state=Version.State.APPROVED)
    client = bearer(APIClient(), alice.token("read")[1])

    response = client.post(URL, {"version": str(mine.public_id)}, format="json")
    assert [m["version"]["id"] for m in response.json()["matches"]] == [str(theirs.public_id)]
    refused = client.post(URL, {"version": str(hidden.public_id)}, format="json")
    assert refused.status_code == 400
    assert list(refused.json()["error"]["fields"]) == ["version"]


def test_a_token_needs_the_read_scope_and_anonymous_sees_published_only(alice: Member, org_b: Organization) -> None:
    published = recipe_version(org_b, "open", recipes.pretraining_recipe())
    recipe_version(org_b, "shared", recipes.pretraining_recipe(), state="in_review", sharing=Sharing.CONSORTIUM)
    push_only = bearer(APIClient(), alice.token("push")[1])
    response = push_only.post(URL, {"recipe": recipes.pretraining_recipe()}, format="json")
    assert response.status_code == 403
    assert "do not include 'read'" in response.json()["error"]["message"]
    anonymous = APIClient().post(URL, {"recipe": recipes.pretraining_recipe()}, format="json")
    assert [m["version"]["id"] for m in anonymous.json()["matches"]] == [str(published.public_id)]
