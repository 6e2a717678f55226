"""The version page's Scorecard section: each factor with its status, headline and evidence links,
missing evidence said as missing, and a contaminated score marked beside its suite."""

from __future__ import annotations

import pytest
from django.test import Client

from registry.models import Kind, Version
from tests import factories
from tests.api.measured import measured_version
from tests.conftest import Member

pytestmark = pytest.mark.django_db


def test_the_page_shows_each_factor_its_evidence_and_the_contaminated_score(alice: Member) -> None:
    measured = measured_version(alice.user, alice.organization)
    crawl = factories.VersionFactory(
        artifact=factories.ArtifactFactory(organization=alice.organization, kind=Kind.DATASET, slug="crawl"),
        state=Version.State.IN_REVIEW,
        metadata={"contamination": [{"suite": "borealis/pico-evals", "tasks": ["pico_cloze"], "overlap": "cloze set"}]},
    )
    factories.LineageEdgeFactory(child=measured.version, relation="trained_on", parent=crawl)
    client = Client()
    client.force_login(alice.user)
    html = client.get(f"/versions/{measured.version.public_id}/").content.decode()
    section = html.split('<section id="scorecard"', 1)[1].split('<section aria-labelledby="files-heading"', 1)[0]

    assert 'Tooling at release <span class="state state-poor">poor</span>' in section
    assert 'Fine-tunability <span class="state state-missing">missing</span>' in section
    assert '<a href="#measure-compatibility-heading">compatibility matrix</a>' in section
    assert f'<a href="/versions/{crawl.public_id}/">org-a/crawl@{crawl.number} (dataset)</a>' in section
    assert "<li>its parameter count (counted by the metadata step)</li>" in section
    cloze = section.split("<td>pico_cloze</td>", 1)[1].split("</tr>", 1)[0]
    assert "<strong>declared overlap</strong>" in cloze
    perplexity = section.split("<td>pico_perplexity</td>", 1)[1].split("</tr>", 1)[0]
    assert "none declared" in perplexity
    assert f"org-a/crawl@{crawl.number}</a> declares an overlap: cloze set" in section


def test_a_dataset_page_has_no_scorecard(alice: Member) -> None:
    dataset = factories.VersionFactory(
        artifact=factories.ArtifactFactory(organization=alice.organization, kind=Kind.DATASET),
        state=Version.State.PUBLISHED,
    )
    html = Client().get(f"/versions/{dataset.public_id}/").content.decode()
    assert 'id="scorecard"' not in html
