"""Acknowledgements: an org states it will not re-run another member's run (a prior-art match), and
the ledger credits that run's compute to it as avoided.

Seen by whoever sees both the source version and the acknowledging org (`visible_to`); the org's
own version it was found for (`via`) only by whoever sees that version too.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import QuerySet

from jobs.checks.formats.refs import member_of
from jobs.ledger.ledger import UNCOUNTED
from jobs.models import Acknowledgement
from registry.actors import Actor
from registry.errors import DomainError, NotFound
from registry.models import Kind, Organization, Version
from registry.permissions import Capability
from registry.services.audit import audit_record

RUN_KINDS = (Kind.PRETRAINING_RECIPE, Kind.POSTTRAINING_RECIPE, Kind.CHECKPOINT)
# What the ledger never counts, so there is nothing to acknowledge.


@transaction.atomic(durable=True)
def acknowledge(
    actor: Actor, *, organization: Organization, source: Version, via: Version | None = None, note: str = ""
) -> Acknowledgement:
    """Record that `organization` will not re-run `source`; a second call returns the first row."""
    if not Organization.objects.visible_to(actor).filter(pk=organization.pk).exists():
        raise NotFound(f"no organization '{organization.slug}'", field="organization")
    actor.require(organization, Capability.PUSH)
    visible = Version.objects.visible_to(actor).select_related("artifact__organization")
    seen = visible.filter(pk=source.pk).first()
    if seen is None:
        raise NotFound("no such version", field="source")
    source, name = seen, seen.ref
    if source.artifact.organization_id == organization.pk:
        raise DomainError(f"{name} is {organization.slug}'s own work: acknowledge another member's run", field="source")
    if source.artifact.kind not in RUN_KINDS:
        raise DomainError(f"{name} is a {source.artifact.kind}: only recipes and checkpoints are runs", field="source")
    if source.state in UNCOUNTED:
        raise DomainError(f"{name} is {source.state}: the ledger counts no compute for it", field="source")
    if not Version.objects.visible_to(member_of(organization.pk)).filter(pk=source.pk).exists():
        raise DomainError(
            f"{name} is not shared with {organization.slug}: only published or consortium-shared work can be "
            "acknowledged",
            field="source",
        )
    if via is not None:
        own = visible.filter(pk=via.pk).exclude(state=Version.State.DELETED).first()
        if own is None:
            raise NotFound("no such version", field="via")
        if own.artifact.organization_id != organization.pk:
            raise DomainError(f"{own.ref} is not a version of {organization.slug}", field="via")
        via = own
    if len(note) > 2000:
        raise DomainError("the note is at most 2000 characters", field="note")
    found, created = Acknowledgement.objects.get_or_create(
        organization=organization,
        source=source,
        defaults={"via": via, "note": note, "created_by": actor.user},
    )
    if created:
        audit_record(
            actor=actor,
            action="acknowledgement.created",
            target=found,
            organization=organization,
            data={"source": name, "via": via.ref if via else None, "note": note[:200]},
        )
    return found


def acknowledgement_list(actor: Actor) -> QuerySet[Acknowledgement]:
    """The acknowledgements the actor may see: their source and their org are visible to it."""
    return (
        Acknowledgement.objects.filter(
            source__in=Version.objects.visible_to(actor),
            organization__in=Organization.objects.visible_to(actor),
        )
        .select_related("organization", "source__artifact__organization", "via__artifact__organization")
        .order_by("-created_at", "-pk")
    )


def visible_via(actor: Actor, acknowledgements: list[Acknowledgement]) -> set[int]:
    """Ids of the `via` versions among `acknowledgements` that the actor sees."""
    ids = {a.via_id for a in acknowledgements if a.via_id is not None}
    return set(Version.objects.visible_to(actor).filter(pk__in=ids).values_list("pk", flat=True)) if ids else set()
