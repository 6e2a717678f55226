"""Submitting from a real browser against the real SeaweedFS: create a draft, hash and upload two
files straight to S3 through presigned parts (the bucket's CORS rule allows the live server's
origin), finalize; skip bytes the org already stores; remove a file; delete a draft; and what the
page says when the storage, its CORS rule, the quota or the bytes are wrong."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Route, expect
from pytest_django.live_server_helper import LiveServer

from registry import storage
from registry.models import Blob, Version
from tests.browser.conftest import PASSWORD, TIMEOUT_MS, submit_draft
from tests.conftest import Member
from tests.factories import ArtifactFactory, VersionFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

UPLOAD_TIMEOUT_MS = 60_000


@pytest.fixture
def bucket_for_the_portal(s3_bucket: str, live_server: LiveServer, settings) -> str:
    """A fresh bucket whose CORS rule lets the live server's pages upload to it."""
    settings.S3_CORS_ORIGINS = [live_server.url]
    storage.bucket_cors_apply()
    return s3_bucket


def test_a_member_submits_uploads_two_files_and_finalizes(
    signed_in: Callable[[Member], Page],
    live_server: LiveServer,
    alice: Member,
    bucket_for_the_portal: str,
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.json"
    config.write_bytes(b'{"model_type": "llama", "hidden_size": 64}')
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(os.urandom(9 * 1024 * 1024))  # two parts of 8 MiB and 1 MiB
    page = signed_in(alice)

    submit_draft(page, slug="tiny-llama", license="MIT OR Apache-2.0", readme="Intended use: tests.")
    expect(page.locator(".message-success")).to_contain_text("Draft org-a/tiny-llama 1.0.0 created")
    expect(page.get_by_role("button", name="Finalize: submit for checks")).to_be_disabled()

    page.get_by_label("Files to add").set_input_files([config, weights])
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.get_by_text("All files are uploaded and verified")).to_be_visible(timeout=UPLOAD_TIMEOUT_MS)
    expect(page.locator("#upload-overall-text")).to_have_text("100%")
    overall = page.get_by_label("Overall")
    total = config.stat().st_size + weights.stat().st_size
    assert overall.evaluate("(bar, total) => bar.value === bar.max && bar.max === total", total)
    for name in ("config.json", "model.safetensors"):
        row = page.locator("tr", has=page.get_by_text(name, exact=True))
        expect(row.locator(".file-status")).to_have_text("verified")
        assert row.locator("progress").evaluate("bar => bar.value === bar.max")

    version = Version.objects.get(artifact__slug="tiny-llama")
    stored = {f.path: (f.sha256, f.blob_id is not None) for f in version.files.all()}
    assert stored == {
        "config.json": (hashlib.sha256(config.read_bytes()).hexdigest(), True),
        "model.safetensors": (hashlib.sha256(weights.read_bytes()).hexdigest(), True),
    }

    page.get_by_role("button", name="Finalize: submit for checks").click()
    expect(page.locator("#upload-status")).to_contain_text("version 1.0.0 is submitted")
    version.refresh_from_db()
    assert version.state in {Version.State.SUBMITTED, Version.State.CHECKING}
    assert version.manifest_sha256
    page.get_by_role("link", name="Follow its checks on the version page").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("org-a/tiny-llama")


def test_bytes_the_org_already_stores_are_not_sent_again(
    signed_in: Callable[[Member], Page],
    live_server: LiveServer,
    alice: Member,
    bucket_for_the_portal: str,
    tmp_path: Path,
) -> None:
    data = b"the same bytes in two versions"
    digest = hashlib.sha256(data).hexdigest()
    Blob.objects.create(organization=alice.organization, sha256=digest, size=len(data))
    storage.s3().put_object(
        Bucket=bucket_for_the_portal, Key=storage.safe_key(org_id=alice.organization.pk, sha256=digest), Body=data
    )
    draft = VersionFactory(artifact=ArtifactFactory(organization=alice.organization, slug="again"), number="2.0")
    draft.files.create(path="old.txt", size=3, sha256="f" * 64)  # declared earlier, never uploaded
    shared = tmp_path / "shared.txt"
    shared.write_bytes(data)
    page = signed_in(alice)
    page.goto(f"{live_server.url}/versions/{draft.public_id}/upload/")

    page.get_by_label("Files to add").set_input_files([shared])
    page.get_by_role("button", name="Upload", exact=True).click()
    row = page.locator("tr", has=page.get_by_text("shared.txt", exact=True))
    expect(row.locator(".file-status")).to_have_text("already stored: skipped")
    expect(page.locator("#upload-overall-text")).to_have_text("100%")
    expect(page.get_by_text("Still missing: old.txt")).to_be_visible()
    expect(page.get_by_role("button", name="Finalize: submit for checks")).to_be_disabled()

    page.get_by_role("button", name="Remove old.txt").click()
    expect(page.get_by_text("Removed old.txt from the draft")).to_be_visible()
    expect(page.get_by_role("button", name="Finalize: submit for checks")).to_be_enabled()
    assert [(f.path, f.blob is not None) for f in draft.files.all()] == [("shared.txt", True)]


