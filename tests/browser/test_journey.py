"""The whole journey in a real browser against the stack `make run` starts (web, Celery worker,
SeaweedFS, the local Hub): a member of org A pushes a tiny checkpoint through the portal and
watches its checks run live, org B's reviewer approves it from the queue, and the version page
shows it published with its Hub link, which opens the published release and its card."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from bench.stack import Stack, start_stack
from tests.browser.conftest import submit_draft
from tests.corpus.models import clean_checkpoint

pytestmark = [pytest.mark.browser, pytest.mark.stack]

PIPELINE_TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, dict[str, str]]]:
    var = tmp_path_factory.mktemp("journey") / "var"
    running = start_stack(var)
    try:
        logins = json.loads((var / "demo-logins.json").read_text())
        yield running, {entry["username"]: entry["password"] for entry in logins}
    finally:
        os.killpg(running.process.pid, signal.SIGINT)
        running.process.communicate(timeout=60)  # also closes its output pipe


def sign_in(page: Page, url: str, username: str, password: str) -> None:
    page.goto(f"{url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def test_push_in_the_browser_review_and_see_it_published(
    page: Page, stack: tuple[Stack, dict[str, str]], tmp_path: Path
) -> None:
    running, passwords = stack
    for name, content in clean_checkpoint().items():
        (tmp_path / name).write_bytes(content)

    sign_in(page, running.url, "aurora-owner", passwords["aurora-owner"])
    submit_draft(
        page,
        slug="browser-llama",
        license="Apache-2.0",
        readme="A tiny Llama-shaped checkpoint pushed from the browser.\n\nIntended use: demos.",
    )
    page.get_by_label("Files to add").set_input_files(sorted(tmp_path.iterdir()))
    page.get_by_role("button", name="Upload", exact=True).click()
    finalize = page.get_by_role("button", name="Finalize: submit for checks")
    expect(finalize).to_be_enabled(timeout=PIPELINE_TIMEOUT_MS)
    finalize.click()
    page.get_by_role("link", name="Follow its checks on the version page").click()

    # The version page follows the checks as the worker runs them, without a reload.
    version_url = page.url
    page.evaluate("window.notReloaded = true")
    expect(page.locator("#checks")).to_contain_text("passed", timeout=PIPELINE_TIMEOUT_MS)
    expect(page.locator("#checks")).not_to_contain_text("running", timeout=PIPELINE_TIMEOUT_MS)
    assert page.evaluate("window.notReloaded") is True
    page.reload()
    expect(page.locator("h1 .state")).to_have_text("In Review")
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, running.url, "borealis-reviewer", passwords["borealis-reviewer"])
    page.get_by_role("link", name="Review queue").click()
    item = page.locator("article.review-item", has_text="aurora/browser-llama 1.0.0")
    expect(item).to_contain_text("passed")
    item.get_by_role("button", name="Approve").click()
    expect(page.locator(".message-success")).to_contain_text("Recorded: approve")

    page.goto(version_url)
    hub_link = page.get_by_role("link", name="aurora-lab/browser-llama v1.0.0")
    for _ in range(60):
        if hub_link.count():
            break
        page.wait_for_timeout(1000)
        page.reload()
    expect(hub_link).to_be_visible()
    assert hub_link.get_attribute("href", timeout=1000).startswith(running.hub_url)
    hub_link.click()
    expect(page.get_by_role("heading", name="v1.0.0")).to_be_visible()
    card = page.get_by_role("link", name="README.md").get_attribute("href")
    readme = page.request.get(f"{running.hub_url}{card}").text()
    assert "Aurora Research Lab (France)" in readme
    assert "Approved by reviewers of: Borealis AI" in readme
