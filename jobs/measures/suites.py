"""Which eval suite versions a model version is scored on: the stewards' defaults for its kind,
and those its pusher named in `metadata.eval_suites` ("org/suite" or "org/suite@number"). A suite
counts once its own checks passed (in review, approved or published), and only if the pushing
org can read it. Without a number, its newest such version is taken."""

from __future__ import annotations

from dataclasses import dataclass, field

from jobs.models import EvalSuiteDefault
from registry.actors import Actor
from registry.models import Kind, Version

USABLE = (Version.State.IN_REVIEW, Version.State.APPROVED, Version.State.PUBLISHED)
MAX_NAMED = 20


@dataclass
class Chosen:
    suites: list[Version] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # one line per name that does not resolve


def _newest(candidates: list[Version]) -> Version | None:
    return max(candidates, key=lambda v: (v.created_at, v.pk), default=None)


def suites_for(version: Version) -> Chosen:
    artifact = version.artifact
    readable = (
        Version.objects.visible_to(Actor.of_system("evals", reading_for=artifact.organization_id))
        .filter(artifact__kind=Kind.EVAL_SUITE, state__in=USABLE)
        .select_related("artifact__organization")
    )
    chosen = Chosen()

    def add(found: Version | None) -> None:
        if found is not None and found.pk not in {s.pk for s in chosen.suites}:
            chosen.suites.append(found)

    defaults = EvalSuiteDefault.objects.filter(kind=artifact.kind).values_list("suite_id", flat=True)
    by_artifact: dict[int, list[Version]] = {}
    for candidate in readable.filter(artifact_id__in=list(defaults)):
        by_artifact.setdefault(candidate.artifact_id, []).append(candidate)
    for candidates in by_artifact.values():
        add(_newest(candidates))
    named = version.metadata.get("eval_suites", [])
    if not isinstance(named, list) or not all(isinstance(n, str) for n in named) or len(named) > MAX_NAMED:
        chosen.problems.append(f"eval_suites must be a list of at most {MAX_NAMED} names like 'org/suite[@number]'")
        return chosen
    for i, name in enumerate(named):
        ref, _, number = name.partition("@")
        org, _, slug = ref.partition("/")
        matches = readable.filter(artifact__organization__slug=org, artifact__slug=slug)
        if number:
            matches = matches.filter(number=number)
        found = _newest(list(matches))
        if found is None:
            chosen.problems.append(
                f"eval_suites[{i}]: {name[:200]!r} is no eval suite {artifact.organization.slug} can read "
                "whose checks have passed"
            )
        add(found)
    return chosen