def test_a_member_deletes_another_draft(
    signed_in: Callable[[Member], Page], live_server: LiveServer, alice: Member, bucket_for_the_portal: str
) -> None:
    draft = VersionFactory(artifact=ArtifactFactory(organization=alice.organization, slug="scratch"), number="0.1")
    page = signed_in(alice)
    page.goto(f"{live_server.url}/versions/{draft.public_id}/upload/")
    page.get_by_label("Yes, delete draft 0.1 of scratch").check()
    page.get_by_role("button", name="Delete the draft").click()
    expect(page.locator(".message-success")).to_contain_text("Draft org-a/scratch 0.1 deleted")
    assert Version.objects.get(pk=draft.pk).state == Version.State.DELETED


# What the page says when something refuses the upload. The requests refused here would fail the
# `page` fixture's own check, so these tests use a page that tolerates them (JavaScript errors still fail).


@pytest.fixture
def alice_page(browser: Browser, live_server: LiveServer, alice: Member) -> Iterator[Page]:
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Sign out").wait_for()
    yield page
    context.close()
    assert not errors, errors


def _upload_one(page: Page, live_server: LiveServer, alice: Member, tmp_path: Path) -> Version:
    draft = VersionFactory(artifact=ArtifactFactory(organization=alice.organization, slug="refused"), number="1.0")
    file = tmp_path / "weights.bin"
    file.write_bytes(os.urandom(2048))
    page.goto(f"{live_server.url}/versions/{draft.public_id}/upload/")
    page.get_by_label("Files to add").set_input_files([file])
    page.get_by_role("button", name="Upload", exact=True).click()
    return draft


def test_a_bucket_that_refuses_the_portals_origin_is_named(
    alice_page: Page, live_server: LiveServer, alice: Member, s3_bucket: str, settings, tmp_path: Path
) -> None:
    settings.S3_CORS_ORIGINS = ["https://elsewhere.example.com"]
    storage.bucket_cors_apply()
    draft = _upload_one(alice_page, live_server, alice, tmp_path)
    error = alice_page.get_by_role("alert")
    expect(error).to_contain_text("refused this page (CORS)")
    expect(error).to_contain_text(f"allow the origin {live_server.url}")
    expect(alice_page.get_by_role("button", name="Finalize: submit for checks")).to_be_disabled()
    assert draft.files.get().blob is None


def test_unreachable_storage_is_named(
    alice_page: Page, live_server: LiveServer, alice: Member, s3_bucket: str, settings, tmp_path: Path
) -> None:
    settings.S3_PUBLIC_ENDPOINT_URL = "http://127.0.0.1:9"  # discard: nothing listens there
    storage.s3_public.cache_clear()
    try:
        _upload_one(alice_page, live_server, alice, tmp_path)
        expect(alice_page.get_by_role("alert")).to_contain_text("Could not reach the storage at http://127.0.0.1:9")
    finally:
        storage.s3_public.cache_clear()


def test_a_full_quota_is_refused_with_the_registrys_message(
    alice_page: Page, live_server: LiveServer, alice: Member, s3_bucket: str, tmp_path: Path
) -> None:
    type(alice.organization).objects.filter(pk=alice.organization.pk).update(storage_quota_bytes=1024)
    draft = _upload_one(alice_page, live_server, alice, tmp_path)
    expect(alice_page.get_by_role("alert")).to_contain_text("storage quota of 'org-a' exceeded")
    assert not draft.files.exists()


def test_bytes_altered_on_the_way_are_caught_by_the_registry(
    alice_page: Page, live_server: LiveServer, alice: Member, bucket_for_the_portal: str, settings, tmp_path: Path
) -> None:
    def tamper(route: Route) -> None:
        if route.request.method == "PUT":
            route.continue_(post_data=b"x" * 2048)
        else:
            route.continue_()

    alice_page.route(f"{settings.S3_PUBLIC_ENDPOINT_URL}/**", tamper)
    draft = _upload_one(alice_page, live_server, alice, tmp_path)
    expect(alice_page.get_by_role("alert")).to_contain_text("the uploaded bytes are 2048 bytes with sha256")
    row = alice_page.locator("tr", has=alice_page.get_by_text("weights.bin", exact=True))
    expect(row.locator(".file-status")).to_have_text("failed")
    assert draft.files.get().blob is None
