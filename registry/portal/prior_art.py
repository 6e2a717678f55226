"""Prior art in the portal: an org's acknowledgement, from its recipe's page, that it will not
re-run a match, and a page that searches for a pasted or uploaded recipe (nothing is stored).
The version page's section is registry/portal/recipe_matches.py."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from jobs.checks.formats.documents import DocumentProblem, max_document_bytes, parse_mapping
from jobs.ledger.acknowledgements import acknowledge
from jobs.prior_art.evidence import visible_matches
from jobs.prior_art.normalize import InvalidRecipe, experiment_from
from jobs.prior_art.search import Match, prior_art
from jobs.prior_art.similarity import NEAR_DUPLICATE
from registry.actors import Actor
from registry.permissions import Capability
from registry.portal.actions import act_on_form
from registry.portal.versions import version_or_404

SEARCH_LIMIT = 20


class AcknowledgeForm(forms.Form):
    note = forms.CharField(max_length=2000, required=False)


@login_required
@require_POST
def match_acknowledge(request: HttpRequest, version_id: str, match_id: str) -> HttpResponse:
    """The version's org states it will not re-run a match from another org; back to the version."""
    actor = Actor.of(request)
    version = version_or_404(request, version_id)
    seen = next((m for m in visible_matches(actor, version) if str(m.version.public_id) == str(match_id)), None)
    if seen is None:
        raise Http404("this version has no such match that you can see")
    organization = version.artifact.organization
    if not actor.can(organization.pk, Capability.PUSH):
        raise PermissionDenied(actor.denial(organization, Capability.PUSH))
    act_on_form(
        request,
        AcknowledgeForm(request.POST),
        lambda data: acknowledge(actor, organization=organization, source=seen.version, via=version, note=data["note"]),
        f"Acknowledged: {organization.slug} will not re-run {seen.name}.",
        refused="Nothing was acknowledged",
    )
    return redirect("portal-version", version_id=version.public_id)


class RecipeForm(forms.Form):
    recipe = forms.CharField(widget=forms.Textarea, required=False, strip=False)
    file = forms.FileField(required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        text, upload = data.get("recipe") or "", data.get("file")
        if bool(text.strip()) == (upload is not None):
            raise forms.ValidationError("paste a recipe or choose its file (one of the two)")
        limit = max_document_bytes()
        if upload is not None:
            if upload.size > limit:
                raise forms.ValidationError(f"{upload.name}: {upload.size} bytes, over the {limit}-byte limit")
            try:
                text = upload.read().decode("utf-8")
            except UnicodeDecodeError as exc:
                raise forms.ValidationError(f"{upload.name}: not UTF-8 text: byte {exc.start} is invalid") from None
        elif len(text.encode()) > limit:
            raise forms.ValidationError(f"the recipe is over the {limit}-byte limit")
        data["text"] = text
        return data


def _search(actor: Actor, text: str) -> tuple[list[Match], list[str]]:
    """The matches `actor` can see for the recipe text, or the problems that stop the search."""
    try:
        wanted = experiment_from(parse_mapping(text))
    except DocumentProblem as exc:
        return [], [exc.message]
    except InvalidRecipe as exc:
        return [], [f"{field}: {message}" if field else message for field, message in exc.problems]
    return prior_art(actor, wanted, limit=SEARCH_LIMIT), []


@login_required
def prior_art_search(request: HttpRequest) -> HttpResponse:
    """Has this been tried? Paste or upload a recipe; see the closest recipes you can see."""
    form = RecipeForm(request.POST or None, request.FILES or None)
    context: dict[str, Any] = {"form": form, "threshold": NEAR_DUPLICATE, "searched": False}
    if request.method == "POST":
        problems: list[str] = []
        if form.is_valid():
            matches, problems = _search(Actor.of(request), form.cleaned_data["text"])
            context |= {"matches": matches, "searched": not problems}
        else:
            problems = [str(error) for errors in form.errors.values() for error in errors]
        context["problems"] = problems
    return render(request, "registry/prior_art.html", context, status=400 if context.get("problems") else 200)
