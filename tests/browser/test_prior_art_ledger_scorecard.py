"""Issue 9's pages in a real browser (the `page` fixture runs axe-core on each): a researcher pastes
a recipe on the prior-art page and reads the near-duplicate with its difference, opens the compute
ledger's charts, and reads a checkpoint's scorecard factors with their evidence links."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import yaml
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from registry.models import Organization, Sharing
from tests.conftest import Member
from tests.corpus import recipes
from tests.jobs.test_ledger import at, recipe_run
from tests.jobs.test_prior_art_search import changed_lr, recipe_version
from tests.test_portal_measurements import fully_measured, suite_of

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_prior_art_page_ledger_charts_and_scorecard(
    signed_in: Callable[[Member], Page], live_server: LiveServer, alice: Member, org_b: Organization
) -> None:
    recipe_version(org_b, "their-run", recipes.pretraining_recipe(), sharing=Sharing.CONSORTIUM)
    recipe_run(alice.organization, "our-run", gpu_hours=12, created=at(2))
    page = signed_in(alice)

    page.goto(f"{live_server.url}/prior-art/")
    page.get_by_label("Recipe YAML").fill(yaml.safe_dump(changed_lr("1e-4")))
    page.get_by_role("button", name="Search").click()
    found = page.get_by_role("main")
    expect(found).to_contain_text("org-b/their-run@1.0")
    expect(found).to_contain_text("near-duplicate")
    expect(found).to_contain_text("lr 1e-4 vs 3e-4")

    page.goto(f"{live_server.url}/ledger/")
    expect(page.get_by_role("img", name="GPU-hours spent and avoided per month across the consortium")).to_be_visible()
    expect(page.get_by_role("main")).to_contain_text("org-a/our-run@1.0")

    suite = suite_of(alice.organization, "mini-mmlu", state="approved")
    done = fully_measured(alice.organization, suite, slug="done")
    page.goto(f"{live_server.url}/versions/{done.public_id}/")
    scorecard = page.get_by_role("region", name="Scorecard")
    expect(scorecard).to_contain_text("Performance for its size")
    expect(scorecard).to_contain_text("Readiness")
