"""GET /api/v1/ledger/ and /ledger.csv, GET/POST /api/v1/acknowledgements/: from what the caller sees."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from jobs.models import Acknowledgement
from registry.models import Organization, Sharing, Version
from tests.conftest import Member, bearer
from tests.jobs.test_ledger import at, recipe_run

pytestmark = pytest.mark.django_db
State = Version.State


def test_the_ledger_totals_rows_and_csv_leave_out_what_the_caller_cannot_see(
    api_client: APIClient, alice: Member, org_b: Organization
) -> None:
    recipe_run(alice.organization, "mine", gpu_hours=4, flops=None, created=at(2))
    theirs = recipe_run(org_b, "theirs", gpu_hours=50, flops=3e21, sharing=Sharing.CONSORTIUM, created=at(1))
    recipe_run(org_b, "secret", gpu_hours=999, state=State.IN_REVIEW)
    Acknowledgement.objects.create(organization=alice.organization, source=theirs, created_at=at(3))
    bearer(api_client, alice.token("read")[1])

    body = api_client.get("/api/v1/ledger/").json()
    assert body["totals"]["spent"] | {"flops_estimated": 0} == {
        "count": 2, "gpu_hours": 54.0, "gpu_hours_missing": 0, "flops": 3e21, "flops_missing": 1,
        "flops_estimated": 0,
    }  # fmt: skip
    assert (body["totals"]["avoided"]["gpu_hours"], body["totals"]["avoided"]["count"]) == (50.0, 1)
    assert [(r["organization"], r["month"]) for r in body["by_organization_month"]] == [
        ("org-a", "2026-02"), ("org-a", "2026-03"), ("org-b", "2026-01"),
    ]  # fmt: skip
    assert [(r["name"], r["compute"]["flops"], r["avoided_by"]) for r in body["runs"]] == [
        ("org-b/theirs@1.0", 3e21, ["org-a"]),
        ("org-a/mine@1.0", None, []),
    ]

    filtered = api_client.get("/api/v1/ledger/", {"org": "org-a", "since": "2026-03"}).json()
    assert (filtered["totals"]["spent"]["count"], filtered["totals"]["avoided"]["gpu_hours"]) == (0, 50.0)
    response = api_client.get("/api/v1/ledger.csv")
    assert response["Content-Type"].startswith("text/csv")
    lines = response.content.decode().splitlines()
    assert lines[0].startswith("entry,organization,month,run")
    assert "spent,org-a,2026-02,org-a/mine@1.0,pretraining_recipe,4,,," in lines  # missing FLOPs: empty
    assert "avoided,org-a,2026-03,org-b/theirs@1.0,recipe,50,3.000000e+21,,acknowledged" in lines
    assert "secret" not in response.content.decode()


def test_the_ledger_refuses_bad_months_and_anonymous_callers(api_client: APIClient, alice: Member) -> None:
    assert api_client.get("/api/v1/ledger/").status_code == 401
    api_client.force_authenticate(alice.user)
    response = api_client.get("/api/v1/ledger/", {"since": "2026-13"})
    assert response.status_code == 400
    assert "since" in response.json()["error"]["fields"]


def test_acknowledging_returns_201_then_200_and_lists_only_visible_ones(
    api_client: APIClient, alice: Member, charlie: Member, org_b: Organization
) -> None:
    theirs = recipe_run(org_b, "theirs", sharing=Sharing.CONSORTIUM)
    mine = recipe_run(alice.organization, "mine", state=State.APPROVED)  # org-only: charlie never sees it
    bearer(api_client, alice.token("read", "push")[1])
    body = {"organization": "org-a", "source": str(theirs.public_id), "via": str(mine.public_id), "note": "same"}

    first = api_client.post("/api/v1/acknowledgements/", body, format="json")
    assert first.status_code == 201
    assert (first.json()["source"]["artifact"], first.json()["via"]["artifact"]) == ("org-b/theirs", "org-a/mine")
    assert api_client.post("/api/v1/acknowledgements/", body, format="json").status_code == 200
    assert [a["id"] for a in api_client.get("/api/v1/acknowledgements/").json()["results"]] == [first.json()["id"]]

    hidden = recipe_run(org_b, "hidden", state=State.APPROVED)
    missing = api_client.post(
        "/api/v1/acknowledgements/", {"organization": "org-a", "source": str(hidden.public_id)}, format="json"
    )
    assert missing.status_code == 404
    read_only = bearer(APIClient(), alice.token("read")[1])
    refused = read_only.post("/api/v1/acknowledgements/", body | {"source": str(theirs.public_id)}, format="json")
    assert refused.status_code == 403

    api_client.credentials()
    api_client.force_authenticate(charlie.user)  # sees the source (its own), not org-a until it publishes
    assert api_client.get("/api/v1/acknowledgements/").json()["results"] == []
    recipe_run(alice.organization, "public")
    listed = api_client.get("/api/v1/acknowledgements/").json()["results"]
    assert [(a["organization"], a["via"]) for a in listed] == [("org-a", None)]  # never org-a's private via
