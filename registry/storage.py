"""Object storage through one boto3 client; SeaweedFS, MinIO and AWS S3 differ only in endpoint.

Keys are built only from ids and digests (`safe_key`), never from user file names. Bytes of
uploads and downloads go between clients and S3 through presigned URLs, never through Django.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import cache
from urllib.parse import quote

import boto3
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError
from django.conf import settings

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _client(endpoint: str) -> BaseClient:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=settings.S3_REGION,
        aws_access_key_id=settings.S3_ACCESS_KEY_ID,
        aws_secret_access_key=settings.S3_SECRET_ACCESS_KEY,
        # SigV4: SeaweedFS (and modern S3) refuse presigned URLs of the older scheme.
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=5,
            read_timeout=60,
        ),
    )


@cache
def s3() -> BaseClient:
    """The client for the server's own calls, on the internal endpoint."""
    return _client(settings.S3_ENDPOINT_URL)


@cache
def s3_public() -> BaseClient:
    """The client that signs URLs handed to outside clients, for the public endpoint."""
    return _client(settings.S3_PUBLIC_ENDPOINT_URL)


def safe_key(*, org_id: int, sha256: str) -> str:
    """The object key of a content-addressed blob of an org."""
    if not isinstance(org_id, int) or org_id <= 0:
        raise ValueError(f"org id must be a positive integer, not {org_id!r}")
    if not _SHA256.match(sha256):
        raise ValueError("a blob key needs a lowercase hex sha256")
    return f"orgs/{org_id}/blobs/sha256/{sha256}"


def bucket_ensure() -> bool:
    """Create the bucket if missing and apply the CORS rule of S3_CORS_ORIGINS (every time, so a
    changed setting takes effect at the next start). Returns True when the bucket was created."""
    created = False
    try:
        s3().head_bucket(Bucket=settings.S3_BUCKET)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in {"404", "NoSuchBucket", "NotFound"}:
            raise
        s3().create_bucket(Bucket=settings.S3_BUCKET)
        created = True
    bucket_cors_apply()
    return created


def cors_rule(origins: list[str]) -> dict[str, object]:
    """What a browser upload needs: PUT parts to presigned URLs from the portal's pages and read
    each part's ETag (to complete the upload); GET and HEAD for downloads."""
    return {
        "AllowedOrigins": list(origins),
        "AllowedMethods": ["PUT", "GET", "HEAD"],
        "AllowedHeaders": ["*"],
        "ExposeHeaders": ["ETag"],
        "MaxAgeSeconds": 3600,
    }


def bucket_cors_apply() -> list[str]:
    """Set the bucket's CORS to the one rule for S3_CORS_ORIGINS; with none, leave it alone (the
    operator manages it: docs/storage-cors.md). Returns the origins applied."""
    origins = [origin.rstrip("/") for origin in settings.S3_CORS_ORIGINS]
    if origins:
        s3().put_bucket_cors(Bucket=settings.S3_BUCKET, CORSConfiguration={"CORSRules": [cors_rule(origins)]})
    return origins


def storage_check() -> None:
    s3().head_bucket(Bucket=settings.S3_BUCKET)


MiB = 1024 * 1024
MIN_PART = 8 * MiB  # S3 refuses parts under 5 MiB (but the last); 8 MiB keeps small files cheap
MAX_PARTS = 10_000  # S3's limit per multipart upload
MAX_OBJECT = 5 * 1024**4  # S3's limit per object: 5 TiB
READ_CHUNK = 16 * MiB  # reading a stored object to hash it


