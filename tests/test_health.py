import pytest
from django.test import Client

from registry import storage

pytestmark = pytest.mark.django_db


def test_healthz_reports_every_component_ok() -> None:
    response = Client().get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert {name: check["ok"] for name, check in body["checks"].items()} == {
        "database": True,
        "redis": True,
        "storage": True,
    }


def test_healthz_is_503_naming_storage_when_the_bucket_is_gone(settings) -> None:
    settings.S3_BUCKET = "no-such-bucket-here"
    response = Client().get("/healthz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["storage"]["ok"] is False
    assert "404" in checks["storage"]["error"] or "NoSuchBucket" in checks["storage"]["error"]
    assert checks["database"]["ok"] is True


def test_healthz_is_503_when_redis_is_unreachable(settings) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = Client().get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["redis"]["ok"] is False


def test_bucket_ensure_creates_once(s3_bucket: str, settings) -> None:
    settings.S3_BUCKET = s3_bucket + "-new"
    assert storage.bucket_ensure() is True
    assert storage.bucket_ensure() is False
    storage.s3().delete_bucket(Bucket=settings.S3_BUCKET)


@pytest.mark.parametrize("bad", ["../etc", "ABC", "a" * 63, "", "0" * 64 + "/"])
def test_safe_key_refuses_anything_but_a_hex_digest(bad: str) -> None:
    with pytest.raises(ValueError, match="sha256"):
        storage.safe_key(org_id=1, sha256=bad)


def test_safe_key_is_built_from_ids_only() -> None:
    assert storage.safe_key(org_id=7, sha256="a" * 64) == f"orgs/7/blobs/sha256/{'a' * 64}"
    with pytest.raises(ValueError, match="org id"):
        storage.safe_key(org_id=0, sha256="a" * 64)
