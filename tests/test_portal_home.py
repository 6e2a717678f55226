"""The home page: for signed-in people, reviews waiting for them, their orgs' work and what changed in
the consortium; for the public, the published catalogue and how to sign in."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from registry.models import Organization, Review, Version
from registry.permissions import Role
from tests.conftest import Member, portal_client
from tests.factories import ArtifactFactory, OrganizationFactory, VersionFactory, member

pytestmark = pytest.mark.django_db


def section(html: str, heading_id: str) -> str:
    found = re.search(rf'<section aria-labelledby="{heading_id}".*?</section>', html, re.S)
    assert found, f"no section {heading_id}"
    return found[0]


def version(org: Organization, slug: str, state: str, sharing: str = "consortium", **fields: Any) -> Version:
    artifact = ArtifactFactory(organization=org, slug=slug, sharing=sharing)
    return VersionFactory(artifact=artifact, state=state, **fields)


@pytest.fixture
def rita(org_b: Organization) -> Member:
    """A reviewer of org B."""
    return Member(member(org_b, Role.VIEWER, username="rita", is_reviewer=True), org_b)


def test_the_public_sees_the_published_catalogue_and_how_to_sign_in(alice: Member, charlie: Member) -> None:
    version(alice.organization, "released", "published")
    version(alice.organization, "in-review", "in_review")
    version(charlie.organization, "b-draft", "draft")
    page = Client().get("/").content.decode()
    published = section(page, "published-heading")
    assert "org-a/released" in published
    assert "in-review" not in page
    assert "b-draft" not in page
    assert 'href="/accounts/login/">Sign in</a> to see your organization' in page
    assert "Waiting for my review" not in page


def test_nothing_published_yet_says_so(alice: Member) -> None:
    version(alice.organization, "draft", "draft")
    assert "Nothing has been published yet" in Client().get("/").content.decode()


def test_a_reviewer_sees_what_waits_for_their_orgs_review(alice: Member, rita: Member) -> None:
    waiting = version(alice.organization, "to-review", "in_review", sharing="org")
    decided = version(alice.organization, "decided", "in_review")
    Review.objects.create(
        version=decided, reviewer=rita.user, organization=rita.organization, decision="approve", comment=""
    )
    version(rita.organization, "own-work", "in_review")
    queue = section(portal_client(rita).get("/").content.decode(), "queue-heading")
    assert f"/versions/{waiting.public_id}/" in queue
    assert "decided" not in queue, "already decided by me"
    assert "own-work" not in queue, "never my own org's"
    assert "(1)" in queue


def test_someone_who_is_not_a_reviewer_has_no_review_section(alice: Member) -> None:
    assert "Waiting for my review" not in portal_client(alice).get("/").content.decode()


def test_my_orgs_work_in_progress(alice: Member, charlie: Member) -> None:
    for slug, state in (("a-draft", "draft"), ("a-fix", "changes_requested"), ("a-review", "in_review")):
        version(alice.organization, slug, state)
    version(alice.organization, "a-done", "published")
    version(charlie.organization, "b-review", "in_review")
    mine = section(portal_client(alice).get("/").content.decode(), "mine-heading")
    assert all(slug in mine for slug in ("a-draft", "a-fix", "a-review"))
    assert "a-done" not in mine
    assert "b-review" not in mine
    assert "Draft: 1" in mine
    assert "Changes Requested: 1" in mine


def test_my_orgs_work_says_how_to_start_when_empty(alice: Member) -> None:
    mine = section(portal_client(alice).get("/").content.decode(), "mine-heading")
    assert "consortium push" in mine


def test_what_changed_lists_what_the_viewer_may_see_with_who_and_when(alice: Member, charlie: Member) -> None:
    shared = version(charlie.organization, "b-shared", "submitted")
    version(charlie.organization, "b-private", "in_review", sharing="org")
    version(charlie.organization, "b-draft", "draft")
    version(charlie.organization, "b-public", "published", sharing="org")
    changes = section(portal_client(alice).get("/").content.decode(), "changes-heading")
    assert f"/versions/{shared.public_id}/" in changes
    assert "b-public" in changes
    assert "b-private" not in changes
    assert "b-draft" not in changes
    assert shared.created_by.username in changes
    assert "ago</time>" in changes


def _home_queries(client: Client) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get("/").status_code == 200
    return len(ctx.captured_queries)


def test_home_queries_do_not_grow_with_the_versions_shown(
    alice: Member, rita: Member, django_assert_max_num_queries: Any
) -> None:
    def add(n: int) -> None:
        for _ in range(n):
            org = OrganizationFactory()
            version(org, f"r-{org.slug}", "in_review")
            version(org, f"p-{org.slug}", "published")
            version(alice.organization, f"a-{org.slug}", "draft")
            version(rita.organization, f"b-{org.slug}", "changes_requested")

    clients = {"reviewer": portal_client(rita), "member": portal_client(alice), "anonymous": Client()}
    add(3)
    few = {name: _home_queries(client) for name, client in clients.items()}
    add(27)
    many = {name: _home_queries(client) for name, client in clients.items()}
    assert few == many
    page = clients["reviewer"].get("/").content.decode()
    assert page.count('href="/versions/') == 30, "three full lists of ten"
    with django_assert_max_num_queries(12):
        clients["reviewer"].get("/")
