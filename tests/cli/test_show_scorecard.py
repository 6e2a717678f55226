"""What `consortium show` prints of the scorecard the API returns: one line per factor, what is
missing, and each contaminated score with its declaration (no live server: the API's JSON is fed in)."""

from __future__ import annotations

import pytest
from consortium_cli.scorecard import scorecard_lines
from rest_framework.test import APIClient

from registry.models import Kind, Version
from tests import factories
from tests.api.measured import measured_version
from tests.conftest import Member

pytestmark = pytest.mark.django_db


def test_show_prints_a_compact_scorecard_from_the_api_json(alice: Member) -> None:
    measured = measured_version(alice.user, alice.organization, state=Version.State.PUBLISHED)
    crawl = factories.VersionFactory(
        artifact=factories.ArtifactFactory(organization=alice.organization, kind=Kind.DATASET, slug="crawl"),
        number="3.0",
        state=Version.State.PUBLISHED,
        metadata={"contamination": [{"suite": "borealis/pico-evals@2.0", "overlap": "the cloze passages"}]},
    )
    factories.LineageEdgeFactory(child=measured.version, relation="trained_on", parent=crawl)
    card = APIClient().get(f"/api/v1/versions/{measured.version.public_id}/").json()["scorecard"]

    lines = scorecard_lines(card)
    assert lines[0] == "scorecard (from what you can see; missing evidence is shown as missing):"
    assert "  tooling      poor     1 of 2 compatibility checks passed; failed: generate" in lines
    assert "  finetune     missing  not measured (size)" in lines
    assert lines[lines.index("  finetune     missing  not measured (size)") + 1].strip() == (
        "missing: the fine-tune probe's held-out losses"
    )
    assert [line for line in lines if "contamination:" in line] == [
        "  contamination: borealis/pico-evals@2.0 pico_cloze (acc): org-a/crawl@3.0 declares the cloze passages",
        "  contamination: borealis/pico-evals@2.0 pico_perplexity (perplexity): org-a/crawl@3.0 declares the "
        "cloze passages",
    ]
    assert scorecard_lines({"factors": {}, "contamination": []}) == lines[:1]
