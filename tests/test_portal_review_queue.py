"""The review queue puts each waiting version's evidence beside the decision form, in a number of
queries that does not grow with the queue."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from jobs.models import PipelineRun, Step
from registry.models import LineageEdge, Organization
from registry.permissions import Role
from registry.portal.reviewing import QUEUE_PAGE
from tests.conftest import Member
from tests.factories import ArtifactFactory, VersionFactory, member

pytestmark = pytest.mark.django_db


def waiting(organization: Organization, *slugs: str) -> None:
    """Versions in review with two passed checks, an external base and a registry dataset each."""
    for i, slug in enumerate(slugs):
        version = VersionFactory(artifact=ArtifactFactory(organization=organization, slug=slug), state="in_review")
        dataset = VersionFactory(
            artifact=ArtifactFactory(organization=organization, slug=f"{slug}-data", kind="dataset"), state="approved"
        )
        LineageEdge.objects.create(child=version, relation="trained_on", parent=dataset)
        run = PipelineRun.objects.create(version=version, status="passed")
        Step.objects.create(run=run, name="integrity", status="passed", summary=f"{i + 2} files match")
        Step.objects.create(run=run, name="license", status="passed", summary="Apache-2.0 allows publication")
        LineageEdge.objects.create(
            child=version,
            relation="derived_from",
            external_repo="meta-llama/Llama-3.1-8B",
            external_repo_type="model",
            external_revision="a" * 40,
            external_license="LicenseRef-Llama-3.1",
        )


@pytest.fixture
def reviewer(org_b: Organization) -> Client:
    client = Client()
    client.force_login(member(org_b, Role.VIEWER, username="rita", is_reviewer=True))
    return client


def test_each_waiting_version_shows_its_evidence_and_a_decision_form(alice: Member, reviewer: Client) -> None:
    waiting(alice.organization, "model-a", "model-b")
    page = reviewer.get("/review/").content.decode()
    assert "2 versions of other member organizations await" in page
    assert "3 files match" in page
    assert "Apache-2.0 allows publication" in page
    assert "meta-llama/Llama-3.1-8B@aaaaaaaa" in page
    assert f"{alice.organization.slug}/model-a-data v" in page
    assert page.count('name="decision" value="approve"') == 2


def queue_queries(client: Client) -> int:
    client.get("/review/")  # warm the session and the policy rows
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/review/").status_code == 200
    return len(queries)


def test_the_queue_takes_the_same_queries_however_long_it_is(alice: Member, reviewer: Client) -> None:
    waiting(alice.organization, "first")
    one = queue_queries(reviewer)
    waiting(alice.organization, *(f"more-{i}" for i in range(7)))
    assert queue_queries(reviewer) == one


def test_a_long_queue_comes_a_page_at_a_time_oldest_first(alice: Member, reviewer: Client) -> None:
    waiting(alice.organization, *(f"model-{i:02}" for i in range(QUEUE_PAGE + 3)))
    first = reviewer.get("/review/").content.decode()
    assert f"{QUEUE_PAGE + 3} versions of other member organizations await" in first
    assert first.count('name="decision" value="approve"') == QUEUE_PAGE
    second = reviewer.get("/review/", {"page": 2}).content.decode()
    assert second.count('name="decision" value="approve"') == 3
    assert "model-00 " in first
    assert "model-22 " in second
