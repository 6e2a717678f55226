"""A version's page and the checks partial it polls while the pipeline runs."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from jobs.models import PipelineRun
from registry import selectors
from registry.actors import Actor
from registry.digests import version_digests
from registry.models import Version
from registry.services import reviews


def version_or_404(request: HttpRequest, version_id: str) -> Version:
    found = selectors.version_lookup(actor=Actor.of(request)).filter(public_id=version_id).first()
    if found is None:
        raise Http404("no such version that you can see")
    return found


def _pipeline(version: Version) -> PipelineRun | None:
    try:
        return selectors.pipeline_get(version=version)
    except Http404:
        return None


def version_detail(request: HttpRequest, version_id: str) -> HttpResponse:
    """A version: what was declared, its files, every check with its evidence (live while it runs),
    its lineage, the reviews and its publication; reviewers and stewards act here too."""
    actor = Actor.of(request)
    version = version_or_404(request, version_id)
    digests = version_digests(version)
    context = {
        "version": version,
        "run": _pipeline(version),
        "files": version.files.order_by("path"),
        "lineage": selectors.lineage_of(actor=actor, version=version),
        "summary": reviews.review_summary(version, actor.user, digests=digests),
        "reviews": selectors.review_list(version=version) if actor.is_authenticated else [],
        "digests": digests,
        "can_review": actor.is_reviewer and version.state == Version.State.IN_REVIEW,
        "can_override": actor.is_steward,
    }
    return render(request, "registry/version.html", context)


def version_checks(request: HttpRequest, version_id: str) -> HttpResponse:
    """The checks table alone: what the version page polls (htmx) while the pipeline runs."""
    version = version_or_404(request, version_id)
    return render(request, "registry/_checks.html", {"version": version, "run": _pipeline(version)})
