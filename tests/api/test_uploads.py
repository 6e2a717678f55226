"""Pushing bytes through the API against the real SeaweedFS: declare, upload parts straight to S3,
complete (the server hashes the bytes), finalize; dedup, resume, mismatch, traversal, isolation."""

from __future__ import annotations

import hashlib
import os

import httpx
import pytest
from botocore.exceptions import ClientError
from django.conf import settings

from registry import storage
from registry.models import AuditEvent, Blob, Upload, Version
from tests.conftest import Member, bearer
from tests.factories import ArtifactFactory, VersionFactory

pytestmark = pytest.mark.django_db


def _file(path: str, data: bytes) -> dict:
    return {"path": path, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _send(client, upload_id: str, data: bytes, part_size: int, only: set[int] | None = None) -> None:
    parts = client.post(f"/api/v1/uploads/{upload_id}/parts/", {}).json()["parts"]
    for part in parts:
        if only is None or part["number"] in only:
            start = (part["number"] - 1) * part_size
            assert httpx.put(part["url"], content=data[start : start + part_size], timeout=60).status_code == 200


@pytest.fixture
def pusher(alice: Member, api_client, s3_bucket: str):
    _, secret = alice.token("read", "push")
    return bearer(api_client, secret)


@pytest.fixture
def draft(alice: Member) -> Version:
    return VersionFactory(artifact=ArtifactFactory(organization=alice.organization))


def test_a_push_declares_uploads_completes_and_finalizes(pusher, draft: Version) -> None:
    weights, config = os.urandom(300_000), b'{"model_type": "llama"}'
    files = [_file("model.safetensors", weights), _file("config.json", config)]
    declared = pusher.post(f"/api/v1/versions/{draft.public_id}/files/", {"files": files}).json()
    assert [(f["path"], f["status"]) for f in declared] == [
        ("config.json", "missing"),
        ("model.safetensors", "missing"),
    ]
    for entry, data in zip(declared, (config, weights), strict=True):
        _send(pusher, entry["upload"]["id"], data, entry["upload"]["part_size"])
        done = pusher.post(f"/api/v1/uploads/{entry['upload']['id']}/complete/")
        assert done.json() == {"sha256": entry["sha256"], "size": entry["size"], "status": "verified"}
    listed = pusher.get(f"/api/v1/versions/{draft.public_id}/files/").json()
    assert {f["status"] for f in listed} == {"verified"}
    finalized = pusher.post(f"/api/v1/versions/{draft.public_id}/finalize/").json()
    assert finalized["state"] == "submitted"
    assert len(finalized["manifest_sha256"]) == 64
    stored = storage.object_digest(
        storage.safe_key(org_id=draft.artifact.organization_id, sha256=hashlib.sha256(weights).hexdigest())
    )
    assert stored == (len(weights), hashlib.sha256(weights).hexdigest())
    rerun = pusher.post(f"/api/v1/versions/{draft.public_id}/files/", {"files": files})
    assert rerun.status_code == 200  # the same push again: nothing to do
    assert {f["status"] for f in rerun.json()} == {"verified"}
    changed = [_file("model.safetensors", b"other"), _file("config.json", config), _file("extra.txt", b"x")]
    refused = pusher.post(f"/api/v1/versions/{draft.public_id}/files/", {"files": changed})
    assert refused.status_code == 409
    assert refused.json()["error"]["message"].endswith(
        f"a fix is a new version; differs in model.safetensors (other bytes), extra.txt (not in {draft.number})"
    )


def test_bytes_the_org_already_stores_are_linked_without_any_transfer(pusher, draft: Version, alice: Member) -> None:
    data = os.urandom(1000)
    entry = pusher.post(f"/api/v1/versions/{draft.public_id}/files/", {"files": [_file("a.bin", data)]}).json()[0]
    _send(pusher, entry["upload"]["id"], data, entry["upload"]["part_size"])
    pusher.post(f"/api/v1/uploads/{entry['upload']['id']}/complete/")
    second = VersionFactory(artifact=draft.artifact)
    declared = pusher.post(f"/api/v1/versions/{second.public_id}/files/", {"files": [_file("copy.bin", data)]}).json()
    url = declared[0].pop("download_url")
    assert declared == [{**_file("copy.bin", data), "status": "verified", "upload": None}]
    assert Upload.objects.count() == 0
    assert httpx.get(url, timeout=30).content == data  # the bytes, straight from S3


def test_a_resume_gets_urls_for_the_missing_parts_only(pusher, draft: Version) -> None:
    data = os.urandom(storage.MIN_PART + 1000)  # two parts
    entry = pusher.post(f"/api/v1/versions/{draft.public_id}/files/", {"files": [_file("big.bin", data)]}).json()[0]
    upload = entry["upload"]
    assert (upload["part_size"], upload["part_count"]) == (storage.MIN_PART, 2)
    _send(pusher, upload["id"], data, upload["part_size"], only={1})  # the client died after part 1
    early = pusher.post(f"/api/v1/uploads/{upload['id']}/complete/")
    assert early.status_code == 409
    assert "parts missing: 2 (of 2)" in early.json()["error"]["message"]
    resumed = pusher.post(f"/api/v1/versions/{draft.public_id}/files/", {"files": [_file("big.bin", data)]}).json()
    assert resumed[0]["upload"]["id"] == upload["id"]  # the same upload, not a new one
    missing = pusher.post(f"/api/v1/uploads/{upload['id']}/parts/", {}).json()["parts"]
    assert [p["number"] for p in missing] == [2]
    _send(pusher, upload["id"], data, upload["part_size"])
    assert pusher.post(f"/api/v1/uploads/{upload['id']}/complete/").status_code == 200


def test_bytes_that_do_not_match_the_declared_digest_stay_unverified(pusher, draft: Version) -> None:
    claimed = _file("model.bin", b"the declared bytes")
    entry = pusher.post(f"/api/v1/versions/{draft.public_id}/files/", {"files": [claimed]}).json()[0]
    _send(pusher, entry["upload"]["id"], b"the DECLARED bytes", entry["upload"]["part_size"])  # same length
    response = pusher.post(f"/api/v1/uploads/{entry['upload']['id']}/complete/")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "digest_mismatch"
    assert Blob.objects.count() == 0
    key = storage.safe_key(org_id=draft.artifact.organization_id, sha256=claimed["sha256"])
    with pytest.raises(ClientError, match="404"):  # the wrong bytes are gone from the digest's key
        storage.s3().head_object(Bucket=settings.S3_BUCKET, Key=key)
    refused = pusher.post(f"/api/v1/versions/{draft.public_id}/finalize/")
    assert refused.status_code == 400
    assert refused.json()["error"]["fields"] == {"files": ["model.bin: upload not completed and verified"]}


@pytest.mark.parametrize("path", ["../x", "/etc/passwd", "a\\b", "%2e%2e/x", "x\x00y", "\uff0e\uff0e/x", "a//b"])
def test_the_traversal_corpus_is_refused_on_file_paths_and_nothing_is_written(
    pusher, draft: Version, path: str
) -> None:
    audit = AuditEvent.objects.count()
    response = pusher.post(f"/api/v1/versions/{draft.public_id}/files/", {"files": [_file(path, b"x")]})
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["files[0].path"]
    assert draft.files.count() == 0
    assert (Upload.objects.count(), AuditEvent.objects.count()) == (0, audit)


def test_duplicate_and_case_colliding_paths_are_refused(pusher, draft: Version) -> None:
    files = [_file("a.txt", b"1"), _file("A.txt", b"2"), _file("a.txt", b"3")]
    errors = pusher.post(f"/api/v1/versions/{draft.public_id}/files/", {"files": files}).json()["error"]["fields"]
    assert errors == {"files[1].path": ["differs from 'a.txt' only in case"], "files[2].path": ["repeats 'a.txt'"]}


def test_another_orgs_upload_is_404_for_parts_and_complete(pusher, draft: Version, charlie: Member, api_client) -> None:
    entry = pusher.post(f"/api/v1/versions/{draft.public_id}/files/", {"files": [_file("a", b"abc")]}).json()[0]
    _, secret = charlie.token("read", "push")
    other = bearer(type(api_client)(), secret)
    assert other.post(f"/api/v1/uploads/{entry['upload']['id']}/parts/", {}).status_code == 404
    assert other.post(f"/api/v1/uploads/{entry['upload']['id']}/complete/").status_code == 404
    assert other.post(f"/api/v1/versions/{draft.public_id}/files/", {"files": [_file("b", b"x")]}).status_code == 404


def test_a_push_beyond_the_orgs_quota_is_413_and_writes_nothing(pusher, draft: Version, alice: Member) -> None:
    alice.organization.storage_quota_bytes = 1000
    alice.organization.save()
    first = os.urandom(600)
    assert pusher.post(f"/api/v1/versions/{draft.public_id}/files/", {"files": [_file("a", first)]}).status_code == 200
    second = VersionFactory(artifact=draft.artifact)
    over = pusher.post(f"/api/v1/versions/{second.public_id}/files/", {"files": [_file("b", os.urandom(600))]})
    assert over.status_code == 413
    assert over.json()["error"]["code"] == "quota_exceeded"
    assert "'org-a' exceeded" in over.json()["error"]["message"]
    assert second.files.count() == 0
    # The same bytes again need no new storage, so they fit.
    same = pusher.post(f"/api/v1/versions/{second.public_id}/files/", {"files": [_file("b", first)]})
    assert same.status_code == 200


def test_completing_a_late_upload_of_stored_bytes_never_overwrites_them(pusher, draft: Version) -> None:
    data = os.urandom(500)
    entry = pusher.post(f"/api/v1/versions/{draft.public_id}/files/", {"files": [_file("a", data)]}).json()[0]
    _send(pusher, entry["upload"]["id"], data, entry["upload"]["part_size"])
    pusher.post(f"/api/v1/uploads/{entry['upload']['id']}/complete/")
    # A second upload of the same digest that raced past the check, now sending other bytes.
    key = storage.safe_key(org_id=draft.artifact.organization_id, sha256=entry["sha256"])
    late = Upload.objects.create(
        organization=draft.artifact.organization,
        sha256=entry["sha256"],
        size=500,
        part_size=storage.MIN_PART,
        s3_upload_id=storage.multipart_start(key),
    )
    url = storage.part_urls(key, late.s3_upload_id, {1: 500}, expires=60)[1]
    assert httpx.put(url, content=os.urandom(500), timeout=60).status_code == 200
    done = pusher.post(f"/api/v1/uploads/{late.public_id}/complete/")
    assert done.json()["status"] == "verified"
    assert storage.object_digest(key) == (500, entry["sha256"])  # the verified bytes stayed


def test_one_digest_with_two_sizes_in_a_manifest_is_refused(pusher, draft: Version) -> None:
    files = [_file("a", b"abc"), {**_file("b", b"abc"), "size": 4}]
    errors = pusher.post(f"/api/v1/versions/{draft.public_id}/files/", {"files": files}).json()["error"]["fields"]
    assert errors == {"files[1].size": ["another file has the same sha256 with 3 bytes"]}
