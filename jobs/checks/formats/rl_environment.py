"""Format of an RL environment: its manifest (jobs.checks.schemas.rl_environment_v1) validates, the
code it names exists and parses, its references resolve, and its example episodes are well formed.

Everything is static. Every Python file is parsed with `ast` for syntax errors; entry points are
checked by finding the module file and the name it defines. Nothing is imported or run.
"""

from __future__ import annotations

from typing import Any

from jobs.checks.base import CheckContext, FileRef
from jobs.checks.formats.dataset import json_lines
from jobs.checks.formats.documents import load_mapping, max_document_bytes, problem_count, validate
from jobs.checks.formats.pysource import Trees, check_entry_point, parse_once
from jobs.checks.formats.refs import resolve_all
from jobs.checks.schemas.common import REGISTRY_REF, HubRef
from jobs.checks.schemas.rl_environment_v1 import EPISODE_FIELDS, SUPPORTED, Environment

NAMES = ("environment.yaml", "environment.yml")
MAX_REASONS = 20


def _examples(ctx: CheckContext, env: Environment, manifest: str) -> int:
    """Episodes in the examples file; each line must be an object with the episode fields."""
    file = ctx.file(env.examples)
    if file is None:
        ctx.fail("missing_file", f"examples: '{env.examples}' is not among the version's files", path=manifest)
        return 0
    if file.size > max_document_bytes():
        ctx.fail("too_large", f"{file.size} bytes; keep examples under {max_document_bytes()}", path=file.path)
        return 0
    episodes = bad = 0
    low, high = env.reward.range or (float("-inf"), float("inf"))
    with file.open() as stream:
        for line, episode, why in json_lines(stream):
            problem = why
            if not problem and not isinstance(episode, dict):
                problem = "expected a JSON object (one episode)"
            elif not problem:
                missing = [f for f in EPISODE_FIELDS if f not in episode]
                reward = episode.get("reward")
                if missing:
                    problem = f"missing {', '.join(missing)}"
                elif isinstance(reward, bool) or not isinstance(reward, int | float):
                    problem = f"reward is {type(reward).__name__}, expected a number"
                elif not low <= reward <= high:
                    problem = f"reward {reward} is outside reward.range [{low}, {high}]"
            if problem:
                bad += 1
                if bad <= MAX_REASONS:
                    ctx.fail("bad_episode", f"line {line}: {problem}", path=file.path)
            else:
                episodes += 1
    if bad > MAX_REASONS:
        ctx.fail("more_problems", f"{bad - MAX_REASONS} more bad episodes are not listed", path=file.path)
    if not episodes and not bad:
        ctx.fail("bad_episode", "no example episodes", path=file.path)
    return episodes


def _refs(env: Environment) -> list[tuple[str, str, str]]:
    refs = [(f"datasets[{i}]", ref, "dataset") for i, ref in enumerate(env.datasets) if isinstance(ref, str)]
    if isinstance(env.reward.model, str):
        refs.append(("reward.model", env.reward.model, "checkpoint"))
    return [r for r in refs if REGISTRY_REF.fullmatch(r[1])]


def check(ctx: CheckContext) -> None:
    trees: Trees = {}
    sources = [f for f in ctx.files if f.name.endswith(".py")]
    for i, source in enumerate(sources, 1):
        parse_once(ctx, source, trees)
        ctx.progress(i, len(sources), "files")
    manifest = next((f for name in NAMES if (f := ctx.file(name)) is not None), None)
    if manifest is None:
        ctx.fail("no_manifest", "no environment.yaml at the version's root (schema consortium.rl_environment/v1)")
        ctx.summary = "no environment manifest"
        return
    raw = load_mapping(ctx, manifest)
    env = _manifest(ctx, manifest, raw) if raw is not None else None
    details: dict[str, Any] = {"manifest": manifest.path, "python_files": len(sources), "valid": env is not None}
    if env is not None:
        details |= _static(ctx, manifest, env, trees)
    ctx.details = details
    ctx.summary = (
        f"environment '{env.name}' ({env.interface}, {env.reward.type} reward): "
        f"{details['episodes']} example episodes, {len(env.dependencies)} pinned dependencies"
        if env is not None and ctx.passed
        else f"{problem_count(ctx)}"
    )[:299]


def _manifest(ctx: CheckContext, manifest: FileRef, raw: dict[str, Any]) -> Environment | None:
    schema = raw.get("schema")
    if schema not in SUPPORTED:
        found = "required" if schema is None else f"{str(schema)[:100]!r} is not supported"
        ctx.fail("schema_version", f"schema: {found}; supported: {', '.join(SUPPORTED)}", path=manifest.path)
        return None
    return validate(ctx, manifest, Environment, raw)


def _static(ctx: CheckContext, manifest: FileRef, env: Environment, trees: Trees) -> dict[str, Any]:
    module = check_entry_point(ctx, env.entry_point, trees, field="entry_point", path=manifest.path)
    reward_module = None
    if env.reward.entry_point is not None:
        reward_module = check_entry_point(
            ctx, env.reward.entry_point, trees, field="reward.entry_point", path=manifest.path
        )
    if env.reward.rubric is not None and ctx.file(env.reward.rubric) is None:
        ctx.fail(
            "missing_file", f"reward.rubric: '{env.reward.rubric}' is not among the version's files", path=manifest.path
        )
    episodes = _examples(ctx, env, manifest.path)
    resolved = resolve_all(ctx, manifest.path, _refs(env))
    syntax_errors = [path for path, tree in trees.items() if tree is None]
    return {
        "name": env.name,
        "interface": env.interface,
        "entry_point": env.entry_point,
        "entry_module": module,
        "reward": {"type": env.reward.type, "entry_point": env.reward.entry_point, "module": reward_module},
        "dependencies": env.dependencies[:200],
        "datasets": [str(d) for d in env.datasets],
        "registry_refs": resolved,
        "hub_refs": [str(d) for d in [*env.datasets, env.reward.model] if isinstance(d, HubRef)],
        "episodes": episodes,
        "syntax_errors": syntax_errors[:50],
    }
