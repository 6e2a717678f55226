"""Every main page at a phone's width (375 px) and a desktop's: nothing runs off the side of the
page (wide tables scroll inside themselves), and the navigation stays reachable."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from jobs.models import PipelineRun, Step
from registry.models import LineageEdge, Organization
from registry.permissions import Role
from tests.conftest import Member
from tests.factories import ArtifactFactory, VersionFactory, member

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = {"phone": (375, 812), "desktop": (1280, 900)}


def page_paths(alice: Member, org_b: Organization) -> list[str]:
    recipe = VersionFactory(
        artifact=ArtifactFactory(organization=alice.organization, slug="a-rather-long-pretraining-recipe-name"),
        state="published",
    )
    version = VersionFactory(
        artifact=ArtifactFactory(organization=alice.organization, slug="tiny-llama-with-a-long-name"),
        state="in_review",
        metadata={"a_long_key_without_spaces": "x" * 120},
    )
    LineageEdge.objects.create(child=version, relation="produced_by", parent=recipe)
    run = PipelineRun.objects.create(version=version, status="passed")
    Step.objects.create(run=run, name="integrity", status="passed", summary="2 files match", details={"sha": "f" * 64})
    return [
        "/",
        "/browse/",
        "/browse/?q=llama",
        f"/artifacts/{version.artifact.public_id}/",
        f"/versions/{version.public_id}/",
        "/review/",
    ]


@pytest.mark.parametrize("width", WIDTHS, ids=str)
def test_main_pages_fit_the_screen(
    width: str, signed_in: Callable[[Member], Page], live_server: LiveServer, alice: Member, org_b: Organization
) -> None:
    reviewer = Member(member(org_b, Role.VIEWER, username="rita", is_reviewer=True), org_b)
    paths = page_paths(alice, org_b)
    page = signed_in(reviewer)
    page.set_viewport_size(dict(zip(("width", "height"), WIDTHS[width], strict=True)))
    for path in paths:
        page.goto(f"{live_server.url}{path}")
        overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} is {overflow}px wider than the {width} screen"
        expect(page.get_by_role("link", name="Browse", exact=True)).to_be_visible()
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()
