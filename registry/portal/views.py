"""Server-rendered portal pages: thin views over the same selectors and services as the API, so a
page shows exactly what `visible_to` allows and every action goes through the audited services."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from jobs.models import PipelineRun
from registry import selectors
from registry.actors import Actor
from registry.digests import version_digests
from registry.errors import DomainError
from registry.models import Version
from registry.services import reviews


def home(request: HttpRequest) -> HttpResponse:
    """What the viewer can see: the newest versions and the orgs, with links to the API."""
    actor = Actor.of(request)
    recent = selectors.version_list(actor=actor).order_by("-state_changed_at", "-id")[:25]
    orgs = selectors.organization_list(actor=actor)
    return render(request, "registry/home.html", {"actor": actor, "recent": recent, "organizations": orgs})


BROWSE_PAGE = 25
FACETS = ("kind", "org", "license", "state")


def browse(request: HttpRequest) -> HttpResponse:
    """Search and filter the artifacts the viewer may see: facets with counts (over what is visible,
    before the facet's own filter), newest first, paginated."""
    actor = Actor.of(request)
    chosen = {name: request.GET.get(name, "").strip() for name in FACETS}
    search = request.GET.get("q", "").strip()[:200]
    found = selectors.artifact_list(actor=actor, search=search or None, **{k: v or None for k, v in chosen.items()})
    page = Paginator(found, BROWSE_PAGE).get_page(request.GET.get("page"))
    visible = selectors.artifact_list(actor=actor, search=search or None)
    facets = {
        "kind": visible.values_list("kind").annotate(n=Count("id")).order_by("kind"),
        "org": visible.values_list("organization__slug").annotate(n=Count("id")).order_by("organization__slug"),
    }
    context = {"page": page, "q": search, "chosen": chosen, "facets": facets, "states": Version.State.values}
    return render(request, "registry/browse.html", context)


def artifact_detail(request: HttpRequest, artifact_id: str) -> HttpResponse:
    """An artifact: its description and the versions the viewer may see, with the newest published
    one and its place on the Hub."""
    actor = Actor.of(request)
    artifact = selectors.artifact_list(actor=actor).filter(public_id=artifact_id).first()
    if artifact is None:
        raise Http404("no such artifact that you can see")
    versions = list(selectors.version_list(actor=actor, artifact=str(artifact.public_id)))
    published = next((v for v in versions if v.state == Version.State.PUBLISHED), None)
    context = {"artifact": artifact, "versions": versions, "published": published}
    return render(request, "registry/artifact.html", context)


def _version(request: HttpRequest, version_id: str) -> Version:
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
    version = _version(request, version_id)
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
    version = _version(request, version_id)
    return render(request, "registry/_checks.html", {"version": version, "run": _pipeline(version)})


@login_required
def review_queue(request: HttpRequest) -> HttpResponse:
    """Versions of other orgs awaiting my review, oldest first, with where each stands."""
    actor = Actor.of(request)
    policies = {p.kind: p.approvals_required for p in selectors.review_policy_list()}
    rows = [
        (version, reviews.review_summary(version, actor.user, required=policies[version.artifact.kind]))
        for version in selectors.review_queue(actor=actor).order_by("state_changed_at", "id")[:200]
    ]
    return render(request, "registry/review_queue.html", {"rows": rows, "is_reviewer": actor.is_reviewer})


@login_required
@require_POST
def version_review(request: HttpRequest, version_id: str) -> HttpResponse:
    """A reviewer's decision from the version page or the queue."""
    version = _version(request, version_id)
    decision, comment = request.POST.get("decision", ""), request.POST.get("comment", "")
    done = _act(
        request,
        lambda: reviews.review_decide(actor=Actor.of(request), version=version, decision=decision, comment=comment),
        f"Recorded: {decision.replace('_', ' ')} on {version}.",
    )
    return redirect("portal-review-queue") if done else redirect("portal-version", version_id=version.public_id)


@login_required
@require_POST
def version_override(request: HttpRequest, version_id: str) -> HttpResponse:
    """A steward's override, with its reason."""
    version = _version(request, version_id)
    action, reason = request.POST.get("action", ""), request.POST.get("reason", "")
    _act(
        request,
        lambda: reviews.version_override(actor=Actor.of(request), version=version, action=action, reason=reason),
        f"Override recorded: {action} on {version}.",
    )
    return redirect("portal-version", version_id=version.public_id)


def _act(request: HttpRequest, call: Callable[[], object], success: str) -> bool:
    """Run one service call for a form; say what happened (or why it was refused) on the next page."""
    try:
        call()
    except (DomainError, ValidationError) as exc:
        messages.error(request, _message(exc))
        return False
    messages.success(request, success)
    return True


def _message(exc: DomainError | ValidationError) -> str:
    if isinstance(exc, DomainError):
        return exc.message
    return " ".join(f"{field}: {' '.join(errors)}" for field, errors in exc.message_dict.items())
