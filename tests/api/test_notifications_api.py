"""The notifications API: the caller's own notifications (newest first, `?unread=true`), marking them
read, preferences, and watches (an invisible artifact is a 404)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from registry.models import Notification, Organization, Sharing, Version, Watch
from registry.permissions import Role
from tests import factories
from tests.conftest import Member, bearer

pytestmark = pytest.mark.django_db
State = Version.State


def in_review(member: Member, slug: str = "dense", sharing: str = Sharing.ORG) -> Version:
    artifact = factories.ArtifactFactory(
        organization=member.organization, created_by=member.user, slug=slug, sharing=sharing
    )
    version = factories.VersionFactory(artifact=artifact, number="3", state=State.CHECKING)
    version.transition(State.IN_REVIEW)
    return version


@pytest.fixture
def rita(org_b: Organization) -> Member:
    return Member(factories.member(org_b, Role.VIEWER, username="rita", is_reviewer=True), org_b)


def test_the_list_is_the_callers_own_newest_first_and_filters_unread(
    alice: Member, bob: Member, rita: Member, api_client: APIClient
) -> None:
    first, second = in_review(alice, "first"), in_review(alice, "second")
    api_client.force_authenticate(alice.user)
    body = api_client.get("/api/v1/notifications/").json()
    assert [n["event"]["version"]["id"] for n in body["results"]] == [str(second.public_id), str(first.public_id)]
    newest = body["results"][0]
    assert newest["reason"] == "org_change"
    assert newest["summary"] == "org-a/second@3 moved from checking to in_review"
    assert (newest["read"], newest["read_at"]) == (False, None)
    assert newest["event"]["type"] == "version.state_changed"
    assert body["next"] is None
    assert set(Notification.objects.filter(user=bob.user).values_list("pk", flat=True)).isdisjoint(
        n["id"] for n in body["results"]
    ), "bob's notifications are his own"

    Notification.objects.filter(pk=newest["id"]).update(read_at="2030-01-01T00:00:00Z")
    unread = api_client.get("/api/v1/notifications/", {"unread": "true"}).json()["results"]
    assert [n["id"] for n in unread] == [body["results"][1]["id"]]
    assert api_client.get("/api/v1/notifications/", {"unread": "maybe"}).status_code == 400


def test_a_token_reads_its_makers_notifications_with_the_read_scope(
    alice: Member, rita: Member, api_client: APIClient
) -> None:
    in_review(alice)
    _, secret = rita.token("review")
    assert bearer(api_client, secret).get("/api/v1/notifications/").status_code == 403
    _, secret = rita.token("read")
    listed = bearer(api_client, secret).get("/api/v1/notifications/").json()["results"]
    assert listed == [], "without the review scope the token does not see work in review, nor hears of it"
    _, secret = rita.token("read", "review")
    (notification,) = bearer(api_client, secret).get("/api/v1/notifications/").json()["results"]
    assert (notification["reason"], notification["summary"]) == (
        "review_waiting",
        "org-a/dense@3 moved from checking to in_review",
    )


def test_anonymous_callers_have_no_notifications(api_client: APIClient) -> None:
    for path in ("/api/v1/notifications/", "/api/v1/notification-preferences/", "/api/v1/watches/"):
        assert api_client.get(path).status_code == 401, path


def test_marking_read_by_ids_or_all(alice: Member, bob: Member, api_client: APIClient) -> None:
    in_review(alice, "first")
    in_review(alice, "second")
    mine = list(Notification.objects.filter(user=alice.user).order_by("id").values_list("pk", flat=True))
    bobs = Notification.objects.filter(user=bob.user).values_list("pk", flat=True).first()
    api_client.force_authenticate(alice.user)

    refused = api_client.post("/api/v1/notifications/read/", {"ids": [mine[0], bobs]}, format="json")
    assert refused.status_code == 404
    assert refused.json()["error"]["fields"] == {"ids": [f"no notification of yours with id {bobs}"]}
    assert api_client.post("/api/v1/notifications/read/", {}, format="json").status_code == 400
    assert api_client.post("/api/v1/notifications/read/", {"ids": [1], "all": True}, format="json").status_code == 400

    one = api_client.post("/api/v1/notifications/read/", {"ids": [mine[0]]}, format="json")
    assert (one.status_code, one.json()) == (200, {"marked": 1, "unread": 1})
    rest = api_client.post("/api/v1/notifications/read/", {"all": True}, format="json")
    assert rest.json() == {"marked": 1, "unread": 0}
    assert Notification.objects.filter(user=bob.user, read_at__isnull=True).count() == 2


def test_preferences_round_trip(alice: Member, api_client: APIClient) -> None:
    api_client.force_authenticate(alice.user)
    everything = {"reviews_waiting": True, "org_changes": True, "errors": True, "watched_publications": True}
    assert api_client.get("/api/v1/notification-preferences/").json() == everything | {"email": True}
    changed = api_client.put("/api/v1/notification-preferences/", {"email": False, "errors": False}, format="json")
    assert changed.status_code == 200
    assert changed.json() == everything | {"errors": False, "email": False}
    assert api_client.get("/api/v1/notification-preferences/").json() == changed.json()
    typo = api_client.put("/api/v1/notification-preferences/", {"emails": False}, format="json")
    assert typo.status_code == 400


def test_watching_a_visible_artifact_and_never_an_invisible_one(
    alice: Member, charlie: Member, api_client: APIClient
) -> None:
    private = in_review(alice, "private")
    shared = in_review(alice, "shared", sharing=Sharing.CONSORTIUM)
    api_client.force_authenticate(charlie.user)

    hidden = api_client.post("/api/v1/watches/", {"artifact": str(private.artifact.public_id)}, format="json")
    assert hidden.status_code == 404
    made = api_client.post("/api/v1/watches/", {"artifact": str(shared.artifact.public_id)}, format="json")
    assert made.status_code == 201
    assert made.json()["artifact"]["slug"] == "shared"
    again = api_client.post("/api/v1/watches/", {"artifact": str(shared.artifact.public_id)}, format="json")
    assert again.status_code == 200
    listed = api_client.get("/api/v1/watches/").json()["results"]
    assert [w["artifact"]["id"] for w in listed] == [str(shared.artifact.public_id)]

    Watch.objects.create(user=charlie.user, artifact=private.artifact)  # from before it went out of sight
    assert len(api_client.get("/api/v1/watches/").json()["results"]) == 1, "an invisible artifact is never listed"
    assert api_client.delete(f"/api/v1/watches/{private.artifact.public_id}/").status_code == 404
    assert api_client.delete(f"/api/v1/watches/{shared.artifact.public_id}/").status_code == 204
    assert api_client.delete(f"/api/v1/watches/{shared.artifact.public_id}/").status_code == 404
    assert api_client.get("/api/v1/watches/").json()["results"] == []
