"""Every URL route has an explicit access policy and a row in the isolation matrix (deny by default).

MLflow's authorization CVEs were new routes nobody gave a permission check; this fails first."""

from __future__ import annotations

from collections.abc import Iterator

from django.urls import URLPattern, URLResolver, get_resolver

from registry.api.permissions import ActionPolicy
from tests.api.test_isolation_matrix import ROUTES_COVERED

# Routes outside the DRF API, each with the policy that guards it and the test that checks it.
NON_API_ROUTES = {
    "healthz": "public: component status only (tests/test_health.py)",
    "api-root": "public: links to the collections and docs (tests/api/test_api.py)",
    "home": "public page listing only what visible_to allows (tests/test_portal.py)",
    "login": "Django auth login with CSRF (tests/test_portal.py)",
    "logout": "POST-only Django logout (tests/test_portal.py)",
    "schema": "public OpenAPI document (tests/api/test_api.py)",
    "docs": "public API docs page (tests/api/test_api.py)",
    "redoc": "public API docs page (tests/api/test_api.py)",
    "portal-review-queue": "signed-in page over selectors.review_queue (tests/test_portal.py)",
    "portal-version-review": "signed-in POST to services.reviews.review_decide (tests/test_portal.py)",
    "portal-version-override": "signed-in POST to services.reviews.version_override (tests/test_portal.py)",
    "portal-submit": "signed-in page; creates through services.drafts.draft_create (tests/test_portal_submit.py)",
    "portal-version-upload": "signed-in page over selectors.version_lookup, 403 without push (test_portal_submit.py)",
    "portal-version-readme": "signed-in download over selectors.version_lookup (tests/test_portal_submit.py)",
    "portal-version-delete": "signed-in POST to services.versions.version_delete (tests/test_portal_submit.py)",
    "ledger": "signed-in GET over jobs.ledger.ledger, only visible versions counted (tests/api/test_ledger_api.py)",
    "ledger-csv": "signed-in GET, the same ledger as CSV (tests/api/test_ledger_api.py)",
    "acknowledgement-list": "signed-in list of visible ones; POST needs push in the org (tests/api/test_ledger_api.py)",
    "portal-ledger": "signed-in page over jobs.ledger.ledger (tests/test_portal_ledger.py)",
    "portal-prior-art": "signed-in search over prior_art(actor): visible recipes only (tests/test_portal_prior_art.py)",
    "portal-version-prior-art-acknowledge": "signed-in POST over visible_matches, 403 without push "
    "(tests/test_portal_prior_art.py)",
    "notification-list": "the caller's own notifications whose event it sees (tests/api/test_notifications_api.py)",
    "notification-read": "POST marks the caller's own notifications read (tests/api/test_notifications_api.py)",
    "notification-preferences": "GET/PUT the caller's own preferences (tests/api/test_notifications_api.py)",
    "watch-list": "the caller's watches of visible artifacts; POST needs a visible one (test_notifications_api.py)",
    "watch-detail": "DELETE the caller's own watch (tests/api/test_notifications_api.py)",
    "portal-inbox": "signed-in page over the person's own notifications (tests/test_portal_inbox.py)",
    "portal-inbox-count": "the person's unread count, empty when signed out (tests/test_portal_inbox.py)",
    "portal-inbox-read": "signed-in POST marking the person's own notifications read (tests/test_portal_inbox.py)",
    "portal-inbox-open": "signed-in: the person's own notification, read, then its version (test_portal_inbox.py)",
    "portal-inbox-preferences": "signed-in page and POST of the person's own preferences (tests/test_portal_inbox.py)",
    "portal-artifact-watch": "signed-in POST over a visible artifact, 404 otherwise (tests/test_portal_inbox.py)",
}


def _walk(patterns: list, namespace: str = "") -> Iterator[tuple[str, URLPattern]]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            if entry.namespace == "admin":
                continue  # Django admin: staff-only by its own login; not part of the product's API surface
            yield from _walk(entry.url_patterns, entry.namespace or namespace)
        else:
            yield entry.name or "", entry


def routes() -> list[tuple[str, URLPattern]]:
    return list(_walk(get_resolver().url_patterns))


def test_every_api_view_declares_a_policy_for_every_action() -> None:
    problems = []
    for name, pattern in routes():
        view = getattr(pattern.callback, "cls", None)
        if view is None or name in NON_API_ROUTES:
            continue
        if ActionPolicy not in view.permission_classes:
            problems.append(f"{name}: permission_classes lacks ActionPolicy")
        handlers = {m: m for m in ("get", "post", "put", "patch", "delete") if hasattr(view, m)}
        actions = getattr(pattern.callback, "actions", None) or handlers  # a plain APIView: its handlers
        missing = sorted(set(actions.values()) - set(getattr(view, "action_policy", {})))
        if missing:
            problems.append(f"{name}: no policy for actions {missing}")
    assert problems == []


def test_every_route_is_in_the_matrix_or_listed_with_its_policy() -> None:
    names = {name for name, _ in routes()}
    unnamed = [str(p.pattern) for name, p in routes() if not name]
    assert unnamed == [], "every route needs a name so the census can track it"
    assert names - ROUTES_COVERED - set(NON_API_ROUTES) == set()
    assert ROUTES_COVERED - names == set(), "the matrix names routes that no longer exist"
