"""Notifications: who hears of each event and why, the inbox, preferences and watches.

`on_event` runs inside the change's transaction (the `event_recorded` signal), so a notification
exists exactly when its event does. A person hears of an event once at most, for the first reason
that applies in `Notification.Reason`'s order, only if their preferences ask for it, and only if
they can see the version. The inbox lists a notification only while its event stays visible.
"""

from __future__ import annotations

import operator
from collections.abc import Collection
from functools import reduce
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Case, CharField, Exists, OuterRef, Q, QuerySet, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from registry.actors import Actor
from registry.errors import Forbidden, NotFound
from registry.models import (
    Artifact,
    Event,
    Membership,
    Notification,
    NotificationPreference,
    Review,
    User,
    Version,
    Watch,
)

Type = Event.Type
State = Version.State
Reason = Notification.Reason

# The state changes a version's org hears of; submitted, checking and publishing are steps on the way.
ORG_CHANGE_STATES = frozenset(
    {State.IN_REVIEW, State.CHANGES_REQUESTED, State.REJECTED, State.APPROVED, State.PUBLISHED, State.WITHDRAWN}
)
ORG_CHANGE_TYPES = frozenset(
    {Type.REVIEW_DECIDED, Type.STEWARD_OVERRIDE, Type.STEWARD_RERUN, Type.VERSION_WITHDRAWN, Type.PUBLICATION_PUBLISHED}
)
ERROR_TYPES = frozenset({Type.STEP_ERRORED, Type.PUBLICATION_FAILED})

# reason → the preference that turns it on or off
PREFERENCE_OF: dict[str, str] = {
    Reason.REVIEW_WAITING: "reviews_waiting",
    Reason.ORG_CHANGE: "org_changes",
    Reason.ERROR: "errors",
    Reason.WATCHED_PUBLICATION: "watched_publications",
}
PREFERENCE_FIELDS = (*PREFERENCE_OF.values(), "email")

# reason → why the person hears of it, in words (the inbox and the email say it)
WHY: dict[str, str] = {
    Reason.REVIEW_WAITING: "waiting for your review",
    Reason.ORG_CHANGE: "your organization's work",
    Reason.ERROR: "an error",
    Reason.WATCHED_PUBLICATION: "an artifact you watch",
}


def describe(event: Event) -> str:
    """The event in words, naming its version as org/artifact@number: what the inbox, the email
    and the API say of it. Only the payload's fixed fields are used, never free text. A sentence
    starts with a capital unless it starts with the version's name, which is written as it is."""
    ref, payload = event.version.ref, event.payload
    action = payload.get("action", "")
    if event.type == Type.VERSION_STATE_CHANGED:
        return f"{ref} moved from {payload.get('from')} to {payload.get('to')}"
    if event.type == Type.REVIEW_DECIDED:
        tally = f" ({payload['approvals']} of {payload['required']} approvals)" if "required" in payload else ""
        decided = {
            "review.approve": f"A reviewer approved {ref}{tally}",
            "review.request_changes": f"A reviewer requested changes to {ref}",
            "review.reject": f"A reviewer rejected {ref}",
        }
        return decided.get(action, f"A reviewer decided on {ref}")
    if event.type == Type.STEWARD_OVERRIDE:
        if action == "version.override_waive":
            return f"A steward waived the failed checks of {ref}"
        return f"A steward approved {ref} without the quorum"
    if event.type == Type.STEWARD_RERUN:
        return f"A steward re-ran step {payload.get('step')} on {ref}"
    if event.type == Type.VERSION_WITHDRAWN:
        return f"{ref} was withdrawn"
    if event.type == Type.STEP_ERRORED:
        return f"Step {payload.get('step')} errored on {ref}"
    if event.type == Type.PUBLICATION_PUBLISHED:
        return f"{ref} was published to the Hub"
    if event.type == Type.PUBLICATION_FAILED:
        return f"Publishing {ref} to the Hub failed"
    return f"{ref}: {event.type}"


def headline(notification: Notification) -> str:
    """What a notification says first (an email's subject): work waiting for the reader is said as such."""
    if notification.reason == Reason.REVIEW_WAITING:
        return f"{notification.event.version.ref} is waiting for your review"
    return describe(notification.event)


