"""Signing in and out in a real browser: the login form, the session cookie, CSRF on sign-out, and
the home page showing an org's draft only to its members."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from tests.conftest import Member
from tests.factories import ArtifactFactory, VersionFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_member_sees_her_draft_until_she_signs_out(
    signed_in: Callable[[Member], Page], live_server: LiveServer, alice: Member
) -> None:
    VersionFactory(artifact=ArtifactFactory(organization=alice.organization, slug="a-draft"))
    page = signed_in(alice)

    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.locator("header")).to_contain_text("alice")
    expect(page.get_by_role("cell", name="org-a/a-draft")).to_be_visible()
    # The stylesheet arrived and applies (a 404 would also fail the `page` fixture).
    assert page.evaluate("document.styleSheets[0].cssRules.length") > 0

    page.get_by_role("button", name="Sign out").click()  # a POST with the CSRF token, back to the home page
    expect(page.get_by_role("link", name="Sign in").first).to_be_visible()
    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.get_by_text("a-draft")).to_have_count(0)


def test_wrong_password_shows_the_error_and_signs_nobody_in(page: Page, live_server: LiveServer, alice: Member) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("not-her-password")
    page.get_by_role("button", name="Sign in").click()

    expect(page.locator(".error")).to_contain_text("correct username and password")
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
