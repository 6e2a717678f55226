"""API v1 behaviour: the happy paths a pipeline takes, the error shape, the schema and docs."""

from __future__ import annotations

import pytest
import yaml
from rest_framework.test import APIClient

from registry.models import AuditEvent, LineageEdge, Version
from tests.conftest import Member, bearer
from tests.factories import ArtifactFactory, VersionFactory

pytestmark = pytest.mark.django_db
LLAMA_SHA = "0e9e39f249a16976918f6564b8830bc894c89659"


def test_a_pipeline_creates_an_artifact_and_a_draft_with_lineage(alice: Member, api_client) -> None:
    _, secret = alice.token("read", "push")
    client = bearer(api_client, secret)
    dataset = VersionFactory(
        artifact=ArtifactFactory(organization=alice.organization, kind="dataset"), state=Version.State.SUBMITTED
    )
    created = client.post(
        "/api/v1/artifacts/",
        {
            "organization": "org-a",
            "slug": "tiny-llama",
            "kind": "checkpoint",
            "sharing": "consortium",
            "description": "A 2-layer test model.",
        },
    )
    assert created.status_code == 201, created.content
    artifact = created.json()
    body = {
        "artifact": artifact["id"],
        "number": "1.0.0",
        "license": "apache-2.0 OR mit",
        "metadata": {"architecture": "llama", "parameters": 1_000_000},
        "readme": "Intended use: tests.",
        "compute": {"gpu_hours": 12.5, "hardware": "8xH100"},
        "lineage": [
            {"relation": "trained_on", "version": str(dataset.public_id)},
            {
                "relation": "derived_from",
                "hub_repo": "meta-llama/Llama-3.1-8B",
                "revision": LLAMA_SHA,
                "license": "LicenseRef-scancode-llama-3.1-license-2024",
            },
        ],
    }
    response = client.post("/api/v1/versions/", body)
    assert response.status_code == 201, response.content
    version = response.json()
    assert version["state"] == "draft"
    assert version["license"] == "Apache-2.0 OR MIT"  # normalized
    assert version["compute"] == {"gpu_hours": 12.5, "hardware": "8xH100"}
    assert version["created_by"] == "alice"

    lineage = client.get(f"/api/v1/versions/{version['id']}/lineage/").json()
    assert {
        (e["relation"], (e["version"] or {}).get("id"), (e["hub"] or {}).get("repo")) for e in lineage["parents"]
    } == {
        ("trained_on", str(dataset.public_id), None),
        ("derived_from", None, "meta-llama/Llama-3.1-8B"),
    }
    down = client.get(f"/api/v1/versions/{dataset.public_id}/lineage/").json()
    assert [e["version"]["id"] for e in down["children"]] == [version["id"]]

    actions = list(AuditEvent.objects.filter(organization=alice.organization).values_list("action", flat=True))
    assert actions.count("artifact.created") == 1
    assert actions.count("version.created") == 1
    listed = client.get("/api/v1/versions/", {"artifact": artifact["id"]}).json()
    assert [v["id"] for v in listed["results"]] == [version["id"]]


def test_an_artifact_slug_taken_in_the_org_is_a_409_naming_the_slug(alice: Member, api_client) -> None:
    api_client.force_login(alice.user)
    ArtifactFactory(organization=alice.organization, slug="tiny-llama")
    body = {"organization": alice.organization.slug, "slug": "tiny-llama", "kind": "checkpoint", "sharing": "org"}
    again = api_client.post("/api/v1/artifacts/", body)
    assert again.status_code == 409, again.content
    assert again.json()["error"]["fields"] == {
        "slug": [f"artifact '{alice.organization.slug}/tiny-llama' already exists"]
    }


