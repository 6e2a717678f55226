"""`consortium prior-art recipe.yaml`: the consortium's recipes closest to yours, with what differs.

Exits 3 when one of them is a near-duplicate (this has been tried), so a CI job can stop before
spending the compute; 0 otherwise.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from consortium_cli.client import Api
from consortium_cli.display import err

NEAR_DUPLICATE_EXIT = 3


def register(sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser("prior-art", help="recipes like yours; exit 3 on a near-duplicate")
    cmd.add_argument("recipe", help="a recipe.yaml (schema consortium.recipe/v1)")


def load_recipe(path: Path) -> dict[str, Any]:
    raw = yaml.safe_load(path.read_text())
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a YAML mapping (a recipe), found {type(raw).__name__}")
    # YAML dates and the like as text: the registry validates the recipe, not the JSON encoder.
    return json.loads(json.dumps(raw, default=str))


def matches_table(matches: list[dict[str, Any]]) -> Table:
    table = Table("score", "recipe", "summary")
    for match in matches:
        score = f"{match['score']:.2f}" + (" [bold red]near-duplicate[/]" if match["near_duplicate"] else "")
        table.add_row(score, escape(match["name"]), escape(match["summary"]))
    return table


def print_prior_art(console: Console, version: dict[str, Any]) -> None:
    """A recipe version's prior art, as its pipeline step found it (the matches the reader can see)."""
    matches = version.get("prior_art")
    if matches is None:  # not a recipe
        return
    if not matches:
        console.print("prior art: no match among the recipes you can see", markup=False)
        return
    console.print("prior art (found by its prior_art step):", markup=False)
    console.print(matches_table(matches))


def cmd_prior_art(args: argparse.Namespace, api: Api) -> int:
    found = api.post("/prior-art/", {"recipe": load_recipe(Path(args.recipe))})
    matches = found["matches"]
    if args.json:
        print(json.dumps(found, indent=2))
    else:
        console = Console()
        if not matches:
            console.print("no prior art among the recipes you can see", markup=False)
        else:
            console.print(matches_table(matches))
    near = [m for m in matches if m["near_duplicate"]]
    if near and not args.json:
        err.print(f"{len(near)} near-duplicate(s) at or above {found['threshold']}: this has been tried", markup=False)
    return NEAR_DUPLICATE_EXIT if near else 0
