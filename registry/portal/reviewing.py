"""The review queue and the decisions taken from it or from a version's page: a reviewer's
approve / request changes / reject, a steward's override with its reason."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from registry import selectors
from registry.actors import Actor
from registry.portal.actions import act
from registry.portal.versions import version_or_404
from registry.services import reviews

QUEUE_PAGE = 20


@login_required
def review_queue(request: HttpRequest) -> HttpResponse:
    """Versions of other orgs awaiting my review, oldest first, with where each stands, a page at a time."""
    actor = Actor.of(request)
    policies = {p.kind: p.approvals_required for p in selectors.review_policy_list()}
    waiting = (
        selectors.review_queue(actor=actor)
        .select_related("artifact__organization", "pipeline")
        .prefetch_related("pipeline__steps")
        .order_by("state_changed_at", "id")
    )
    page = Paginator(waiting, QUEUE_PAGE).get_page(request.GET.get("page"))
    rows = [
        (version, reviews.review_summary(version, actor.user, required=policies[version.artifact.kind]))
        for version in page
    ]
    return render(request, "registry/review_queue.html", {"rows": rows, "page": page, "is_reviewer": actor.is_reviewer})


@login_required
@require_POST
def version_review(request: HttpRequest, version_id: str) -> HttpResponse:
    """A reviewer's decision from the version page or the queue."""
    version = version_or_404(request, version_id)
    decision, comment = request.POST.get("decision", ""), request.POST.get("comment", "")
    done = act(
        request,
        lambda: reviews.review_decide(actor=Actor.of(request), version=version, decision=decision, comment=comment),
        f"Recorded: {decision.replace('_', ' ')} on {version}.",
    )
    return redirect("portal-review-queue") if done else redirect("portal-version", version_id=version.public_id)


@login_required
@require_POST
def version_override(request: HttpRequest, version_id: str) -> HttpResponse:
    """A steward's override, with its reason."""
    version = version_or_404(request, version_id)
    action, reason = request.POST.get("action", ""), request.POST.get("reason", "")
    act(
        request,
        lambda: reviews.version_override(actor=Actor.of(request), version=version, action=action, reason=reason),
        f"Override recorded: {action} on {version}.",
    )
    return redirect("portal-version", version_id=version.public_id)
