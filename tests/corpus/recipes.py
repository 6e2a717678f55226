"""Recipes (schema consortium.recipe/v1) and RL environments (consortium.rl_environment/v1) built on
the fly: clean ones every check must pass, and bad ones the format check must fail."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tests.corpus import Case

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "recipes"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def pretraining_recipe() -> dict[str, Any]:
    """A small, valid, succeeded pretraining recipe whose data is pinned on the Hub."""
    return {
        "schema": "consortium.recipe/v1",
        "stage": "pretraining",
        "name": "tiny-dense",
        "description": "A tiny dense model for tests.",
        "data_mixture": [
            {"dataset": {"hub": "allenai/c4", "revision": COMMIT}, "weight": 0.75},
            {"dataset": {"hub": "bigcode/starcoderdata", "revision": COMMIT}, "weight": 0.25},
        ],
        "architecture": {
            "family": "llama",
            "layers": 2,
            "hidden_size": 64,
            "heads": 4,
            "kv_heads": 2,
            "context_length": 256,
            "parameters": "117K",
        },
        "optimizer": {"name": "adamw", "lr": "3e-4", "betas": [0.9, 0.95]},
        "schedule": {"name": "cosine", "warmup_steps": 10, "total_steps": 100},
        "batch": {"global_batch_tokens": 65536},
        "total_tokens": "6.5M",
        "code": {"repo": "https://github.com/open-lab/trainer", "commit": COMMIT},
        "hardware": {"accelerator": "cpu", "count": 1, "gpu_hours": 0},
        "outcome": {"status": "succeeded"},
    }


def rl_recipe() -> dict[str, Any]:
    """A valid post-training RL recipe for a run that was abandoned (with notes)."""
    recipe = pretraining_recipe()
    for key in ("architecture", "total_tokens"):
        del recipe[key]
    recipe |= {
        "stage": "posttraining",
        "method": "rl",
        "base_model": {"hub": "open-lab/tiny-base", "revision": COMMIT},
        "data_mixture": [{"dataset": {"hub": "openai/gsm8k", "revision": COMMIT}, "weight": 1}],
        "rl": {
            "algorithm": "grpo",
            "reward_model": {"hub": "open-lab/rm", "revision": COMMIT},
            "rollouts_per_prompt": 4,
        },
        "outcome": {"status": "abandoned", "notes": "Cluster reclaimed after 40 steps; not resumed."},
    }
    return recipe


def recipe_files(recipe: dict[str, Any]) -> dict[str, bytes]:
    return {"recipe.yaml": yaml.safe_dump(recipe, sort_keys=False).encode()}


def example_recipes() -> dict[str, tuple[str, bytes]]:
    """The documented examples: file name → (kind, bytes)."""
    kinds = {"pretraining": "pretraining_recipe", "posttraining": "posttraining_recipe"}
    return {p.name: (kinds[p.name.split("-")[0]], p.read_bytes()) for p in sorted(EXAMPLES.glob("*.yaml"))}


def _recipe(
    change: Callable[[dict[str, Any]], None], base: Callable[[], dict[str, Any]] = pretraining_recipe
) -> dict[str, bytes]:
    recipe = copy.deepcopy(base())
    change(recipe)
    return recipe_files(recipe)


ENV_CODE = b'''"""A countdown arithmetic environment."""

import gymnasium


class Countdown(gymnasium.Env):
    def reset(self, *, seed=None, options=None):
        return "reach 10 with 2 and 5", {}

    def step(self, action):
        return "", float(action == "2*5"), True, False, {}
'''
REWARD_CODE = b'def score(episode):\n    return float(episode["action"] == "2*5")\n'


def environment_manifest() -> dict[str, Any]:
    return {
        "schema": "consortium.rl_environment/v1",
        "name": "countdown",
        "description": "Reach a target number with arithmetic.",
        "interface": "gymnasium",
        "entry_point": "countdown_env.env:Countdown",
        "python": ">=3.10",
        "dependencies": ["gymnasium==1.0.0", "numpy==2.1.3"],
        "reward": {"type": "programmatic", "entry_point": "countdown_env.reward:score", "range": [0, 1]},
        "datasets": [{"hub": "open-lab/countdown-prompts", "revision": COMMIT}],
        "examples": "examples/episodes.jsonl",
    }


def clean_environment(manifest: dict[str, Any] | None = None) -> dict[str, bytes]:
    episodes = [
        {"observation": "reach 10 with 2 and 5", "action": "2*5", "reward": 1.0},
        {"observation": "reach 7 with 2 and 5", "action": "2*5", "reward": 0, "info": {"why": "wrong"}},
    ]
    return {
        "environment.yaml": yaml.safe_dump(manifest or environment_manifest(), sort_keys=False).encode(),
        "countdown_env/__init__.py": b"",
        "countdown_env/env.py": ENV_CODE,
        "countdown_env/reward.py": REWARD_CODE,
        "examples/episodes.jsonl": b"".join(json.dumps(e).encode() + b"\n" for e in episodes),
        "README.md": b"# countdown\n",
    }


def _environment(change: Callable[[dict[str, Any]], None]) -> dict[str, bytes]:
    manifest = environment_manifest()
    change(manifest)
    return clean_environment(manifest)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A change that sets a dotted path (list indexes as numbers) to `value`."""

    def change(document: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = document
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value

    return change


PRE, POST = "pretraining_recipe", "posttraining_recipe"
CASES = [
    Case(
        "recipe-unknown-field",
        PRE,
        _recipe(_set("optimizer.learning_rate", 0.001)),
        "recipe.yaml",
        ("optimizer.learning_rate", "unknown field", "allowed here: name, lr"),
    ),
    Case(
        "recipe-wrong-schema-version",
        PRE,
        _recipe(_set("schema", "consortium.recipe/v2")),
        "recipe.yaml",
        ("consortium.recipe/v2", "not supported", "consortium.recipe/v1"),
    ),
    Case(
        "recipe-weights-not-summing-to-one",
        PRE,
        _recipe(_set("data_mixture.1.weight", 0.3)),
        "recipe.yaml",
        ("data_mixture", "sum to 1.05", "must sum to 1"),
    ),
    Case(
        "recipe-negative-weight",
        PRE,
        _recipe(_set("data_mixture.1.weight", -0.25)),
        "recipe.yaml",
        ("data_mixture[1].weight", "greater than 0"),
    ),
    Case(
        "recipe-bad-commit",
        PRE,
        _recipe(_set("code.commit", "main")),
        "recipe.yaml",
        ("code.commit", "40"),
    ),
    Case(
        "recipe-unresolved-registry-ref",
        PRE,
        _recipe(_set("data_mixture.0.dataset", "no-such-lab/web-mix@1.0.0")),
        "recipe.yaml",
        ("data_mixture[0].dataset", "no-such-lab/web-mix@1.0.0", "does not resolve"),
    ),
    Case(
        "recipe-stage-differs-from-kind",
        PRE,
        recipe_files(rl_recipe()),
        "recipe.yaml",
        ("stage", "posttraining", "pretraining_recipe"),
    ),
    Case(
        "recipe-failed-run-without-notes",
        POST,
        _recipe(_set("outcome", {"status": "diverged"}), rl_recipe),
        "recipe.yaml",
        ("outcome.notes", "required", "diverged"),
    ),
    Case(
        "recipe-rl-method-without-rl",
        POST,
        _recipe(lambda r: r.pop("rl"), rl_recipe),
        "recipe.yaml",
        ("rl:", "required when method is rl"),
    ),
    Case(
        "recipe-duplicate-key",
        PRE,
        {"recipe.yaml": recipe_files(pretraining_recipe())["recipe.yaml"] + b"stage: posttraining\n"},
        "recipe.yaml",
        ("duplicate key 'stage'", "line"),
    ),
    Case("recipe-missing", PRE, {"notes.txt": b"no recipe here\n"}, "", ("no recipe", "recipe.yaml")),
    Case(
        "env-unpinned-dependency",
        "rl_environment",
        _environment(_set("dependencies.1", "numpy>=2")),
        "environment.yaml",
        ("dependencies[1]", "numpy>=2", "not pinned"),
    ),
    Case(
        "env-url-dependency",
        "rl_environment",
        _environment(_set("dependencies.1", "numpy @ git+https://github.com/numpy/numpy@v2.1.3")),
        "environment.yaml",
        ("dependencies[1]", "url"),
    ),
    Case(
        "env-missing-entry-module",
        "rl_environment",
        _environment(_set("entry_point", "countdown_env.missing:Countdown")),
        "environment.yaml",
        ("entry_point", "countdown_env.missing", "not among"),
    ),
    Case(
        "env-syntax-error",
        "rl_environment",
        clean_environment() | {"countdown_env/env.py": ENV_CODE.replace(b"class Countdown", b"class Countdown(")},
        "countdown_env/env.py",
        ("line 6", "syntax error"),
    ),
    Case(
        "env-bad-episode",
        "rl_environment",
        clean_environment()
        | {"examples/episodes.jsonl": b'{"observation": "o", "action": "a", "reward": 1}\n{"observation": "o"}\n'},
        "examples/episodes.jsonl",
        ("line 2", "missing action, reward"),
    ),
]
