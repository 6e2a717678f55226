"""A steward's re-run of a check or a measurement, from the version page. Steward powers are for
signed-in people only (API tokens never act as stewards), so this form is where a steward re-runs
a step; the API's `checks/<step>/rerun/` calls the same `step_rerun`."""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from jobs import pipeline
from registry import selectors
from registry.actors import Actor
from registry.portal.actions import act_on_form
from registry.portal.versions import version_or_404


class RerunForm(forms.Form):
    reason = forms.CharField(
        max_length=2000,
        error_messages={"required": "say why it is re-run; the reason is kept in the audit log"},
    )


@login_required
@require_POST
def step_rerun(request: HttpRequest, version_id: str, step_name: str) -> HttpResponse:
    """Queue one step again from scratch, with the steward's reason; back to the version page,
    which says what happened or why nothing did."""
    actor = Actor.of(request)
    version = version_or_404(request, version_id)  # an invisible version is a 404, as on every page
    if not actor.is_steward:
        raise PermissionDenied("only a steward can re-run a check or a measurement")
    step = selectors.step_get(version=version, name=step_name)
    act_on_form(
        request,
        RerunForm(request.POST),
        lambda data: pipeline.step_rerun(actor=actor, step=step, reason=data["reason"]),
        f"{step.name} queued again: it runs from scratch, and your reason is in the audit log.",
        refused="Nothing was re-run",
    )
    return redirect("portal-version", version_id=version.public_id)
