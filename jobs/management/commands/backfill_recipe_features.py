"""Store recipe features and the run's cost (GPU-hours, FLOPs, reuses) for recipe versions whose
format check passed before the check stored them: the recipe is read from storage and checked again
as a worker checks it. Running it again does nothing once every such version is filled."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from jobs.ledger.backfill import backfill_candidates, recipe_features_backfill
from jobs.models import RecipeFeatures


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="list the versions to fill, change nothing")

    def handle(self, *args: Any, dry_run: bool, **options: Any) -> None:
        todo = list(backfill_candidates())
        if not todo:
            self.stdout.write("every recipe that passed its format check has its features and cost")
            return
        stored = failed = 0
        for i, version in enumerate(todo, 1):
            name = version.ref
            if dry_run:
                self.stdout.write(f"[{i}/{len(todo)}] {name}: to fill")
                continue
            ctx = recipe_features_backfill(version)
            if ctx.passed:
                stored += 1
                row = RecipeFeatures.objects.get(version=version)
                flops = "FLOPs unknown" if row.flops is None else f"{row.flops:.3g} FLOPs"
                self.stdout.write(
                    f"[{i}/{len(todo)}] {name}: stored ({row.gpu_hours:g} GPU-hours, {flops}"
                    f"{' estimated' if row.flops_estimated else ''}, {row.reuses.count()} reused)"
                )
            else:
                failed += 1
                reasons = "; ".join(str(r) for r in ctx.reasons[:3])
                self.stderr.write(f"[{i}/{len(todo)}] {name}: not stored, the recipe no longer passes: {reasons}")
        if not dry_run:
            self.stdout.write(f"{stored} stored, {failed} not stored, of {len(todo)}")