# Fan-out


def _wants(preference: str) -> Q:
    """The person asked for it, or has chosen nothing yet (everything on)."""
    return Q(notification_preference__isnull=True) | Q(**{f"notification_preference__{preference}": True})


def _rules(event: Event) -> list[tuple[str, Q]]:
    """For each reason that applies to `event`, first reason first: who hears of it for that reason."""
    member = Q(Exists(Membership.objects.filter(user=OuterRef("pk"), organization_id=event.organization_id)))
    to = event.payload.get("to") if event.type == Type.VERSION_STATE_CHANGED else None
    rules: list[tuple[str, Q]] = []
    if to == State.IN_REVIEW:
        # selectors.review_queue's rule: reviewers outside every org of the version, not yet decided.
        decided = Q(Exists(Review.objects.filter(reviewer=OuterRef("pk"), version_id=event.version_id)))
        rules.append((Reason.REVIEW_WAITING, Q(is_reviewer=True) & ~member & ~decided))
    if event.type in ERROR_TYPES:
        rules.append((Reason.ERROR, member | Q(is_steward=True)))
    if to in ORG_CHANGE_STATES or event.type in ORG_CHANGE_TYPES:
        rules.append((Reason.ORG_CHANGE, member))
    if event.type == Type.PUBLICATION_PUBLISHED:
        watching = Exists(Watch.objects.filter(user=OuterRef("pk"), artifact_id=event.version.artifact_id))
        rules.append((Reason.WATCHED_PUBLICATION, Q(watching)))
    return [(reason, who & _wants(PREFERENCE_OF[reason])) for reason, who in rules]


def _recipients(event: Event) -> list[User]:
    """Everyone who asked to hear of `event`, in one query, each with `reason` (the first that
    applies) and `wants_email`."""
    rules = _rules(event)
    if not rules:
        return []
    return list(
        User.objects.filter(is_active=True)
        .filter(reduce(operator.or_, (who for _, who in rules)))
        .annotate(
            reason=Case(*(When(who, then=Value(reason)) for reason, who in rules), output_field=CharField()),
            wants_email=Coalesce("notification_preference__email", Value(True)),
        )
    )


def _seeing(version_id: int, users: list[User]) -> set[int]:
    """The ids of `users` who can see the version, by `visible_to` itself, in two queries: their
    memberships, then one check per distinct kind of actor (same org roles and consortium roles),
    all answered by one row."""
    roles: dict[int, dict[int, str]] = {user.pk: {} for user in users}
    for user_id, org_id, role in Membership.objects.filter(user__in=users).values_list(
        "user_id", "organization_id", "role"
    ):
        roles[user_id][org_id] = role
    kinds: dict[tuple[Any, ...], tuple[Actor, list[int]]] = {}
    for user in users:
        # Actor.for_user, without a query per person.
        actor = Actor(user=user, roles=roles[user.pk], is_reviewer=user.is_reviewer, is_steward=user.is_steward)
        key = (tuple(sorted(actor.roles.items())), actor.is_reviewer, actor.is_steward)
        kinds.setdefault(key, (actor, []))[1].append(user.pk)
    checks = {
        f"seen_{n}": Exists(Version.objects.visible_to(actor).filter(pk=version_id))
        for n, (actor, _) in enumerate(kinds.values())
    }
    seen = Version.objects.filter(pk=version_id).values(**checks).first() or {}
    return {user_id for n, (_, user_ids) in enumerate(kinds.values()) if seen.get(f"seen_{n}") for user_id in user_ids}


def on_event(sender: type[Event], event: Event, **kwargs: Any) -> None:
    """The `event_recorded` receiver: a notification for each person who asked to hear of the event
    and can see its version, written in the change's transaction (a few queries, whatever the
    number of people)."""
    users = _recipients(event)
    if not users:
        return
    seeing = _seeing(event.version_id, users)
    Notification.objects.bulk_create(
        [
            Notification(
                user=user,
                event=event,
                reason=user.reason,  # type: ignore[attr-defined]
                email_pending=bool(user.wants_email and user.email),  # type: ignore[attr-defined]
            )
            for user in users
            if user.pk in seeing
        ],
        ignore_conflicts=True,  # notification_unique: once per person and event
    )


