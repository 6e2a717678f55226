"""Server-rendered portal pages. The full portal is its own issue; these start from the same selectors."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from registry import selectors
from registry.actors import Actor


def home(request: HttpRequest) -> HttpResponse:
    """What the viewer can see: the newest versions and the orgs, with links to the API."""
    actor = Actor.of(request)
    recent = selectors.version_list(actor=actor).order_by("-state_changed_at", "-id")[:25]
    orgs = selectors.organization_list(actor=actor)
    return render(request, "registry/home.html", {"actor": actor, "recent": recent, "organizations": orgs})
