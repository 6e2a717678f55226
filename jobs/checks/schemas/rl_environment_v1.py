"""RL environment manifest v1 (`environment.yaml`, `schema: consortium.rl_environment/v1`).

An environment is code plus a contract: how trainers load it (`interface` and `entry_point`), what it
needs installed (`dependencies`, each pinned to one exact version so a run is reproducible), how it
scores (`reward`), what data it draws prompts from (`datasets`), and example episodes (`examples`,
JSON Lines with observation/action/reward) a reviewer can read without running anything.

Interfaces: `gymnasium` (an `Env` with reset/step), `verifiers` (a `load_environment()` returning a
verifiers environment), `custom` (documented in the README). Reward types: `programmatic` (a
function, `entry_point`), `model` (a reward model, `model`), `rubric` (a rubric file judged by `model`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Literal

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from pydantic import AfterValidator, Field

from jobs.checks.schemas.common import Section, Source

SCHEMA = "consortium.rl_environment/v1"
SUPPORTED = (SCHEMA,)
ENTRY_POINT = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")
INTERFACE_PACKAGES = {"gymnasium": "gymnasium", "verifiers": "verifiers"}
EPISODE_FIELDS = ("observation", "action", "reward")


def _entry_point(value: str) -> str:
    if not ENTRY_POINT.fullmatch(value):
        raise ValueError(f"'{value[:200]}' is not an entry point like package.module:attribute")
    return value


def _pinned(value: str) -> str:
    try:
        requirement = Requirement(value)
    except InvalidRequirement as exc:
        raise ValueError(f"'{value[:200]}' is not a requirement: {str(exc)[:200]}") from None
    if requirement.url:
        raise ValueError(f"'{value[:200]}' installs from a URL, VCS or local path; use a package index release")
    specifiers = list(requirement.specifier)
    if len(specifiers) != 1 or specifiers[0].operator != "==" or "*" in specifiers[0].version:
        raise ValueError(f"'{value[:200]}' is not pinned: use == with one exact version (like numpy==2.1.3)")
    return value


def _relative(value: str) -> str:
    parts = value.replace("\\", "/").split("/")
    if not value or value.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
        raise ValueError(f"'{value[:200]}' must be a path inside the version, relative to its root")
    return value


def _specifier(value: str) -> str:
    try:
        SpecifierSet(value)
    except InvalidSpecifier:
        raise ValueError(f"'{value[:100]}' is not a version specifier like '>=3.10'") from None
    return value


EntryPoint = Annotated[str, AfterValidator(_entry_point)]
Pinned = Annotated[str, AfterValidator(_pinned)]
RelativePath = Annotated[str, AfterValidator(_relative)]


class Reward(Section):
    type: Literal["programmatic", "model", "rubric"]
    entry_point: EntryPoint | None = None
    model: Source | None = None
    rubric: RelativePath | None = None
    range: tuple[float, float] | None = None

    def rules(self) -> Iterator[tuple[str, str]]:
        if self.type == "programmatic" and self.entry_point is None:
            yield "entry_point", "required for a programmatic reward: the function that scores an episode"
        if self.type in ("model", "rubric") and self.model is None:
            yield "model", f"required for a {self.type} reward: the reward or judge model"
        if self.type == "rubric" and self.rubric is None:
            yield "rubric", "required for a rubric reward: the rubric file"
        if self.type != "rubric" and self.rubric is not None:
            yield "rubric", "only for a rubric reward"
        if self.range is not None and self.range[0] >= self.range[1]:
            yield "range", f"[{self.range[0]}, {self.range[1]}] is empty: the minimum must be below the maximum"


class Environment(Section):
    schema_id: Literal["consortium.rl_environment/v1"] = Field(alias="schema")
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(None, max_length=10_000)
    interface: Literal["gymnasium", "verifiers", "custom"]
    entry_point: EntryPoint
    python: Annotated[str, AfterValidator(_specifier)] | None = None
    dependencies: list[Pinned] = Field(default_factory=list, max_length=500)
    reward: Reward
    datasets: list[Source] = Field(default_factory=list, max_length=100)
    examples: RelativePath

    def rules(self) -> Iterator[tuple[str, str]]:
        names = [canonicalize_name(Requirement(d).name) for d in self.dependencies]
        if dupes := sorted({n for n in names if names.count(n) > 1}):
            yield "dependencies", f"listed more than once: {', '.join(dupes)}"
        package = INTERFACE_PACKAGES.get(self.interface)
        if package is not None and package not in names:
            yield "dependencies", f"interface {self.interface} needs {package} pinned (like {package}==<version>)"
