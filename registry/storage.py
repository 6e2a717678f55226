"""Object storage through one boto3 client; SeaweedFS, MinIO and AWS S3 differ only in endpoint.

Keys are built only from ids and digests (`safe_key`), never from user file names.
"""

from __future__ import annotations

import re
from functools import cache

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
    """Create the bucket if missing. Returns True when it was created."""
    try:
        s3().head_bucket(Bucket=settings.S3_BUCKET)
        return False
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in {"404", "NoSuchBucket", "NotFound"}:
            raise
    s3().create_bucket(Bucket=settings.S3_BUCKET)
    return True


def storage_check() -> None:
    s3().head_bucket(Bucket=settings.S3_BUCKET)
