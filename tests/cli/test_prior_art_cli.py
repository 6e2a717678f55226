"""`consortium prior-art recipe.yaml` against a live registry: exit 3 on a near-duplicate, else 0."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from consortium_cli import main as cli

from registry.models import Organization
from tests.conftest import Member
from tests.corpus import recipes
from tests.jobs.test_prior_art_search import changed_lr, recipe_version
from tests.test_portal_prior_art import matched

pytestmark = pytest.mark.django_db(transaction=True)


def written(tmp_path: Path, raw: dict[str, Any]) -> str:
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return str(path)


def test_a_near_duplicate_exits_3_with_the_difference(
    as_alice: None, org_b: Organization, tmp_path: Path, capsys
) -> None:
    recipe_version(org_b, "tiny", changed_lr("2.5e-4"))
    assert cli.main(["prior-art", written(tmp_path, recipes.pretraining_recipe())]) == 3
    captured = capsys.readouterr()
    assert "org-b/tiny@1.0" in captured.out
    assert "same as org-b/tiny@1.0 except lr 3e-4 vs 2.5e-4" in captured.out
    assert "near-duplicate" in captured.err


def test_related_work_only_exits_0_and_json_lists_it(
    as_alice: None, org_b: Organization, tmp_path: Path, capsys
) -> None:
    recipe_version(org_b, "tiny", changed_lr("3e-3"))
    assert cli.main(["--json", "prior-art", written(tmp_path, recipes.pretraining_recipe())]) == 0
    body = json.loads(capsys.readouterr().out)
    [match] = body["matches"]
    assert (match["name"], match["near_duplicate"]) == ("org-b/tiny@1.0", False)
    assert match["score"] < body["threshold"]


def test_an_invalid_recipe_exits_2_naming_the_field(as_alice: None, tmp_path: Path, capsys) -> None:
    raw = recipes.pretraining_recipe()
    raw["optimizer"]["lr"] = "fast"
    assert cli.main(["prior-art", written(tmp_path, raw)]) == 2
    assert "recipe.optimizer.lr" in capsys.readouterr().err


def test_show_prints_a_recipes_prior_art_as_its_step_found_it(
    as_alice: None, alice: Member, org_b: Organization, capsys
) -> None:
    theirs = recipe_version(org_b, "tiny", changed_lr("2.5e-4"))
    mine = recipe_version(alice.organization, "mine", recipes.pretraining_recipe())
    matched(mine, theirs, 1, "lr 3e-4 vs 2.5e-4")
    assert cli.main(["show", "org-a/mine@1.0"]) == 0
    out = capsys.readouterr().out
    assert "prior art (found by its prior_art step):" in out
    assert "same as org-b/tiny@1.0 except lr 3e-4 vs 2.5e-4" in out
