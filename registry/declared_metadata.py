"""Declared metadata the registry reads back (the rest of `metadata` is free-form): contamination
declarations on datasets and recipes, and the jurisdictions a dataset's data comes from. Their shape
is checked when a version is created, each error naming its field; the adoption scorecard reads
them with the same parsers, which skip anything malformed in rows older than the check."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from registry.models import Kind

CONTAMINATION_KINDS = frozenset({Kind.DATASET, Kind.PRETRAINING_RECIPE, Kind.POSTTRAINING_RECIPE})
JURISDICTION_KINDS = frozenset({Kind.DATASET})
MAX_DECLARATIONS = 100
MAX_TASKS = 200
MAX_OVERLAP_CHARS = 500
MAX_JURISDICTIONS = 50
_SLUG = r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?"
_NUMBER = r"[0-9A-Za-z.+-]{1,64}"
SUITE_REF = re.compile(rf"(?P<org>{_SLUG})/(?P<slug>{_SLUG})(?:@(?P<number>{_NUMBER}))?")
_DECLARATION_KEYS = frozenset({"suite", "tasks", "overlap"})


@dataclass(frozen=True)
class Contamination:
    """A declared overlap between what a dataset or recipe holds and an eval suite's tasks."""

    org: str
    slug: str
    number: str  # "" for every version of the suite
    tasks: tuple[str, ...]  # empty for every task
    overlap: str

    @property
    def suite(self) -> str:
        return f"{self.org}/{self.slug}" + (f"@{self.number}" if self.number else "")

    def covers(self, *, org: str, slug: str, number: str, task: str) -> bool:
        """Whether a score on `task` of suite version org/slug@number is one this declaration names."""
        return (
            (org, slug) == (self.org, self.slug)
            and self.number in ("", number)
            and (not self.tasks or task in self.tasks)
        )


def declared_metadata_errors(kind: str, metadata: dict[str, Any]) -> dict[str, list[str]]:
    """Every problem with the fields this module owns, keyed by their path (`metadata.contamination[0].suite`)."""
    errors: dict[str, list[str]] = {}
    if "contamination" in metadata:
        if kind not in CONTAMINATION_KINDS:
            errors["metadata.contamination"] = [
                "contamination is declared on datasets and recipes (pretraining, posttraining), "
                f"not on a {kind.replace('_', ' ')}"
            ]
        else:
            errors.update(_contamination_errors(metadata["contamination"]))
    if "jurisdictions" in metadata:
        if kind not in JURISDICTION_KINDS:
            errors["metadata.jurisdictions"] = [
                f"jurisdictions are declared on datasets, not on a {kind.replace('_', ' ')}"
            ]
        elif problem := _jurisdictions_problem(metadata["jurisdictions"]):
            errors["metadata.jurisdictions"] = [problem]
    return errors


def _contamination_errors(value: Any) -> dict[str, list[str]]:
    field = "metadata.contamination"
    if not isinstance(value, list) or len(value) > MAX_DECLARATIONS:
        return {field: [f"must be a list of at most {MAX_DECLARATIONS} declarations {{suite, tasks, overlap}}"]}
    errors: dict[str, list[str]] = {}
    for i, item in enumerate(value):
        at = f"{field}[{i}]"
        if not isinstance(item, dict):
            errors[at] = ["must be an object {suite, tasks, overlap}"]
            continue
        if unknown := sorted(set(item) - _DECLARATION_KEYS):
            errors[at] = [f"unknown field(s) {unknown}; a declaration has suite, tasks and overlap"]
        suite = item.get("suite")
        if not isinstance(suite, str) or not SUITE_REF.fullmatch(suite):
            errors[f"{at}.suite"] = ["must name an eval suite as 'org/suite' or 'org/suite@number'"]
        tasks = item.get("tasks", [])
        if not isinstance(tasks, list) or len(tasks) > MAX_TASKS or not all(_text(t, 200) for t in tasks):
            errors[f"{at}.tasks"] = [f"must be a list of at most {MAX_TASKS} task names (empty: every task)"]
        if not _text(item.get("overlap"), MAX_OVERLAP_CHARS):
            errors[f"{at}.overlap"] = [f"say what overlaps, in at most {MAX_OVERLAP_CHARS} characters"]
    return errors


def _jurisdictions_problem(value: Any) -> str:
    if (
        not isinstance(value, list)
        or not value
        or len(value) > MAX_JURISDICTIONS
        or not all(_text(v, 64) for v in value)
    ):
        return f"must be a list of 1 to {MAX_JURISDICTIONS} names (ISO country codes like 'FR', or regions like 'EU')"
    return ""


def _text(value: Any, limit: int) -> bool:
    return isinstance(value, str) and bool(value.strip()) and len(value) <= limit


def contamination_of(metadata: Any) -> list[Contamination]:
    """The well-formed declarations of a version's metadata (none when it declares none)."""
    items = metadata.get("contamination") if isinstance(metadata, dict) else None
    found = []
    for item in items if isinstance(items, list) else []:
        suite = item.get("suite") if isinstance(item, dict) else None
        match = SUITE_REF.fullmatch(suite) if isinstance(suite, str) else None
        if match is None or _contamination_errors([item]):
            continue
        found.append(
            Contamination(
                org=match["org"],
                slug=match["slug"],
                number=match["number"] or "",
                tasks=tuple(item.get("tasks", [])),
                overlap=" ".join(item["overlap"].split()),
            )
        )
    return found


def jurisdictions_of(metadata: Any) -> list[str] | None:
    """A dataset's declared jurisdictions, or None when it declares none (or declares them malformed)."""
    value = metadata.get("jurisdictions") if isinstance(metadata, dict) else None
    if value is None or _jurisdictions_problem(value):
        return None
    return [v.strip() for v in value]
