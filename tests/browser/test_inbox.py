"""A reviewer hears of waiting work in a real browser: the nav's unread badge, the inbox, the version
page it leads to, the badge dropping once it is read; then their preferences."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.db import transaction
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from registry.models import Notification, Organization, Version
from registry.permissions import Role
from tests.conftest import Member
from tests.factories import ArtifactFactory, VersionFactory, member

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_reviewer_sees_the_waiting_review_in_the_inbox(
    signed_in: Callable[[Member], Page], live_server: LiveServer, alice: Member, org_b: Organization
) -> None:
    version = VersionFactory(artifact=ArtifactFactory(organization=alice.organization, slug="tiny-llama"), number="1")
    Version.objects.filter(pk=version.pk).update(state=Version.State.CHECKING)
    version.refresh_from_db()
    rita = Member(member(org_b, Role.VIEWER, username="rita", is_reviewer=True), org_b)
    with transaction.atomic():
        version.transition(Version.State.IN_REVIEW)  # as the pipeline does once the checks pass
    page = signed_in(rita)

    page.get_by_role("link", name=re.compile(r"^Inbox 1 unread$")).click()
    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
    expect(page.get_by_text("1 unread.")).to_be_visible()
    page.get_by_role("link", name="Org-a/tiny-llama@1 moved from checking to in_review").click()

    expect(page).to_have_url(f"{live_server.url}/versions/{version.public_id}/")
    expect(page.get_by_role("link", name="Inbox", exact=True)).to_be_visible()
    assert Notification.objects.get(user=rita.user).read_at is not None

    page.goto(f"{live_server.url}/inbox/preferences/")  # audited too, like every page loaded here
    page.get_by_label("Also by email").uncheck()
    page.get_by_role("button", name="Save preferences").click()
    expect(page.locator(".message-success")).to_contain_text("Preferences saved.")
    expect(page.get_by_label("Also by email")).not_to_be_checked()