def test_the_same_version_pushed_again_is_200_and_other_declarations_409(alice: Member, api_client) -> None:
    api_client.force_login(alice.user)
    artifact = ArtifactFactory(organization=alice.organization)
    body = {"artifact": str(artifact.public_id), "number": "2.0", "license": "MIT", "metadata": {"layers": 2}}
    first = api_client.post("/api/v1/versions/", body)
    assert first.status_code == 201
    again = api_client.post("/api/v1/versions/", body)
    assert (again.status_code, again.json()["id"]) == (200, first.json()["id"])
    other = api_client.post("/api/v1/versions/", {**body, "license": "Apache-2.0", "metadata": {"layers": 3}})
    assert other.status_code == 409
    assert other.json()["error"]["fields"] == {
        "number": [f"version 2.0 of '{artifact}' exists (draft) with another license, metadata; a fix is a new version"]
    }
    assert Version.objects.count() == 1


def test_deleting_a_draft_keeps_its_row_and_number_and_refuses_twice(alice: Member, api_client) -> None:
    api_client.force_login(alice.user)
    version = VersionFactory(artifact=ArtifactFactory(organization=alice.organization))
    assert api_client.delete(f"/api/v1/versions/{version.public_id}/").status_code == 204
    version.refresh_from_db()
    assert version.state == "deleted"
    again = api_client.delete(f"/api/v1/versions/{version.public_id}/")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "invalid_transition"
    assert api_client.get("/api/v1/versions/").json()["results"] == []  # hidden from the default list


def test_owner_manages_members_and_keeps_one_owner(alice: Member, bob: Member, charlie: Member, api_client) -> None:
    api_client.force_login(alice.user)
    base = "/api/v1/organizations/org-a/memberships/"
    assert api_client.post(base, {"username": "charlie", "role": "contributor"}).status_code == 201
    assert api_client.post(base, {"username": "charlie", "role": "viewer"}).status_code == 409
    assert api_client.post(base, {"username": "nobody", "role": "viewer"}).json()["error"]["fields"] == {
        "username": ["no such user"]
    }
    assert api_client.patch(f"{base}bob/", {"role": "maintainer"}).json()["role"] == "maintainer"
    last_owner = api_client.patch(f"{base}alice/", {"role": "viewer"})
    assert last_owner.status_code == 409
    assert "at least one owner" in last_owner.json()["error"]["message"]
    assert api_client.delete(f"{base}charlie/").status_code == 204
    assert sorted(m["username"] for m in api_client.get(base).json()["results"]) == ["alice", "bob"]
    audit = api_client.get("/api/v1/organizations/org-a/audit-events/", {"action": "membership."}).json()
    assert [e["action"] for e in audit["results"]] == [
        "membership.removed",
        "membership.role_changed",
        "membership.added",
    ]


def test_audit_events_filter_by_time_and_refuse_unknown_filters(alice: Member, api_client) -> None:
    api_client.force_login(alice.user)
    alice.token("read")
    url = "/api/v1/organizations/org-a/audit-events/"
    assert len(api_client.get(url, {"since": "2000-01-01T00:00:00Z"}).json()["results"]) == 1
    assert api_client.get(url, {"until": "2000-01-01T00:00:00Z"}).json()["results"] == []
    bad = api_client.get(url, {"org__slug": "org-b"})
    assert bad.status_code == 400
    assert bad.json()["error"]["fields"] == {"org__slug": ["unknown field"]}


def test_error_shape_is_the_same_everywhere(api_client, alice: Member) -> None:
    not_found = api_client.get("/api/v1/no-such-route/")
    assert not_found.status_code == 404
    assert set(not_found.json()["error"]) == {"status", "code", "message", "fields"}
    unauthenticated = api_client.post("/api/v1/artifacts/", {})
    assert unauthenticated.json()["error"]["code"] == "not_authenticated"
    api_client.force_login(alice.user)
    invalid = api_client.post("/api/v1/artifacts/", {"organization": "org-a", "slug": "x", "kind": "rocket"})
    error = invalid.json()["error"]
    assert (error["status"], error["code"]) == (400, "invalid")
    assert error["fields"] == {"kind": ['"rocket" is not a valid choice.']}
    assert error["message"] == 'kind: "rocket" is not a valid choice.'
    nested = api_client.post(
        "/api/v1/versions/",
        {
            "artifact": "not-a-uuid",
            "number": "1",
            "license": "MIT",
            "compute": {"gpu_hours": -1},
            "lineage": [{"relation": "x"}],
        },
    )
    assert set(nested.json()["error"]["fields"]) == {"artifact", "compute.gpu_hours", "lineage[0].relation"}


