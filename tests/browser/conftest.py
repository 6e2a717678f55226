"""A real browser against the live portal: Playwright driving Debian's Chromium (`apt-get install chromium`).

Playwright's own browser download needs the open internet, so it is never used. Without
/usr/bin/chromium the browser tests are skipped, unless CONSORTIUM_BROWSER_TESTS=required (set by
.ci/run), where a missing browser fails them: CI must never pass with these tests silently skipped.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Request, Response, sync_playwright
from pytest_django.live_server_helper import LiveServer

from tests.browser.accessibility import Auditor
from tests.conftest import Member

CHROMIUM = Path("/usr/bin/chromium")
PASSWORD = "a-long-test-password"  # tests.factories.UserFactory gives every user this one
TIMEOUT_MS = 10_000


def browser_mode() -> str:
    mode = os.environ.get("CONSORTIUM_BROWSER_TESTS", "")
    if mode not in {"", "required"}:
        raise pytest.UsageError(f"CONSORTIUM_BROWSER_TESTS={mode!r}: expected 'required' or unset")
    return mode


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests run last. Playwright's sync API leaves its asyncio loop marked as running in
    the main thread until the session-scoped browser closes at the end of the session; any test
    after it would see that loop (asyncio.run and async_to_sync refuse to start) and Django's
    async-safety check switched off."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the session; each test gets its own context (cookies, storage)."""
    if not os.access(CHROMIUM, os.X_OK):
        if browser_mode() == "required":
            pytest.fail(
                f"Chromium is not installed ({CHROMIUM}): apt-get install chromium "
                "(CONSORTIUM_BROWSER_TESTS=required: the browser tests fail rather than skip)",
                pytrace=False,
            )
        pytest.skip(f"Chromium is not installed ({CHROMIUM}): apt-get install chromium; the browser tests were skipped")
    # The sync API keeps an asyncio loop running in this thread, so Django would refuse every ORM
    # call a test or a fixture makes while the browser is up (SynchronousOnlyOperation). The loop
    # only drives the browser; the ORM still runs synchronously. The server is another thread.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=str(CHROMIUM),
                headless=True,
                # No user namespaces for the sandbox in containers, a small /dev/shm, no GPU.
                args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
            )
            yield chromium
            chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page in a fresh context. The test fails if a stylesheet, script or image the pages
    load is missing, if a page logs a JavaScript error, or if axe-core finds a serious or critical
    accessibility violation on any page it loads: a broken page must not pass unnoticed."""
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    broken: list[str] = []

    def check(response: Response) -> None:
        if response.request.resource_type != "document" and response.status >= 400:
            broken.append(f"{response.status} {response.url}")

    def failed(request: Request) -> None:
        # A navigation cancels what the page it leaves was still loading: that is not a fault.
        if request.failure != "net::ERR_ABORTED":
            broken.append(f"{request.url}: {request.failure}")

    page.on("response", check)
    page.on("requestfailed", failed)
    page.on("pageerror", lambda error: broken.append(f"JavaScript error: {error}"))
    auditor = Auditor(page)
    yield page
    if page.url.startswith("http"):
        auditor.check()
    context.close()
    assert not broken, "the pages loaded with errors:\n" + "\n".join(broken)
    assert not auditor.found, "accessibility (axe-core) violations:\n" + "\n".join(sorted(set(auditor.found)))


@pytest.fixture
def signed_in(page: Page, live_server: LiveServer) -> Callable[[Member], Page]:
    """Sign a member in through the real login form, as a person would, and return the page."""

    def sign_in(member: Member) -> Page:
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("Username").fill(member.user.username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("button", name="Sign out").wait_for()
        return page

    return sign_in


def submit_draft(page: Page, *, slug: str, license: str, readme: str, kind: str = "checkpoint") -> None:
    """Create a draft version 1.0.0 of a new artifact on the Submit page, as a person fills it in."""
    page.get_by_role("link", name="Submit").click()
    page.get_by_label("Name (slug)").fill(slug)
    page.get_by_label("Kind", exact=True).select_option(kind)
    page.get_by_label("Version number").fill("1.0.0")
    page.get_by_label("License", exact=True).fill(license)
    page.get_by_label("README").fill(readme)
    page.get_by_role("button", name="Create the draft").click()
