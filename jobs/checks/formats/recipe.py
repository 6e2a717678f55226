"""Format of a pretraining or post-training recipe: one versioned YAML (`recipe.yaml`) that validates
against its schema (see jobs.checks.schemas.recipe_v1), whose stage matches the artifact's kind,
and whose registry references resolve to versions of the right kind the pushing org may build on.

An abandoned or diverged run is a valid recipe: the outcome is evidence, not a failure of the check.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from django.db import transaction
from django.utils import timezone

from jobs.checks.base import CheckContext, FileRef
from jobs.checks.formats.documents import load_mapping, problem_count, validate
from jobs.checks.formats.refs import resolve_all
from jobs.checks.schemas import recipe_v1
from jobs.ledger import compute
from jobs.models import RecipeFeatures
from jobs.prior_art.normalize import Experiment, experiment
from jobs.prior_art.prefilter import feature_columns
from registry.models import Kind, Version

NAMES = ("recipe.yaml", "recipe.yml")
STAGE_OF_KIND: dict[str, str] = {Kind.PRETRAINING_RECIPE: "pretraining", Kind.POSTTRAINING_RECIPE: "posttraining"}
MAX_LISTED = 100


def find_recipe(ctx: CheckContext) -> FileRef | None:
    """`recipe.yaml` (or `.yml`) at the root, else the version's only YAML file."""
    for name in NAMES:
        if (file := ctx.file(name)) is not None:
            return file
    yamls = [f for f in ctx.files if f.name.endswith((".yaml", ".yml"))]
    if len(yamls) == 1:
        return yamls[0]
    found = f"{len(yamls)} YAML files ({', '.join(f.path for f in yamls[:5])})" if yamls else "no YAML file"
    ctx.fail("no_recipe", f"no recipe: expected recipe.yaml at the version's root, found {found}")
    return None


def _schema_ok(ctx: CheckContext, file: FileRef, raw: dict[str, Any]) -> bool:
    schema, supported = raw.get("schema"), ", ".join(recipe_v1.SUPPORTED)
    if schema is None:
        ctx.fail("schema_version", f"schema: required; supported: {supported}", path=file.path)
    elif schema not in recipe_v1.SUPPORTED:
        ctx.fail(
            "schema_version", f"schema: {str(schema)[:100]!r} is not supported; supported: {supported}", path=file.path
        )
    return schema in recipe_v1.SUPPORTED


def check(ctx: CheckContext) -> None:
    file = find_recipe(ctx)
    raw = load_mapping(ctx, file) if file is not None else None
    if file is None or raw is None or not _schema_ok(ctx, file, raw):
        ctx.summary = "no valid recipe document"
        return
    expected = STAGE_OF_KIND.get(ctx.kind)
    if expected and raw.get("stage") in recipe_v1.STAGES and raw["stage"] != expected:
        ctx.fail("wrong_stage", f"stage: '{raw['stage']}' but this artifact is a {ctx.kind}", path=file.path)
    for field, message in recipe_v1.stage_problems(raw):
        ctx.fail("schema", f"{field}: {message}", path=file.path)
    recipe = validate(ctx, file, recipe_v1.Recipe, raw)
    found_by_field: dict[str, Version] = {}
    resolved = resolve_all(ctx, file.path, list(recipe_v1.registry_refs(raw)), found_by_field=found_by_field)
    ctx.details = {"file": file.path, "schema": raw["schema"], "valid": recipe is not None, "registry_refs": resolved}
    if recipe is None:
        ctx.summary = f"{problem_count(ctx)} in {file.path}"[:299]
        return
    ctx.details |= {
        "name": recipe.name,
        "stage": recipe.stage,
        "method": recipe.method,
        "outcome": recipe.outcome.status,
        "parameters": recipe.architecture.parameters if recipe.architecture else None,
        "total_tokens": recipe.total_tokens,
        "gpu_hours": recipe.hardware.gpu_hours,
        "mixture": [{"dataset": str(i.dataset), "weight": i.weight} for i in recipe.data_mixture[:MAX_LISTED]],
        "hub_refs": [str(ref) for ref in recipe.hub_refs[:MAX_LISTED]],
    }
    if ctx.passed:  # what a prior-art search compares, so that it never reads the recipe from S3
        reuses = [found for field, found in found_by_field.items() if field.startswith("reuses[")]
        cost = compute.of_recipe(recipe, ctx.version.compute)
        ctx.records.append(partial(_store_features, ctx.version, experiment(recipe), cost, reuses))
    what = f"{recipe.stage}" + (f" ({recipe.method})" if recipe.method else "")
    ctx.summary = (
        f"recipe v1 '{recipe.name}': {what}, outcome {recipe.outcome.status}, {len(recipe.data_mixture)} datasets, "
        f"{recipe.hardware.gpu_hours:g} GPU-hours"
        if ctx.passed
        else f"{problem_count(ctx)} in {file.path}"
    )[:299]


def _store_features(version: Version, found: Experiment, cost: compute.Compute, reuses: list[Version]) -> None:
    """Run by the pipeline in the transaction that records the step's result: the features a
    prior-art search compares, the run's cost and the runs it reuses (for the compute ledger)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("recipe features are stored with the step's result, in its transaction")
    row, _ = RecipeFeatures.objects.update_or_create(
        version=version,
        defaults={
            **feature_columns(found),  # stage, parameters and the search's prefilter columns
            "features": found.as_dict(),
            "gpu_hours": cost.gpu_hours,
            "flops": cost.flops,
            "flops_estimated": cost.flops_estimated,
            "updated_at": timezone.now(),
        },
    )
    row.reuses.set(reuses)
