"""The portal's compute ledger page: server-drawn SVG with titles, the tables, the CSV link."""

from __future__ import annotations

import pytest
from django.test import Client

from registry.models import Organization, Sharing
from tests.conftest import Member
from tests.jobs.test_ledger import at, recipe_run

pytestmark = pytest.mark.django_db


def test_the_ledger_page_draws_spent_and_avoided_and_links_the_csv(
    client: Client, alice: Member, org_b: Organization
) -> None:
    assert client.get("/ledger/").status_code == 302  # sign-in first
    recipe_run(alice.organization, "mine", gpu_hours=4, created=at(2))
    theirs = recipe_run(org_b, "theirs", gpu_hours=50, sharing=Sharing.CONSORTIUM, created=at(1))
    recipe_run(alice.organization, "reuser", gpu_hours=None, created=at(3), reuses=(theirs,))
    client.force_login(alice.user)

    page = client.get("/ledger/", {"since": "2026-01"}).content.decode()

    assert (
        '<title id="ledger-monthly-title">GPU-hours spent and avoided per month across the consortium</title>' in page
    )
    assert "<title>2026-03, avoided: 50 GPU-hours</title>" in page
    assert "<title>2026-03, spent: unknown</title>" in page  # a run without figures: no bar, no zero
    assert 'href="/api/v1/ledger.csv?since=2026-01"' in page
    assert "org-b/theirs@1.0" in page
    assert 'href="/ledger/">Compute ledger</a>' in page
    bad = client.get("/ledger/", {"until": "March"})
    assert bad.status_code == 400
    assert "until: &#x27;March&#x27; is not a month like 2026-01" in bad.content.decode()
