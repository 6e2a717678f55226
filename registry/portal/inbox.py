"""The inbox: a person's notifications, the unread badge every page polls, their preferences, and
the Watch button of an artifact's page."""

from __future__ import annotations

from typing import Any, ClassVar

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from registry import selectors
from registry.actors import Actor
from registry.portal.actions import act, act_on_form
from registry.services import notifications

INBOX_PAGE = 50


@login_required
@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    """The person's notifications, newest first, unread ones marked, a page at a time."""
    actor = Actor.of(request)
    page = Paginator(notifications.notification_list(actor=actor), INBOX_PAGE).get_page(request.GET.get("page"))
    rows = [(n, notifications.describe(n.event), notifications.WHY[n.reason]) for n in page]
    context = {"rows": rows, "page": page, "unread": notifications.unread_count(actor=actor)}
    return render(request, "registry/inbox.html", context)


@never_cache
@require_GET
def inbox_count(request: HttpRequest) -> HttpResponse:
    """The nav's unread badge (htmx polls it); nothing once the person has signed out."""
    actor = Actor.of(request)
    if not actor.is_authenticated:
        return HttpResponse("")
    return render(request, "registry/_inbox_count.html", {"unread": notifications.unread_count(actor=actor)})


@login_required
@require_GET
def inbox_open(request: HttpRequest, notification_id: int) -> HttpResponse:
    """Follow a notification: it is read, and the version's page opens."""
    actor = Actor.of(request)
    found = notifications.notification_list(actor=actor).filter(pk=notification_id).first()
    if found is None:
        raise Http404("no such notification of yours")
    notifications.notifications_mark_read(actor=actor, ids=[found.pk])
    return redirect("portal-version", version_id=found.event.version.public_id)


@login_required
@require_POST
def inbox_read(request: HttpRequest) -> HttpResponse:
    """Mark one notification read (`id`), or all of them (`all`)."""
    actor = Actor.of(request)
    if request.POST.get("all"):
        act(request, lambda: notifications.notifications_mark_read(actor=actor), "Every notification is marked read.")
    else:
        raw = request.POST.get("id", "")
        if not raw.isdigit():
            messages.error(request, f"id: '{raw[:20]}' is not a notification id")
        else:
            act(request, lambda: notifications.notifications_mark_read(actor=actor, ids=[int(raw)]), "Marked read.")
    return redirect("portal-inbox")


class PreferencesForm(forms.Form):
    """NotificationPreference's choices, each a checkbox (one is named `errors`, like Form.errors,
    hence fields added here rather than declared)."""

    LABELS: ClassVar[dict[str, str]] = {
        "reviews_waiting": "Work waiting for my review",
        "org_changes": "My organizations' versions changing state",
        "errors": "Errored checks and failed publications",
        "watched_publications": "Publications of artifacts I watch",
        "email": "Also by email (batched into a digest when several arrive at once)",
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in notifications.PREFERENCE_FIELDS:
            self.fields[name] = forms.BooleanField(required=False, label=self.LABELS[name])


@login_required
@require_http_methods(["GET", "POST"])
def notification_preferences(request: HttpRequest) -> HttpResponse:
    """What the person hears about, and whether by email too."""
    actor = Actor.of(request)
    current = notifications.preferences_get(actor=actor)
    initial = {name: getattr(current, name) for name in notifications.PREFERENCE_FIELDS}
    form = PreferencesForm(request.POST or None, initial=initial)
    if request.method == "POST" and act_on_form(
        request,
        form,
        lambda data: notifications.preferences_set(
            actor=actor, **{name: data[name] for name in notifications.PREFERENCE_FIELDS}
        ),
        "Preferences saved.",
        refused="Nothing was saved",
    ):
        return redirect("portal-inbox-preferences")
    return render(request, "registry/notification_preferences.html", {"form": form})


@login_required
@require_POST
def artifact_watch(request: HttpRequest, artifact_id: str) -> HttpResponse:
    """The artifact page's Watch / Unwatch button (`watch` is "on" or "off")."""
    actor = Actor.of(request)
    artifact = selectors.artifact_list(actor=actor).filter(public_id=artifact_id).first()
    if artifact is None:
        raise Http404("no such artifact that you can see")
    name = f"{artifact.organization.slug}/{artifact.slug}"
    if request.POST.get("watch") == "off":
        act(
            request,
            lambda: notifications.artifact_unwatch(actor=actor, artifact=artifact),
            f"You no longer watch {name}.",
        )
    else:
        act(
            request,
            lambda: notifications.artifact_watch(actor=actor, artifact=artifact),
            f"You watch {name}: you will hear of its publications.",
        )
    return redirect("portal-artifact", artifact_id=artifact.public_id)
