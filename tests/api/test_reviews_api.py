"""Review through the API: the queue, decisions with their messages, approvals bound to what was
reviewed, overrides and policies."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from registry.actors import Actor
from registry.models import LineageEdge, Organization, ReviewPolicy, Version, VersionFile
from registry.permissions import Role
from registry.services.reviews import review_decide
from tests import factories
from tests.conftest import Member, bearer

pytestmark = pytest.mark.django_db
State = Version.State


@pytest.fixture
def rita(org_b: Organization) -> Member:
    return Member(factories.member(org_b, Role.CONTRIBUTOR, username="rita", is_reviewer=True), org_b)


@pytest.fixture
def awaiting(alice: Member) -> Version:
    artifact = factories.ArtifactFactory(organization=alice.organization, slug="tiny", created_by=alice.user)
    return factories.VersionFactory(artifact=artifact, state=State.IN_REVIEW, number="1.0.0")


def client_of(member: Member, *scopes: str) -> APIClient:
    return bearer(APIClient(), member.token(*scopes)[1])


def test_a_reviewer_token_finds_the_version_in_its_queue_and_approves_it(
    rita: Member, alice: Member, awaiting: Version
) -> None:
    reviewer = client_of(rita, "read", "review")
    queue = reviewer.get("/api/v1/review-queue/").json()["results"]
    assert [(v["id"], v["review"]) for v in queue] == [
        (str(awaiting.public_id), {"approvals": 0, "approvals_required": 1, "mine": None})
    ]
    response = reviewer.post(f"/api/v1/versions/{awaiting.public_id}/reviews/", {"decision": "approve"})
    assert response.status_code == 201, response.content
    assert (response.json()["organization"], response.json()["current"]) == ("org-b", True)
    assert reviewer.get(f"/api/v1/versions/{awaiting.public_id}/").status_code == 404, "no longer awaiting review"
    version = client_of(alice, "read").get(f"/api/v1/versions/{awaiting.public_id}/").json()
    assert version["state"] == "approved"
    assert version["publication"]["status"] == "waiting"
    assert version["publication"]["repo_id"] == f"{awaiting.artifact.organization.hub_namespace}/tiny"
    assert reviewer.get("/api/v1/review-queue/").json()["results"] == [], "decided: out of the queue"


def test_a_token_without_the_review_scope_is_not_a_reviewer(rita: Member, awaiting: Version) -> None:
    plain = client_of(rita, "read")
    assert plain.get("/api/v1/review-queue/").json()["results"] == []
    response = plain.post(f"/api/v1/versions/{awaiting.public_id}/reviews/", {"decision": "approve"})
    assert response.status_code == 404, "without the reviewer's view the version is not visible"


def test_self_review_is_refused_with_a_reason(alice: Member, awaiting: Version) -> None:
    alice.user.is_reviewer = True
    alice.user.save(update_fields=["is_reviewer"])
    response = client_of(alice, "read", "review").post(
        f"/api/v1/versions/{awaiting.public_id}/reviews/", {"decision": "approve"}
    )
    assert response.status_code == 403
    assert "never review a version of their own organization" in response.json()["error"]["message"]


def test_request_changes_needs_a_comment_and_moves_the_version(rita: Member, awaiting: Version) -> None:
    reviewer = client_of(rita, "read", "review")
    url = f"/api/v1/versions/{awaiting.public_id}/reviews/"
    missing = reviewer.post(url, {"decision": "request_changes"})
    assert missing.status_code == 400
    assert "comment" in missing.json()["error"]["fields"]
    assert reviewer.post(url, {"decision": "request_changes", "comment": "add the eval card"}).status_code == 201
    assert Version.objects.get(pk=awaiting.pk).state == State.CHANGES_REQUESTED


def test_an_approval_shows_as_no_longer_current_once_the_manifest_changed(
    rita: Member, awaiting: Version, steward: Member
) -> None:
    staff = APIClient()
    staff.force_login(steward.user)
    assert staff.put("/api/v1/review-policies/checkpoint/", {"approvals_required": 2}).status_code == 200
    reviewer = client_of(rita, "read", "review")
    reviewer.post(f"/api/v1/versions/{awaiting.public_id}/reviews/", {"decision": "approve"})
    VersionFile.objects.create(version=awaiting, path="late.bin", size=1, sha256="c" * 64)
    body = staff.get(f"/api/v1/versions/{awaiting.public_id}/reviews/").json()
    assert (body["approvals"], body["approvals_required"]) == (0, 2)
    assert [r["current"] for r in body["reviews"]] == [False]
    policies = {p["kind"]: p["approvals_required"] for p in staff.get("/api/v1/review-policies/").json()}
    assert (policies["checkpoint"], policies["dataset"]) == (2, 1)
    override = staff.post(f"/api/v1/versions/{awaiting.public_id}/override/", {"action": "approve"})
    assert override.status_code == 400, "an override needs a reason"
    override = staff.post(
        f"/api/v1/versions/{awaiting.public_id}/override/", {"action": "approve", "reason": "security fix"}
    )
    assert override.json()["state"] == "approved"


def test_the_review_queue_costs_the_same_queries_for_any_page(rita: Member, alice: Member) -> None:
    reviewer = client_of(rita, "read", "review")
    ReviewPolicy.objects.create(kind="checkpoint", approvals_required=2)  # one approval leaves it in the queue
    ravi = factories.member(factories.OrganizationFactory(slug="org-c"), Role.VIEWER, is_reviewer=True)

    def awaiting_review(n: int) -> None:
        for _ in range(n):
            artifact = factories.ArtifactFactory(organization=alice.organization, created_by=alice.user)
            version = factories.VersionFactory(artifact=artifact, state=State.IN_REVIEW)
            VersionFile.objects.create(version=version, path="w.bin", size=1, sha256="a" * 64)
            LineageEdge.objects.create(
                child=version,
                relation="derived_from",
                external_repo="meta-llama/Llama-3.1-8B",
                external_revision="0" * 40,
            )
            review_decide(actor=Actor.for_user(ravi), version=version, decision="approve")

    awaiting_review(2)
    with CaptureQueriesContext(connection) as few:
        rows = reviewer.get("/api/v1/review-queue/").json()["results"]
    assert [r["review"]["approvals"] for r in rows] == [1, 1]
    awaiting_review(6)
    with CaptureQueriesContext(connection) as many:
        assert len(reviewer.get("/api/v1/review-queue/").json()["results"]) == 8
    # (the first request also records the token's first use)
    assert len(many.captured_queries) <= len(few.captured_queries)