# The inbox


def _owner(actor: Actor) -> User:
    """Whose notifications, preferences and watches these are: the signed-in person, or a token's maker."""
    if actor.token is not None:
        return actor.token.created_by
    if actor.user is None:
        raise Forbidden("sign in to read your notifications")
    return actor.user


def notification_list(*, actor: Actor, unread_only: bool = False) -> QuerySet[Notification]:
    """The actor's own notifications whose event it can still see (a token: within its org), newest first."""
    if actor.user is None:
        return Notification.objects.none()
    owner_id = actor.token.created_by_id if actor.token is not None else actor.user.pk
    visible = Event.objects.visible_to(actor).filter(pk=OuterRef("event_id"))
    qs = Notification.objects.filter(Exists(visible), user_id=owner_id)
    if unread_only:
        qs = qs.filter(read_at__isnull=True)
    return qs.select_related("event__version__artifact__organization", "event__organization").order_by("-id")


def unread_count(*, actor: Actor) -> int:
    return notification_list(actor=actor, unread_only=True).count()


@transaction.atomic(durable=True)
def notifications_mark_read(*, actor: Actor, ids: Collection[int] | None = None) -> int:
    """Mark the actor's notifications read: those in `ids`, or every one when `ids` is None. Returns
    how many were unread; an id that is not one of the actor's notifications is refused."""
    mine = notification_list(actor=actor)
    if ids is not None:
        wanted = set(ids)
        found = set(mine.filter(pk__in=wanted).values_list("pk", flat=True))
        if wanted - found:
            missing = ", ".join(map(str, sorted(wanted - found)))
            raise NotFound(f"no notification of yours with id {missing}", field="ids")
        mine = mine.filter(pk__in=found)
    return Notification.objects.filter(pk__in=mine.filter(read_at__isnull=True).values("pk")).update(
        read_at=timezone.now()
    )


def preferences_get(*, actor: Actor) -> NotificationPreference:
    """The person's choices; the defaults (everything on), unsaved, when they have chosen nothing."""
    owner = _owner(actor)
    return NotificationPreference.objects.filter(user=owner).first() or NotificationPreference(user=owner)


@transaction.atomic(durable=True)
def preferences_set(*, actor: Actor, **choices: bool) -> NotificationPreference:
    """Change some of the person's choices; the others keep their value."""
    unknown = sorted(set(choices) - set(PREFERENCE_FIELDS))
    if unknown:
        raise ValidationError({name: [f"not a preference; one of {', '.join(PREFERENCE_FIELDS)}"] for name in unknown})
    preference, _ = NotificationPreference.objects.update_or_create(user=_owner(actor), defaults=choices)
    return preference


# Watches


def watch_list(*, actor: Actor) -> QuerySet[Watch]:
    """The person's watches of artifacts the actor can see, newest first."""
    visible = Artifact.objects.visible_to(actor).filter(pk=OuterRef("artifact_id"))
    return (
        Watch.objects.filter(Exists(visible), user=_owner(actor))
        .select_related("artifact__organization")
        .order_by("-created_at", "-id")
    )


def is_watching(*, actor: Actor, artifact: Artifact) -> bool:
    return actor.user is not None and Watch.objects.filter(user=_owner(actor), artifact=artifact).exists()


@transaction.atomic(durable=True)
def artifact_watch(*, actor: Actor, artifact: Artifact) -> tuple[Watch, bool]:
    """Hear of the artifact's publications; (the watch, whether it is new). Watching twice is one watch."""
    if not Artifact.objects.visible_to(actor).filter(pk=artifact.pk).exists():
        raise NotFound("no such artifact", field="artifact")
    return Watch.objects.get_or_create(user=_owner(actor), artifact=artifact)


@transaction.atomic(durable=True)
def artifact_unwatch(*, actor: Actor, artifact: Artifact) -> None:
    """Stop hearing of the artifact's publications."""
    removed, _ = Watch.objects.filter(user=_owner(actor), artifact=artifact).delete()
    if not removed:
        raise NotFound("you do not watch this artifact", field="artifact")