def part_size_for(size: int) -> int:
    """Part size for a file of `size` bytes: 8 MiB, grown in whole MiB so that no file, up to S3's
    5 TiB object limit (a multi-hundred-GB shard included), needs more than 10,000 parts."""
    if not 0 <= size <= MAX_OBJECT:
        raise ValueError(f"a file holds 0 to {MAX_OBJECT} bytes, not {size}")
    needed = -(-size // MAX_PARTS)
    return max(MIN_PART, -(-needed // MiB) * MiB)


def part_count(size: int, part_size: int) -> int:
    return max(1, -(-size // part_size))


def multipart_start(key: str) -> str:
    return s3().create_multipart_upload(Bucket=settings.S3_BUCKET, Key=key)["UploadId"]


def part_urls(key: str, upload_id: str, part_sizes: dict[int, int], *, expires: int) -> dict[int, str]:
    """Presigned PUT URLs for parts (number → exact byte length, which the signature covers),
    signed for the public endpoint clients reach."""
    return {
        n: s3_public().generate_presigned_url(
            "upload_part",
            Params={
                "Bucket": settings.S3_BUCKET,
                "Key": key,
                "UploadId": upload_id,
                "PartNumber": n,
                "ContentLength": length,
            },
            ExpiresIn=expires,
        )
        for n, length in part_sizes.items()
    }


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def parts_uploaded(key: str, upload_id: str) -> dict[int, str]:
    """Part number → ETag of the parts S3 holds for an unfinished upload (what a resume skips)."""
    found: dict[int, str] = {}
    for page in s3().get_paginator("list_parts").paginate(Bucket=settings.S3_BUCKET, Key=key, UploadId=upload_id):
        found.update({p["PartNumber"]: p["ETag"] for p in page.get("Parts", [])})
    return found


def multipart_complete(key: str, upload_id: str, parts: dict[int, str]) -> None:
    s3().complete_multipart_upload(
        Bucket=settings.S3_BUCKET,
        Key=key,
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etag} for n, etag in sorted(parts.items())]},
    )


def multipart_abort(key: str, upload_id: str) -> None:
    s3().abort_multipart_upload(Bucket=settings.S3_BUCKET, Key=key, UploadId=upload_id)


def object_chunks(key: str) -> Iterator[bytes]:
    """A stored object's bytes in order, in one GET. The next chunk is read on a thread while the
    caller works on this one (reading and hashing in turn left sha256 idle half the time); two
    chunks are in memory at most."""
    body = s3().get_object(Bucket=settings.S3_BUCKET, Key=key)["Body"]
    try:
        with ThreadPoolExecutor(1, thread_name_prefix="s3-read") as reader:
            pending = reader.submit(body.read, READ_CHUNK)
            while chunk := pending.result():
                pending = reader.submit(body.read, READ_CHUNK)
                yield chunk
    finally:
        body.close()


def object_digest(key: str, progress: Callable[[int], None] | None = None) -> tuple[int, str]:
    """Size and sha256 of a stored object in one streaming pass; `progress` gets the bytes read so far."""
    digest, size = hashlib.sha256(), 0
    for chunk in object_chunks(key):
        digest.update(chunk)
        size += len(chunk)
        if progress is not None:
            progress(size)
    return size, digest.hexdigest()


def download_url(key: str, *, filename: str, expires: int) -> str:
    """A short-lived GET URL that saves the object under `filename`."""
    disposition = f"attachment; filename*=UTF-8''{quote(filename.rsplit('/', 1)[-1])}"
    return s3_public().generate_presigned_url(
        "get_object",
        Params={"Bucket": settings.S3_BUCKET, "Key": key, "ResponseContentDisposition": disposition},
        ExpiresIn=expires,
    )


def object_delete(key: str) -> None:
    s3().delete_object(Bucket=settings.S3_BUCKET, Key=key)


def multipart_uploads(*, prefix: str) -> Iterator[tuple[str, str, datetime]]:
    """(key, upload id, started) of every unfinished multipart upload under `prefix`."""
    for page in s3().get_paginator("list_multipart_uploads").paginate(Bucket=settings.S3_BUCKET, Prefix=prefix):
        for upload in page.get("Uploads", []):
            yield upload["Key"], upload["UploadId"], upload["Initiated"]


def objects(*, prefix: str) -> Iterator[tuple[str, datetime]]:
    """(key, last modified) of every object under `prefix`."""
    for page in s3().get_paginator("list_objects_v2").paginate(Bucket=settings.S3_BUCKET, Prefix=prefix):
        for item in page.get("Contents", []):
            yield item["Key"], item["LastModified"]
