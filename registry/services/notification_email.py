"""Notification email, in batches: each run (beat, every NOTIFICATION_EMAIL_SECONDS) sends each
person with notifications waiting one message, about the one event or a digest of them all.

A person's waiting notifications are claimed in a short transaction (SKIP LOCKED, then cleared),
so two runs never send them twice; the message is sent after it commits, outside any transaction.
A failed send puts them back for the next run. A run that dies between the claim and the send
loses that message (the inbox still has every notification): at most once, never twice.
"""

from __future__ import annotations

from typing import Any

import structlog
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from registry.actors import Actor
from registry.models import Event, Notification, NotificationPreference, User, Version
from registry.services.notifications import WHY, describe, headline

log = structlog.get_logger(__name__)

DIGEST_LISTED = 50  # a digest lists this many; the rest wait in the inbox


def version_link(version: Version) -> str:
    return settings.PUBLIC_URL + reverse("portal-version", args=[version.public_id])


def _claim(user_id: int) -> list[int]:
    """Take the person's waiting notifications; another run holding them (locked) gets none."""
    with transaction.atomic(durable=True):
        ids = list(
            Notification.objects.select_for_update(skip_locked=True)
            .filter(user_id=user_id, email_pending=True)
            .order_by("id")
            .values_list("pk", flat=True)
        )
        Notification.objects.filter(pk__in=ids).update(email_pending=False)
    return ids


def _message(user: User, notifications: list[Notification]) -> tuple[str, str]:
    """(subject, text body): about the one event, or a digest."""
    items = [
        {"text": describe(n.event), "why": WHY[n.reason], "link": version_link(n.event.version)} for n in notifications
    ]
    context: dict[str, Any] = {
        "user": user,
        "count": len(items),
        "items": items[:DIGEST_LISTED],
        "more": max(0, len(items) - DIGEST_LISTED),
        "inbox": settings.PUBLIC_URL + reverse("portal-inbox"),
        "preferences": settings.PUBLIC_URL + reverse("portal-inbox-preferences"),
    }
    if len(notifications) == 1:
        return headline(notifications[0]), render_to_string("registry/email/notification.txt", context)
    subject = f"{len(notifications)} updates in the consortium registry"
    return subject, render_to_string("registry/email/digest.txt", context)


def _send(user_id: int, ids: list[int]) -> str:
    """Send one person's claimed notifications: "sent", "skipped" (nothing they still want or can
    see, or no address) or "failed" (put back for the next run)."""
    user = User.objects.select_related("notification_preference").get(pk=user_id)
    try:
        wants_email = user.notification_preference.email
    except NotificationPreference.DoesNotExist:
        wants_email = True
    visible = Event.objects.visible_to(Actor.for_user(user)).filter(pk=OuterRef("event_id"))
    notifications = list(
        Notification.objects.filter(Exists(visible), pk__in=ids)
        .select_related("event__version__artifact__organization")
        .order_by("id")
    )
    if not (user.is_active and user.email and wants_email and notifications):
        return "skipped"
    subject, body = _message(user, notifications)
    sent = [n.pk for n in notifications]
    try:
        send_mail(subject, body, None, [user.email])
    except Exception:  # whatever the backend raises: one person's failure must not stop the others'
        Notification.objects.filter(pk__in=sent).update(email_pending=True)
        log.exception("notification_email.failed", user_id=user_id, notifications=len(sent))
        return "failed"
    Notification.objects.filter(pk__in=sent).update(emailed_at=timezone.now())
    log.info("notification_email.sent", user_id=user_id, notifications=len(sent))
    return "sent"


def notification_email_send() -> dict[str, int]:
    """One message per person with notifications waiting for email; counts of each outcome."""
    counts = {"sent": 0, "skipped": 0, "failed": 0}
    waiting = Notification.objects.filter(email_pending=True).order_by("user_id").values_list("user_id", flat=True)
    for user_id in waiting.distinct():
        ids = _claim(user_id)
        if ids:
            counts[_send(user_id, ids)] += 1
    return counts
