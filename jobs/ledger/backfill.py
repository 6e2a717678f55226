"""Recipe features for recipes pushed before the format check stored them (or their cost): the
format check is run again on the stored recipe, exactly as a worker runs it, and its records kept."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet

from jobs.checks import check_for
from jobs.checks.base import CheckContext
from jobs.checks.formats.recipe import STAGE_OF_KIND
from jobs.models import RecipeFeatures, Step
from registry.models import Version


def backfill_candidates() -> QuerySet[Version]:
    """Recipe versions whose format check passed but that have no features, or no GPU-hours (stored
    before the ledger): a passing recipe always states hardware.gpu_hours."""
    passed = Step.objects.filter(run__version=OuterRef("pk"), name="format", status=Step.Status.PASSED)
    stored = RecipeFeatures.objects.filter(version=OuterRef("pk"), gpu_hours__isnull=False)
    return (
        Version.objects.filter(artifact__kind__in=list(STAGE_OF_KIND))
        .exclude(state__in=(Version.State.DRAFT, Version.State.DELETED))
        .filter(Exists(passed))
        .filter(~Q(Exists(stored)))
        .select_related("artifact__organization")
        .order_by("pk")
    )


def recipe_features_backfill(version: Version) -> CheckContext:
    """Run the format check on `version` and store what it records when it passes; the context
    says how it went (its reasons when the recipe no longer passes, e.g. a reuse since deleted)."""
    ctx = CheckContext.for_version(version)
    check_for("format")(ctx)
    if ctx.passed:
        with transaction.atomic():
            for record in ctx.records:
                record()
    return ctx
