"""Idempotency-Key on POST: replayed per actor, refused on reuse with another body, crash-safe."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from registry.models import IdempotencyRecord, Version
from registry.services import idempotency, versions
from tests.conftest import Member, bearer
from tests.factories import ArtifactFactory

pytestmark = pytest.mark.django_db


def _body(artifact, number: str = "1.0") -> dict:
    return {"artifact": str(artifact.public_id), "number": number, "license": "MIT"}


def test_same_actor_key_and_body_get_the_first_response_and_one_write(alice: Member, api_client) -> None:
    _, secret = alice.token("read", "push")
    client = bearer(api_client, secret)
    artifact = ArtifactFactory(organization=alice.organization)
    first = client.post("/api/v1/versions/", _body(artifact), HTTP_IDEMPOTENCY_KEY="push-1")
    again = client.post("/api/v1/versions/", _body(artifact), HTTP_IDEMPOTENCY_KEY="push-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Version.objects.count() == 1
    without_key = client.post("/api/v1/versions/", _body(artifact))
    assert without_key.status_code == 200  # the control: no key, so it runs (and finds the same version)
    assert "Idempotent-Replayed" not in without_key


def test_the_same_key_with_another_body_is_422(alice: Member, api_client) -> None:
    api_client.force_login(alice.user)
    artifact = ArtifactFactory(organization=alice.organization)
    assert api_client.post("/api/v1/versions/", _body(artifact), HTTP_IDEMPOTENCY_KEY="k").status_code == 201
    other = api_client.post("/api/v1/versions/", _body(artifact, "2.0"), HTTP_IDEMPOTENCY_KEY="k")
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert Version.objects.count() == 1


def test_another_actors_key_is_never_replayed(alice: Member, api_client) -> None:
    artifact = ArtifactFactory(organization=alice.organization)
    _, secret_one = alice.token("read", "push")
    _, secret_two = alice.token("read", "push")  # same person, another token: another actor
    one = bearer(APIClient(), secret_one).post("/api/v1/versions/", _body(artifact), HTTP_IDEMPOTENCY_KEY="shared")
    two = bearer(APIClient(), secret_two).post(
        "/api/v1/versions/", _body(artifact, "2.0"), HTTP_IDEMPOTENCY_KEY="shared"
    )
    assert one.status_code == two.status_code == 201
    assert one.json()["id"] != two.json()["id"]
    assert IdempotencyRecord.objects.filter(key="shared").count() == 2


def test_validation_errors_are_replayed_but_auth_failures_are_not(alice: Member, api_client) -> None:
    artifact = ArtifactFactory(organization=alice.organization)
    api_client.force_login(alice.user)
    bad = {**_body(artifact), "license": "nope"}
    first = api_client.post("/api/v1/versions/", bad, HTTP_IDEMPOTENCY_KEY="bad")
    assert first.status_code == 400
    assert api_client.post("/api/v1/versions/", bad, HTTP_IDEMPOTENCY_KEY="bad")["Idempotent-Replayed"] == "true"
    _, secret = alice.token("read")
    refused = bearer(APIClient(), secret).post("/api/v1/versions/", _body(artifact), HTTP_IDEMPOTENCY_KEY="scope")
    assert refused.status_code == 403
    assert not IdempotencyRecord.objects.filter(key="scope").exists()


def test_a_request_still_running_answers_409(alice: Member, api_client) -> None:
    api_client.force_login(alice.user)
    artifact = ArtifactFactory(organization=alice.organization)
    response = api_client.post("/api/v1/versions/", _body(artifact), HTTP_IDEMPOTENCY_KEY="slow")
    IdempotencyRecord.objects.filter(key="slow").update(status_code=None)  # as if the first were still running
    busy = api_client.post("/api/v1/versions/", _body(artifact), HTTP_IDEMPOTENCY_KEY="slow")
    assert response.status_code == 201
    assert busy.status_code == 409
    assert busy.json()["error"]["code"] == "idempotency_in_progress"
    # A first request that died without answering frees its key after a while.
    IdempotencyRecord.objects.filter(key="slow").update(created_at=timezone.now() - timedelta(hours=1))
    retried = api_client.post("/api/v1/versions/", _body(artifact), HTTP_IDEMPOTENCY_KEY="slow")
    assert retried.status_code == 200  # the freed key let it run: it found the version the first one made
    assert "Idempotent-Replayed" not in retried
    assert Version.objects.count() == 1  # the retry ran and met the existing version


def test_a_crash_half_way_writes_nothing_and_frees_the_key(alice: Member, api_client, monkeypatch) -> None:
    api_client.force_login(alice.user)
    api_client.raise_request_exception = True
    artifact = ArtifactFactory(organization=alice.organization)
    real_bulk_create = versions.LineageEdge.objects.bulk_create

    def crash(*args: object, **kwargs: object) -> None:
        raise ConnectionError("worker died between the version row and its lineage")

    monkeypatch.setattr(versions.LineageEdge.objects, "bulk_create", crash)
    with pytest.raises(ConnectionError):
        api_client.post("/api/v1/versions/", _body(artifact), HTTP_IDEMPOTENCY_KEY="crash")
    assert Version.objects.count() == 0  # the transaction rolled back
    assert not IdempotencyRecord.objects.filter(key="crash").exists()

    monkeypatch.setattr(versions.LineageEdge.objects, "bulk_create", real_bulk_create)
    retried = api_client.post("/api/v1/versions/", _body(artifact), HTTP_IDEMPOTENCY_KEY="crash")
    assert retried.status_code == 201
    assert api_client.post("/api/v1/versions/", _body(artifact), HTTP_IDEMPOTENCY_KEY="crash").json() == retried.json()
    assert Version.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_requests_with_one_key_write_once(alice: Member) -> None:
    artifact = ArtifactFactory(organization=alice.organization)
    _, secret = alice.token("read", "push")
    barrier = threading.Barrier(4)
    statuses: list[int] = []

    def push() -> None:
        try:
            client = bearer(APIClient(), secret)
            barrier.wait(timeout=10)
            statuses.append(client.post("/api/v1/versions/", _body(artifact), HTTP_IDEMPOTENCY_KEY="race").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=push) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(statuses) == 4
    assert statuses.count(201) >= 1
    assert set(statuses) <= {201, 409}  # replays of the first, or "still running"
    assert Version.objects.count() == 1


def test_bad_keys_are_refused(alice: Member, api_client) -> None:
    api_client.force_login(alice.user)
    response = api_client.post("/api/v1/artifacts/", {}, HTTP_IDEMPOTENCY_KEY="x" * 300)
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"Idempotency-Key": ["1-255 ASCII characters"]}


def test_purge_forgets_records_past_the_ttl_only(alice: Member, settings) -> None:
    old = IdempotencyRecord.objects.create(actor_key="user:1", key="old", request_digest="0" * 64, status_code=201)
    IdempotencyRecord.objects.filter(pk=old.pk).update(created_at=timezone.now() - settings.IDEMPOTENCY_TTL * 2)
    IdempotencyRecord.objects.create(actor_key="user:1", key="new", request_digest="0" * 64, status_code=201)
    assert idempotency.idempotency_purge() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]
    assert idempotency.idempotency_purge() == 0
