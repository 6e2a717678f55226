"""Reading the catalogue: the home page, browse and search, an artifact's page. Thin views over the
same selectors as the API, so a page shows exactly what `visible_to` allows."""

from __future__ import annotations

from dataclasses import fields
from typing import Any
from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.db.models import Count, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django_countries import countries

from registry import selectors
from registry.actors import Actor
from registry.models import Kind, Version
from registry.search import SIZES, SORTS, Filters
from registry.services import notifications

HOME_LIST = 10
IN_PROGRESS = (
    Version.State.DRAFT,
    Version.State.SUBMITTED,
    Version.State.CHECKING,
    Version.State.CHANGES_REQUESTED,
    Version.State.IN_REVIEW,
)
CHANGES = (
    Version.State.SUBMITTED,
    Version.State.CHECKING,
    Version.State.CHANGES_REQUESTED,
    Version.State.IN_REVIEW,
    Version.State.APPROVED,
    Version.State.REJECTED,
    Version.State.PUBLISHING,
    Version.State.PUBLISHED,
    Version.State.WITHDRAWN,
)


def parameters_label(n: int | None) -> str:
    """1234567 → "1.2M"."""
    if n is None:
        return ""
    for scale, suffix in ((10**12, "T"), (10**9, "B"), (10**6, "M"), (10**3, "K")):
        if n >= scale:
            return f"{n / scale:.3g}{suffix}"
    return str(n)


def home(request: HttpRequest) -> HttpResponse:
    """Signed in: reviews waiting for me, my orgs' work in progress, what changed in the consortium.
    Anonymous: the published catalogue and how to sign in."""
    actor = Actor.of(request)
    context: dict[str, Any] = {}
    if actor.is_authenticated:
        queue = selectors.review_queue(actor=actor).prefetch_related(None)
        mine = selectors.version_list(actor=actor, mine=True, states=IN_PROGRESS)
        changes = selectors.version_list(actor=actor, states=CHANGES).order_by("-state_changed_at", "-id")
        context |= {
            "is_reviewer": actor.is_reviewer,
            "queue": list(queue.order_by("state_changed_at", "id")[:HOME_LIST]) if actor.is_reviewer else [],
            "queue_count": queue.count() if actor.is_reviewer else 0,
            "has_org": bool(actor.org_ids),
            "mine": mine.order_by("-state_changed_at", "-id")[:HOME_LIST],
            "mine_counts": _state_counts(mine),
            "changes": changes[:HOME_LIST],
        }
    else:
        published = selectors.version_list(actor=actor, state=Version.State.PUBLISHED)
        context["published"] = published.order_by("-state_changed_at", "-id")[:25]
        context["organizations"] = selectors.organization_list(actor=actor)
    return render(request, "registry/home.html", context)


def _state_counts(versions: QuerySet[Version]) -> list[tuple[str, int]]:
    counts = dict(versions.order_by().values_list("state").annotate(n=Count("id")))
    return [(Version.State(state).label, counts[state]) for state in IN_PROGRESS if counts.get(state)]


BROWSE_PAGE = 25
TEXT_MAX = 200


def _read_filters(params: QueryDict) -> tuple[Filters, list[str]]:
    """The filters asked for; a value that cannot match is dropped with a message naming it."""
    raw = {f.name: params.get("q" if f.name == "text" else f.name, "").strip() for f in fields(Filters)}
    problems = []
    allowed = {"kind": Kind.values, "state": Version.State.values, "size": list(SIZES)}
    for name, values in allowed.items():
        if raw[name] and raw[name] not in values:
            problems.append(f"Unknown {name} “{raw[name][:50]}”: choose one of {', '.join(values)}.")
            raw[name] = ""
    if raw["country"] and raw["country"].upper() not in countries:
        problems.append(f"Unknown country “{raw['country'][:50]}”: use a two-letter ISO code such as FR.")
        raw["country"] = ""
    if len(raw["text"]) > TEXT_MAX:
        problems.append(f"The search was cut to its first {TEXT_MAX} characters.")
        raw["text"] = raw["text"][:TEXT_MAX]
    return Filters(**raw), problems


