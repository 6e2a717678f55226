"""An owner's org admin journey in a real browser: invite someone who joins through the link with a
new account and appears among the members; make a token, see it once, revoke it; switch orgs in
the header. The `page` fixture runs axe on every page loaded, here also at 375 px wide."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from registry.models import ApiToken, Membership, Organization, User
from registry.permissions import Role
from registry.services.invitations import invitation_create
from tests.browser.accessibility import Auditor
from tests.conftest import Member

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
NEW_PASSWORD = "violet-harbour-1977"


def test_an_owner_invites_someone_who_joins_then_makes_and_revokes_a_token(
    signed_in: Callable[[Member], Page], live_server: LiveServer, alice: Member, org_b: Organization
) -> None:
    Membership.objects.create(user=alice.user, organization=org_b, role=Role.VIEWER)
    page = signed_in(alice)

    page.get_by_role("link", name="Org admin").click()
    expect(page.get_by_role("heading", name="Org A (org-a)")).to_be_visible()
    expect(page.get_by_text("0 bytes used of 1.0")).to_be_visible()

    page.get_by_role("navigation", name="Organization pages").get_by_role("link", name="Invitations").click()
    page.get_by_label("Email address").fill("dana@example.org")
    page.get_by_label("Role").select_option("maintainer")
    page.get_by_role("button", name="Create invitation link").click()
    link = page.get_by_label("Invitation link").input_value()
    assert link.startswith(f"{live_server.url}/invitations/")
    expect(page.get_by_role("cell", name="dana@example.org", exact=True)).to_be_visible()
    page.reload()
    expect(page.get_by_label("Invitation link")).to_have_count(0)  # shown once

    browser = page.context.browser
    assert browser is not None
    newcomer = browser.new_context().new_page()
    auditor = Auditor(newcomer)  # the `page` fixture audits alice's pages; this one is audited here
    try:
        newcomer.goto(link)
        expect(newcomer.get_by_role("heading", name="Join Org A")).to_be_visible()
        auditor.check()
        newcomer.get_by_label("Username").fill("dana")
        newcomer.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
        newcomer.get_by_label("Password again").fill(NEW_PASSWORD)
        newcomer.get_by_role("button", name="Create account and join").click()
        expect(newcomer.locator(".message-success")).to_contain_text("you joined as maintainer")
        expect(newcomer).to_have_url(f"{live_server.url}/orgs/org-a/")
        expect(newcomer.locator("header")).to_contain_text("dana")
        auditor.check()
        newcomer.goto(link)
        expect(newcomer.get_by_role("heading", name="This invitation cannot be used")).to_be_visible()
        auditor.check()
    finally:
        newcomer.context.close()
    assert auditor.checked >= 2
    assert auditor.found == []
    assert Membership.objects.get(user=User.objects.get(username="dana")).role == Role.MAINTAINER

    page.get_by_role("navigation", name="Organization pages").get_by_role("link", name="Members").click()
    expect(page.get_by_role("cell", name="dana", exact=True)).to_be_visible()
    expect(page.get_by_label("Role of dana")).to_have_value("maintainer")

    page.get_by_role("navigation", name="Organization pages").get_by_role("link", name="API tokens").click()
    page.get_by_label("Name").fill("training CI")
    page.get_by_label("push").check()
    page.get_by_label("Expires in (days").fill("30")
    page.get_by_role("button", name="Create token").click()
    secret = page.get_by_label("Token", exact=True).input_value()
    assert secret.startswith("ocr_")
    page.reload()
    expect(page.get_by_label("Token", exact=True)).to_have_count(0)
    assert secret not in page.content()
    row = page.get_by_role("row").filter(has_text="training CI")
    expect(row).to_contain_text("active")
    row.get_by_role("button", name="Revoke").click()
    expect(page.locator(".message-success")).to_contain_text("Token 'training CI' revoked")
    expect(page.get_by_role("row").filter(has_text="training CI")).to_contain_text("revoked")
    assert ApiToken.objects.get(name="training CI").revoked_at is not None

    page.get_by_label("Organization", exact=True).select_option("org-b")
    page.get_by_role("button", name="Switch").click()
    expect(page.get_by_label("Organization", exact=True)).to_have_value("org-b")
    expect(page.get_by_role("link", name="Org admin")).to_have_count(0)  # alice only views org B
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Organization").click()
    expect(page).to_have_url(f"{live_server.url}/orgs/org-b/")


def test_the_org_pages_fit_a_phone(
    signed_in: Callable[[Member], Page], live_server: LiveServer, alice: Member, bob: Member
) -> None:
    """At 375 px wide nothing overflows the page (wide tables scroll inside themselves, by keyboard too)."""
    bob.token("read")
    invitation_create(actor=alice.actor, organization=alice.organization, email="dana@example.org", role="viewer")
    for person, paths in (
        (alice, ("", "members/", "invitations/", "tokens/", "audit/")),
        (bob, ("members/", "tokens/")),
    ):
        page = signed_in(person)
        page.set_viewport_size({"width": 375, "height": 800})
        for path in paths:
            page.goto(f"{live_server.url}/orgs/org-a/{path}")
            if path:
                expect(page.get_by_role("table")).to_be_visible()
            width = page.evaluate("document.documentElement.scrollWidth")
            widest = page.evaluate(
                "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 375)"
                ".map(e => e.tagName + '.' + e.className).slice(0, 5).join(', ')"
            )
            assert width <= 375, f"{path or 'overview'} is {width}px wide: {widest}"
        page.get_by_role("button", name="Sign out").click()
