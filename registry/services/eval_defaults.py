"""The stewards' eval suites: the defaults every checkpoint or adapter is scored on, and bulk re-runs
of a measurement (after a new harness or suite version lands). Stewards only, each change audited."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from jobs import pipeline
from jobs.checks import MEASURES, MEASURES_BY_KIND
from jobs.models import EvalSuiteDefault
from registry.actors import Actor
from registry.errors import Forbidden
from registry.models import Artifact, Kind, Sharing, Version
from registry.services.audit import audit_record

EVALUATED_KINDS = tuple(kind for kind, names in MEASURES_BY_KIND.items() if "evals" in names)


def suite_named(name: str, *, field: str = "suite") -> Artifact:
    """The eval suite artifact `org/slug`, or a validation error on `field` saying why not."""
    org, _, slug = name.partition("/")
    if not org or not slug or "/" in slug:
        raise ValidationError({field: [f"{name[:200]!r} is not a name like 'org/suite'"]})
    artifact = Artifact.objects.filter(organization__slug=org, slug=slug).select_related("organization").first()
    if artifact is None:
        raise ValidationError({field: [f"no artifact {name}"]})
    if artifact.kind != Kind.EVAL_SUITE:
        raise ValidationError({field: [f"{name} is a {artifact.kind}, not an eval_suite"]})
    return artifact


@transaction.atomic(durable=True)
def eval_suite_default_add(*, actor: Actor, kind: str, suite: str) -> tuple[EvalSuiteDefault, bool]:
    """Score every version of `kind` on `suite` from now on. The suite must be one every member can
    read: shared with the consortium, or published. The same pair again returns the existing row
    (created False) and records nothing."""
    if not actor.is_steward:
        raise Forbidden("only a steward chooses the default eval suites")
    if kind not in EVALUATED_KINDS:
        raise ValidationError({"kind": [f"evals run on {' and '.join(EVALUATED_KINDS)} versions only"]})
    artifact = suite_named(suite)
    if artifact.withdrawn_at is not None:
        raise ValidationError({"suite": [f"{suite} is withdrawn"]})
    published = artifact.versions.filter(state=Version.State.PUBLISHED).exists()
    if artifact.sharing != Sharing.CONSORTIUM and not published:
        raise ValidationError(
            {"suite": [f"{suite} is neither shared with the consortium nor published: not every member can read it"]}
        )
    try:
        with transaction.atomic():
            default, created = EvalSuiteDefault.objects.get_or_create(kind=kind, suite=artifact)
    except IntegrityError:  # added concurrently by another steward: the same outcome
        default, created = EvalSuiteDefault.objects.get(kind=kind, suite=artifact), False
    if created:
        audit_record(
            actor=actor,
            action="eval_suite_default.added",
            target=default,
            organization=None,
            data={"kind": kind, "suite": suite},
        )
    return default, created


@transaction.atomic(durable=True)
def eval_suite_default_remove(*, actor: Actor, default: EvalSuiteDefault) -> None:
    """Stop choosing the suite for the kind; scores already taken stay."""
    if not actor.is_steward:
        raise Forbidden("only a steward chooses the default eval suites")
    name = f"{default.suite.organization.slug}/{default.suite.slug}"
    audit_record(
        actor=actor,
        action="eval_suite_default.removed",
        target=default,
        organization=None,
        data={"kind": default.kind, "suite": name},
    )
    EvalSuiteDefault.objects.filter(pk=default.pk).delete()


def measures_rerun_named(*, actor: Actor, name: str, reason: str, suite: str | None = None) -> int:
    """`pipeline.measures_rerun` with the suite given by name. The steward check comes first, so
    nobody else learns from the answer which suites exist."""
    if not actor.is_steward:
        raise Forbidden("only a steward can re-run measurements")
    if name not in MEASURES:
        raise ValidationError({"step": [f"one of {', '.join(MEASURES)}"]})
    if suite is not None and name != "evals":
        raise ValidationError({"suite": ["only the evals measurement is re-run by suite"]})
    artifact = suite_named(suite) if suite is not None else None
    return pipeline.measures_rerun(actor=actor, name=name, reason=reason, suite=artifact)
