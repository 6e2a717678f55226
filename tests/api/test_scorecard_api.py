"""The adoption scorecard through the API: in a checkpoint's detail and at scorecard/, computed for
the caller (the public sees what it may); other kinds have none; contamination declarations are
checked at creation with the field named."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from registry.models import Kind, Version
from tests import factories
from tests.api.measured import measured_version
from tests.conftest import Member

pytestmark = pytest.mark.django_db
State = Version.State


def test_the_detail_and_scorecard_route_agree_and_the_public_sees_less(alice: Member) -> None:
    measured = measured_version(alice.user, alice.organization, state=State.PUBLISHED)
    private = factories.VersionFactory(
        artifact=factories.ArtifactFactory(organization=alice.organization, kind=Kind.DATASET, slug="in-house-data"),
        state=State.APPROVED,
        metadata={"jurisdictions": ["FR"]},
    )
    factories.LineageEdgeFactory(child=measured.version, relation="trained_on", parent=private)
    client = APIClient()
    client.force_login(alice.user)
    detail = client.get(f"/api/v1/versions/{measured.version.public_id}/").json()
    card = client.get(f"/api/v1/versions/{measured.version.public_id}/scorecard/").json()
    assert detail["scorecard"] == card
    assert list(card["factors"]) == ["performance", "provenance", "license", "tooling", "finetune", "readiness"]
    assert card["factors"]["provenance"]["figures"]["jurisdictions"] == ["FR"]
    assert card["factors"]["tooling"]["evidence"] == [
        {"kind": "step", "label": "compatibility matrix", "ref": "compatibility"}
    ]

    public = APIClient().get(f"/api/v1/versions/{measured.version.public_id}/scorecard/").json()
    assert public["factors"]["provenance"]["figures"]["datasets"] == []  # the approved dataset is not public
    assert "in-house-data" not in str(public)


def test_other_kinds_have_no_scorecard(alice: Member) -> None:
    dataset = factories.VersionFactory(
        artifact=factories.ArtifactFactory(organization=alice.organization, kind=Kind.DATASET), state=State.PUBLISHED
    )
    client = APIClient()
    assert client.get(f"/api/v1/versions/{dataset.public_id}/").json()["scorecard"] is None
    missing = client.get(f"/api/v1/versions/{dataset.public_id}/scorecard/")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"  # every 404 reads the same


def test_a_malformed_contamination_declaration_is_a_400_naming_the_field(alice: Member) -> None:
    artifact = factories.ArtifactFactory(organization=alice.organization, kind=Kind.DATASET)
    client = APIClient()
    client.force_login(alice.user)
    body = {
        "artifact": str(artifact.public_id),
        "number": "1.0",
        "license": "CC-BY-4.0",
        "metadata": {"contamination": [{"suite": "org-b/evals@1.0", "overlap": "the test split"}, {"suite": "x"}]},
    }
    response = client.post("/api/v1/versions/", body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["fields"] == {
        "metadata.contamination[1].suite": ["must name an eval suite as 'org/suite' or 'org/suite@number'"],
        "metadata.contamination[1].overlap": ["say what overlaps, in at most 500 characters"],
    }
    body["metadata"]["contamination"].pop()
    assert client.post("/api/v1/versions/", body, format="json").status_code == 201
