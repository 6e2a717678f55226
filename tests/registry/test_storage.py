"""Multipart uploads through presigned URLs against the real SeaweedFS: resume, complete, verify."""

import hashlib
import os
import time

import httpx
import pytest

from registry import storage
from registry.storage import MAX_OBJECT, MAX_PARTS, MIN_PART, MiB

KEY = storage.safe_key(org_id=1, sha256="ab" * 32)


@pytest.mark.parametrize(
    ("size", "part_size"),
    [
        (0, MIN_PART),
        (1, MIN_PART),
        (MIN_PART * MAX_PARTS, MIN_PART),
        (MIN_PART * MAX_PARTS + 1, 9 * MiB),
        (400 * 1024**3, 41 * MiB),
        (MAX_OBJECT, 525 * MiB),
    ],
)
def test_parts_grow_with_the_file_so_no_upload_needs_more_than_10000(size: int, part_size: int) -> None:
    assert storage.part_size_for(size) == part_size
    assert storage.part_count(size, part_size) <= MAX_PARTS


def test_files_beyond_s3s_object_limit_are_refused() -> None:
    with pytest.raises(ValueError, match="5497558138880"):
        storage.part_size_for(MAX_OBJECT + 1)


def test_a_resumed_multipart_upload_sends_only_the_missing_parts_and_verifies(s3_bucket: str) -> None:
    data = os.urandom(5 * MiB * 2 + 123)  # S3's 5 MiB minimum for all parts but the last
    parts = [data[: 5 * MiB], data[5 * MiB : 10 * MiB], data[10 * MiB :]]
    upload_id = storage.multipart_start(KEY)
    urls = storage.part_urls(KEY, upload_id, {n: len(parts[n - 1]) for n in (1, 2, 3)}, expires=300)
    for n in (1, 3):  # a client that died after two parts, out of order
        assert httpx.put(urls[n], content=parts[n - 1], timeout=60).status_code == 200
    held = storage.parts_uploaded(KEY, upload_id)
    assert sorted(held) == [1, 3]
    missing = sorted({1, 2, 3} - set(held))
    assert missing == [2]
    retry = storage.part_urls(KEY, upload_id, {2: len(parts[1])}, expires=300)
    response = httpx.put(retry[2], content=parts[1], timeout=60)
    assert response.status_code == 200
    storage.multipart_complete(KEY, upload_id, storage.parts_uploaded(KEY, upload_id))
    assert storage.object_digest(KEY) == (len(data), hashlib.sha256(data).hexdigest())
    # A part URL used after completion writes nothing.
    assert httpx.put(urls[1], content=b"late", timeout=60).status_code >= 400
    assert storage.object_digest(KEY)[1] == hashlib.sha256(data).hexdigest()


def test_a_presigned_url_is_bound_to_its_key(s3_bucket: str) -> None:
    upload_id = storage.multipart_start(KEY)
    url = storage.part_urls(KEY, upload_id, {1: 1}, expires=300)[1]
    other = url.replace("ab" * 32, "cd" * 32)
    assert httpx.put(other, content=b"x", timeout=60).status_code == 403
    storage.multipart_abort(KEY, upload_id)


def test_an_expired_url_is_refused(s3_bucket: str) -> None:
    upload_id = storage.multipart_start(KEY)
    url = storage.part_urls(KEY, upload_id, {1: 1}, expires=1)[1]
    time.sleep(2.1)
    assert httpx.put(url, content=b"x", timeout=60).status_code == 403
    storage.multipart_abort(KEY, upload_id)


def test_download_urls_serve_the_bytes_under_the_files_name(s3_bucket: str) -> None:
    storage.s3().put_object(Bucket=s3_bucket, Key=KEY, Body=b"weights")
    response = httpx.get(storage.download_url(KEY, filename="shards/model.safetensors", expires=60))
    assert response.status_code == 200
    assert response.content == b"weights"
    assert "model.safetensors" in response.headers.get("content-disposition", "")


def test_presigned_urls_are_signed_for_the_public_endpoint(settings) -> None:
    settings.S3_PUBLIC_ENDPOINT_URL = "https://s3.registry.example.org"
    storage.s3_public.cache_clear()
    try:
        url = storage.part_urls(KEY, "upload-id", {1: 10}, expires=60)[1]
        assert url.startswith(f"https://s3.registry.example.org/{settings.S3_BUCKET}/orgs/1/blobs/sha256/")
        assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in url  # SigV4
    finally:
        storage.s3_public.cache_clear()


def test_a_part_url_accepts_only_the_signed_length(s3_bucket: str) -> None:
    upload_id = storage.multipart_start(KEY)
    url = storage.part_urls(KEY, upload_id, {1: 10}, expires=300)[1]
    assert httpx.put(url, content=b"x" * 1000, timeout=60).status_code == 403  # more than was declared
    assert storage.parts_uploaded(KEY, upload_id) == {}
    assert httpx.put(url, content=b"x" * 10, timeout=60).status_code == 200
    storage.multipart_abort(KEY, upload_id)
