"""A reviewer's journey in a real browser: the queue, the version page with its checks and evidence,
a refused rejection without a comment, then an approval."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from jobs.models import PipelineRun, Step
from registry.models import Organization, Version
from registry.permissions import Role
from tests.conftest import Member
from tests.factories import ArtifactFactory, VersionFactory, member

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_reviewer_approves_from_the_queue(
    signed_in: Callable[[Member], Page], live_server: LiveServer, alice: Member, org_b: Organization
) -> None:
    artifact = ArtifactFactory(organization=alice.organization, slug="tiny-llama")
    version = VersionFactory(artifact=artifact, number="1.0.0", state="in_review", release_target="consortium")
    run = PipelineRun.objects.create(version=version, status="passed")
    Step.objects.create(run=run, name="integrity", status="passed", summary="2 files match", details={"files": 2})
    rita = Member(member(org_b, Role.VIEWER, username="rita", is_reviewer=True), org_b)
    page = signed_in(rita)

    page.get_by_role("link", name="Review queue").click()
    page.get_by_role("link", name="org-a/tiny-llama 1.0.0").click()
    expect(page.get_by_role("cell", name="2 files match")).to_be_visible()
    page.get_by_text("Evidence", exact=True).click()
    expect(page.locator("details pre")).to_contain_text("'files': 2")

    page.get_by_role("button", name="Reject").click()
    expect(page.locator(".message-error")).to_contain_text("say what must change")
    page.get_by_label("Comment").fill("checks and card look right")
    page.get_by_role("button", name="Approve").click()

    expect(page.locator(".message-success")).to_contain_text("Recorded: approve")
    expect(page.get_by_text("Nothing awaits your review")).to_be_visible()
    assert Version.objects.get(pk=version.pk).state == Version.State.APPROVED


def test_the_version_page_follows_running_checks_without_a_reload(
    signed_in: Callable[[Member], Page], live_server: LiveServer, alice: Member
) -> None:
    version = VersionFactory(artifact=ArtifactFactory(organization=alice.organization), state="checking")
    run = PipelineRun.objects.create(version=version)
    step = Step.objects.create(run=run, name="integrity", status="running", progress_done=1, progress_total=10)
    page = signed_in(alice)
    page.goto(f"{live_server.url}/versions/{version.public_id}/")
    expect(page.get_by_label("integrity progress")).to_have_attribute("value", "1")
    page.evaluate("window.notReloaded = true")

    Step.objects.filter(pk=step.pk).update(progress_done=7)
    expect(page.get_by_label("integrity progress")).to_have_attribute("value", "7", timeout=6000)
    Step.objects.filter(pk=step.pk).update(status="passed", summary="10 files match")
    PipelineRun.objects.filter(pk=run.pk).update(status="passed")
    expect(page.get_by_role("cell", name="10 files match")).to_be_visible(timeout=6000)
    assert page.evaluate("window.notReloaded") is True, "updated in place, not by reloading the page"
    page.wait_for_timeout(2500)
    expect(page.locator("#pipeline")).not_to_have_attribute("hx-trigger", "every 2s")