def test_options_introspection_is_off(api_client) -> None:
    assert api_client.options("/api/v1/artifacts/").status_code in (401, 405)


def test_openapi_schema_documents_every_route_and_the_bearer_scheme(api_client) -> None:
    response = api_client.get("/api/v1/schema/")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    paths = set(schema["paths"])
    for path in (
        "/api/v1/versions/",
        "/api/v1/versions/{version_id}/lineage/",
        "/api/v1/artifacts/{artifact_id}/",
        "/api/v1/organizations/{org_slug}/tokens/",
        "/api/v1/organizations/{org_slug}/audit-events/",
        "/api/v1/me/",
    ):
        assert path in paths
    assert schema["components"]["securitySchemes"]["bearerToken"]["scheme"] == "bearer"
    docs = api_client.get("/api/v1/docs/")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content
    assert b"cdn" not in docs.content.lower()  # served from the vendored sidecar, no internet needed


def test_me_describes_the_token_and_its_capabilities(alice: Member, api_client) -> None:
    token, secret = alice.token("read")
    me = bearer(api_client, secret).get("/api/v1/me/").json()
    assert me["organizations"] == [{"slug": "org-a", "role": "owner", "capabilities": ["audit", "read"]}]
    assert me["token"]["scopes"] == ["read"]
    assert me["token"]["id"] == str(token.public_id)


def test_lineage_rows_are_written_with_the_version_or_not_at_all(alice: Member, api_client) -> None:
    api_client.force_login(alice.user)
    artifact = ArtifactFactory(organization=alice.organization)
    response = api_client.post(
        "/api/v1/versions/",
        {
            "artifact": str(artifact.public_id),
            "number": "1.0",
            "license": "MIT",
            "lineage": [
                {"relation": "derived_from", "hub_repo": "a/b", "revision": LLAMA_SHA, "license": "MIT"},
                {"relation": "derived_from", "hub_repo": "a/b", "revision": "main", "license": "MIT"},
            ],
        },
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "lineage[1]": ["revision must pin a commit: 40 lowercase hex characters"]
    }
    assert Version.objects.count() == 0
    assert LineageEdge.objects.count() == 0


def test_lists_page_by_cursor_without_skipping_or_repeating(alice: Member, api_client) -> None:
    api_client.force_login(alice.user)
    made = [VersionFactory(artifact=ArtifactFactory(organization=alice.organization)) for _ in range(7)]
    seen: list[str] = []
    response = api_client.get("/api/v1/versions/", {"page_size": 3}).json()
    while True:
        seen += [v["id"] for v in response["results"]]
        if response["next"] is None:
            break
        VersionFactory(artifact=ArtifactFactory(organization=alice.organization))  # a write while paging
        response = api_client.get(response["next"]).json()
    assert seen == [str(v.public_id) for v in reversed(made)]  # newest first, each exactly once


def test_the_api_root_links_to_the_collections_and_docs(api_client) -> None:
    response = api_client.get("/api/v1/")
    assert response.status_code == 200
    assert response.json()["versions"] == "http://testserver/api/v1/versions/"
    assert response.json()["docs"] == "http://testserver/api/v1/docs/"


def test_a_session_post_without_csrf_is_refused_and_writes_nothing(alice: Member) -> None:
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(alice.user)
    response = client.post("/api/v1/artifacts/", {"organization": "org-a", "slug": "x", "kind": "dataset"})
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]["message"]
    assert AuditEvent.objects.count() == 0
