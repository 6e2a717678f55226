"""Reading the catalogue: the home page, browse and search, an artifact's page. Thin views over the
same selectors as the API, so a page shows exactly what `visible_to` allows."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from registry import selectors
from registry.actors import Actor
from registry.models import Version


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
