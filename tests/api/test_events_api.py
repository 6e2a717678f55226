"""GET /api/v1/events/: newest first, filtered by type, org and time; tokens need the read scope."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from registry.models import Event, Sharing, Version
from tests import factories
from tests.conftest import Member, bearer

pytestmark = pytest.mark.django_db
State = Version.State


def published(member: Member) -> Version:
    artifact = factories.ArtifactFactory(
        organization=member.organization, created_by=member.user, sharing=Sharing.CONSORTIUM
    )
    version = factories.VersionFactory(artifact=artifact, state=State.PUBLISHING)
    version.transition(State.PUBLISHED)
    return version


def listed(client: APIClient, **params: str) -> list[tuple[str, str]]:
    response = client.get("/api/v1/events/", params)
    assert response.status_code == 200, response.content
    return [(e["type"], e["version"]["id"]) for e in response.json()["results"]]


def test_the_list_is_newest_first_and_filters_by_type_org_and_since(
    alice: Member, charlie: Member, api_client: APIClient
) -> None:
    ours, theirs = published(alice), published(charlie)
    Event.record(type=Event.Type.PUBLICATION_FAILED, version=ours, payload={"reason": "the Hub said 503"})
    changed, failed = Event.Type.VERSION_STATE_CHANGED, Event.Type.PUBLICATION_FAILED
    a, b = str(ours.public_id), str(theirs.public_id)

    assert listed(api_client) == [(failed, a), (changed, b), (changed, a)]
    assert listed(api_client, type=changed) == [(changed, b), (changed, a)]
    assert listed(api_client, org="org-b") == [(changed, b)]
    assert listed(api_client, since=(timezone.now() + timedelta(minutes=1)).isoformat()) == []
    body = api_client.get("/api/v1/events/", {"type": failed}).json()["results"][0]
    assert body["organization"] == "org-a"
    assert body["payload"] == {"reason": "the Hub said 503"}
    assert body["version"]["artifact"] == f"org-a/{ours.artifact.slug}"


def test_bad_filters_are_refused_and_tokens_need_the_read_scope(alice: Member, api_client: APIClient) -> None:
    assert api_client.get("/api/v1/events/", {"type": "nope"}).status_code == 400
    assert api_client.get("/api/v1/events/", {"unknown": "1"}).status_code == 400
    _, secret = alice.token("push")
    assert bearer(api_client, secret).get("/api/v1/events/").status_code == 403
    _, secret = alice.token("read")
    assert bearer(api_client, secret).get("/api/v1/events/").status_code == 200
