"""Contamination: the eval scores whose suite (and task) a dataset or recipe upstream of the model
declared it overlaps with (`metadata.contamination`, registry/declared_metadata.py). Only what the
actor sees is read: the scores, and the declaring versions."""

from __future__ import annotations

from jobs.models import EvalResult
from jobs.scorecard.model import ContaminationFlag
from registry.declared_metadata import contamination_of
from registry.models import Version


def contamination_flags(results: list[EvalResult], declarers: list[Version]) -> list[ContaminationFlag]:
    """One flag per (score, declaration) that names the score's suite and task, in the scores' order."""
    declared = [(version, item) for version in declarers for item in contamination_of(version.metadata)]
    flags = []
    for result in results:
        suite = result.suite
        for version, item in declared:
            if item.covers(
                org=suite.artifact.organization.slug, slug=suite.artifact.slug, number=suite.number, task=result.task
            ):
                flags.append(
                    ContaminationFlag(
                        suite=suite,
                        task=result.task,
                        metric=result.metric,
                        filter=result.filter,
                        declared_by=version,
                        declared_suite=item.suite,
                        overlap=item.overlap,
                    )
                )
    return flags