def _options(name: str, counts: list[tuple[str, int]], chosen: str) -> list[tuple[str, str, int]]:
    """(value, label, count) for a facet's select, keeping a chosen value that matches nothing."""
    if chosen and chosen not in {value for value, _ in counts}:
        counts = [*counts, (chosen, 0)]
    labels = {
        "kind": lambda v: Kind(v).label,
        "state": lambda v: Version.State(v).label,
        "country": lambda v: countries.name(v) or v,
        "size": lambda v: SIZES[v][0],
    }
    label = labels.get(name, str)
    return [(value, label(value), n) for value, n in counts]


def browse(request: HttpRequest) -> HttpResponse:
    """Search and filter the artifacts the viewer may see: facets with counts (over what is visible,
    with every other filter kept), a sort, pages that keep the filters."""
    actor = Actor.of(request)
    filters, problems = _read_filters(request.GET)
    default_sort = "relevance" if filters.text else "newest"
    sort = request.GET.get("sort", "").strip() or default_sort
    if sort not in SORTS or (sort == "relevance" and not filters.text):
        if sort != "relevance":
            problems.append(f"Unknown sort “{sort[:50]}”: choose one of {', '.join(SORTS)}.")
        sort = default_sort
    chosen = filters.chosen
    matched = selectors.artifact_text_matches(actor=actor, text=filters.text) if filters.text else None
    found = selectors.artifact_list(actor=actor, sort=sort, matched=matched, **chosen)
    page = Paginator(found, BROWSE_PAGE).get_page(request.GET.get("page"))
    latest = selectors.artifact_latest_versions(actor=actor, artifacts=list(page.object_list))
    rows = [(a, latest.get(a.pk)) for a in page.object_list]
    rows_with_size = [(a, v, parameters_label(v.parameters) if v else "") for a, v in rows]
    facets = selectors.artifact_facets(actor=actor, filters=filters, matched=matched)
    filtered = any(chosen.values())
    kept = {("q" if k == "text" else k): v for k, v in chosen.items() if v}
    if sort != default_sort:
        kept["sort"] = sort
    context = {
        "page": page,
        "rows": rows_with_size,
        "q": filters.text,
        "chosen": chosen,
        "facets": {name: _options(name, counts, chosen[name]) for name, counts in facets.items()},
        "sorts": [(key, label) for key, label in SORTS.items() if key != "relevance" or filters.text],
        "sort": sort,
        "problems": problems,
        "filtered": filtered,
        "query": urlencode(kept),
        # Only asked when nothing matched the filters: is there anything at all to see?
        "anything": page.paginator.count > 0 or (filtered and selectors.artifact_list(actor=actor).exists()),
    }
    return render(request, "registry/browse.html", context)


def artifact_detail(request: HttpRequest, artifact_id: str) -> HttpResponse:
    """An artifact: its description and the versions the viewer may see, with the newest published
    one and its place on the Hub."""
    actor = Actor.of(request)
    artifact = selectors.artifact_list(actor=actor).filter(public_id=artifact_id).first()
    if artifact is None:
        raise Http404("no such artifact that you can see")
    versions = list(
        selectors.version_list(actor=actor, artifact=str(artifact.public_id)).order_by("-state_changed_at", "-id")
    )
    published = max(
        (v for v in versions if v.state == Version.State.PUBLISHED),
        key=lambda v: (v.state_changed_at, v.pk),
        default=None,
    )
    rows = [(v, parameters_label(v.parameters)) for v in versions]
    watching = notifications.is_watching(actor=actor, artifact=artifact)
    context = {"artifact": artifact, "rows": rows, "published": published, "watching": watching}
    return render(request, "registry/artifact.html", context)
