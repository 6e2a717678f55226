"""The version page in a real browser: the lineage picture is clickable, keyboard-reachable and
named for assistive technology (the `page` fixture runs axe-core on every page), and fits a phone;
the measurements read as tables and lists and follow a running eval without a reload."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from jobs.models import Step
from registry.models import LineageEdge
from tests.conftest import Member
from tests.factories import ArtifactFactory, VersionFactory
from tests.test_portal_measurements import checkpoint, fully_measured, measured, suite_of

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_clicking_a_node_of_the_lineage_opens_that_versions_page(
    signed_in: Callable[[Member], Page], live_server: LiveServer, alice: Member
) -> None:
    org = alice.organization
    recipe = VersionFactory(artifact=ArtifactFactory(organization=org, slug="sft-recipe", kind="posttraining_recipe"))
    tuned = VersionFactory(artifact=ArtifactFactory(organization=org, slug="tiny-tuned", kind="checkpoint"))
    adapter = VersionFactory(artifact=ArtifactFactory(organization=org, slug="tiny-lora", kind="adapter"))
    LineageEdge.objects.create(child=tuned, relation="produced_by", parent=recipe)
    LineageEdge.objects.create(child=adapter, relation="derived_from", parent=tuned)
    page = signed_in(alice)
    page.goto(f"{live_server.url}/versions/{tuned.public_id}/")

    graph = page.get_by_role("group", name=f"Lineage of org-a/tiny-tuned {tuned.number}")
    expect(graph).to_be_visible()
    graph.get_by_role("link", name=f"org-a/sft-recipe {recipe.number}").click()
    expect(page).to_have_url(f"{live_server.url}/versions/{recipe.public_id}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("org-a/sft-recipe")

    # From the recipe, two hops down, by keyboard: focus the checkpoint's box and press Enter.
    link = page.locator("svg.lineage-svg a").filter(has_text="tiny-tuned")
    link.focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_server.url}/versions/{tuned.public_id}/")


def test_the_lineage_scrolls_inside_itself_on_a_phone(
    signed_in: Callable[[Member], Page], live_server: LiveServer, alice: Member
) -> None:
    org = alice.organization
    kinds = ("pretraining_recipe", "dataset", "checkpoint", "adapter", "eval_suite")
    versions = [
        VersionFactory(artifact=ArtifactFactory(organization=org, slug=f"a-{k.replace('_', '-')}", kind=k))
        for k in kinds
    ]
    current = versions[2]
    for parent in (versions[0], versions[1], versions[4]):
        LineageEdge.objects.create(child=current, relation="trained_on", parent=parent)
    LineageEdge.objects.create(child=versions[3], relation="derived_from", parent=current)
    page = signed_in(alice)
    page.set_viewport_size({"width": 375, "height": 812})
    page.goto(f"{live_server.url}/versions/{current.public_id}/")
    assert page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth") <= 0
    box = page.locator(".lineage-graph")
    assert box.evaluate("e => e.scrollWidth > e.clientWidth"), "the picture keeps its size and scrolls"
    expect(page.get_by_role("list", name="Every link")).to_contain_text("org-a/a-eval-suite")


def test_the_measurements_read_as_named_tables_and_follow_a_running_eval(
    signed_in: Callable[[Member], Page], live_server: LiveServer, alice: Member
) -> None:
    suite = suite_of(alice.organization, "mini-mmlu", state="approved")
    done = fully_measured(alice.organization, suite, slug="done")
    page = signed_in(alice)
    page.goto(f"{live_server.url}/versions/{done.public_id}/")
    scores = page.get_by_role("table", name=f"org-a/mini-mmlu {suite.number}")
    expect(scores.get_by_role("row")).to_have_count(4)
    expect(scores.get_by_role("columnheader", name="Value ± stderr")).to_be_visible()
    matrix = page.get_by_role("table", name="Does it load and run with the common tooling?")
    expect(matrix.get_by_role("row", name="AutoModelForCausalLM generates")).to_contain_text("failed")

    running = checkpoint(alice.organization, "running", state="in_review")
    run = measured(
        running, evals={"status": "running", "progress_done": 10, "progress_total": 40, "progress_unit": "requests"}
    )
    page.goto(f"{live_server.url}/versions/{running.public_id}/")
    progress = page.get_by_label("Evaluations progress")
    expect(progress).to_have_attribute("value", "10")
    page.evaluate("window.notReloaded = true")
    Step.objects.filter(run=run, name="evals").update(progress_done=30)
    expect(progress).to_have_attribute("value", "30", timeout=6000)
    Step.objects.filter(run=run, name="evals").update(status="passed", summary="0 scores on 1 suite(s)")
    expect(page.locator("#measurements")).to_contain_text("0 scores on 1 suite(s)", timeout=6000)
    assert page.evaluate("window.notReloaded") is True, "updated in place, not by reloading the page"
    expect(page.locator("#pipeline")).not_to_have_attribute("hx-trigger", "every 2s")


def test_a_steward_re_runs_a_measurement_and_polling_keeps_the_reason_being_typed(
    signed_in: Callable[[Member], Page], live_server: LiveServer, alice: Member, steward: Member
) -> None:
    version = checkpoint(alice.organization, "re-measured", state="in_review")
    run = measured(
        version,
        evals={"status": "passed", "summary": "4 scores on 1 suite(s)", "details": {"suites": []}},
        cost={"status": "running", "progress_done": 1, "progress_total": 4, "progress_unit": "files"},
    )
    page = signed_in(steward)
    page.goto(f"{live_server.url}/versions/{version.public_id}/")
    progress = page.get_by_label("Cost progress")
    reason = page.get_by_label("Reason to re-run Evaluations")
    reason.fill("lm-eval 0.4.14 landed")
    Step.objects.filter(run=run, name="cost").update(progress_done=2)
    page.wait_for_timeout(4500)  # two polls' worth: both skipped while the form holds a reason
    expect(reason).to_have_value("lm-eval 0.4.14 landed")
    expect(reason).to_be_focused()
    expect(progress).to_have_attribute("value", "1")

    reason.fill("")
    page.locator("#measurements-heading").click()  # away from the form: polling resumes
    expect(progress).to_have_attribute("value", "2", timeout=6000)

    page.get_by_label("Reason to re-run Evaluations").fill("lm-eval 0.4.14 landed")
    page.get_by_role("button", name="Re-run Evaluations").click()
    expect(page.get_by_role("status")).to_contain_text("evals queued again")
    assert Step.objects.get(run=run, name="evals").status == Step.Status.QUEUED
    expect(page.get_by_label("Reason to re-run Evaluations")).to_have_count(0)
