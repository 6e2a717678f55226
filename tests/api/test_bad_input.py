"""Bad input gets a 4xx naming the field and the problem, and nothing is written."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from registry.models import Artifact, AuditEvent, LineageEdge, Organization, Version
from tests.conftest import Member, bearer
from tests.factories import ArtifactFactory, VersionFactory

pytestmark = pytest.mark.django_db
SHA = "0e9e39f249a16976918f6564b8830bc894c89659"


def _counts() -> list[int]:
    return [m.objects.count() for m in (Organization, Artifact, Version, LineageEdge, AuditEvent)]


class Refused:
    """A test client whose every request must leave the database as it found it."""

    def __init__(self, client: APIClient) -> None:
        self.client = client

    def __getattr__(self, method: str) -> Callable[..., Any]:
        call = getattr(self.client, method)

        def checked(*args: Any, **kwargs: Any) -> Any:
            before = _counts()
            response = call(*args, **kwargs)
            assert _counts() == before, f"a refused {method.upper()} wrote rows: {response.content!r}"
            return response

        return checked


@pytest.fixture
def owner_client(alice: Member, api_client: APIClient) -> Refused:
    api_client.force_login(alice.user)
    return Refused(api_client)


def field_errors(response, status: int = 400) -> dict[str, list[str]]:
    assert response.status_code == status, response.content
    return response.json()["error"]["fields"]


@pytest.mark.parametrize("slug", ["Bad Slug", "-leading", "trailing-", "a" * 65, "../etc", "naïve", "under_score", ""])
def test_malformed_artifact_slugs(owner_client, slug: str) -> None:
    response = owner_client.post("/api/v1/artifacts/", {"organization": "org-a", "slug": slug, "kind": "dataset"})
    assert "slug" in field_errors(response)


def test_unknown_kind_and_sharing(owner_client) -> None:
    errors = field_errors(
        owner_client.post(
            "/api/v1/artifacts/", {"organization": "org-a", "slug": "ok", "kind": "model", "sharing": "public"}
        )
    )
    assert set(errors) == {"kind", "sharing"}


@pytest.mark.parametrize(
    "number", ["v1", "1.2.3.4", "01.2", "1..2", "1.2.3-", "latest", "1.0/../x", "1.0+build", "1.-1"]
)
def test_version_numbers_that_are_not_semver_like(owner_client, alice: Member, number: str) -> None:
    artifact = ArtifactFactory(organization=alice.organization)
    errors = field_errors(
        owner_client.post(
            "/api/v1/versions/", {"artifact": str(artifact.public_id), "number": number, "license": "MIT"}
        )
    )
    assert errors == {"number": ["a version number is semver-like: 1, 1.2, 1.2.3 or 1.2.3-rc.1"]}


@pytest.mark.parametrize(
    ("license", "problem"),
    [
        ("foo-bar", "unknown SPDX license id(s) ['foo-bar']"),
        ("MIT AND", "not a valid SPDX expression"),
        ("MIT WITH Apache-2.0", "not a valid SPDX expression"),
        ("(MIT", "not a valid SPDX expression"),
        ("llama3.1", "unknown SPDX license id(s) ['llama3.1']"),
    ],
)
def test_licenses_that_are_not_spdx_expressions(owner_client, alice: Member, license: str, problem: str) -> None:
    artifact = ArtifactFactory(organization=alice.organization)
    errors = field_errors(
        owner_client.post(
            "/api/v1/versions/", {"artifact": str(artifact.public_id), "number": "1.0", "license": license}
        )
    )
    assert problem in errors["license"][0]


def test_a_missing_license_is_named(owner_client, alice: Member) -> None:
    artifact = ArtifactFactory(organization=alice.organization)
    errors = field_errors(owner_client.post("/api/v1/versions/", {"artifact": str(artifact.public_id), "number": "1"}))
    assert errors == {"license": ["This field is required."]}


def test_lineage_to_invisible_nonexistent_deleted_draft_or_wrong_kind_versions(
    owner_client, alice: Member, charlie: Member
) -> None:
    artifact = ArtifactFactory(organization=alice.organization)
    others_draft = VersionFactory(artifact=ArtifactFactory(organization=charlie.organization, sharing="consortium"))
    deleted = VersionFactory(artifact=ArtifactFactory(organization=alice.organization), state="deleted")
    own_draft = VersionFactory(artifact=ArtifactFactory(organization=alice.organization))
    dataset = VersionFactory(
        artifact=ArtifactFactory(organization=alice.organization, kind="dataset"), state="submitted"
    )
    missing = "00000000-0000-4000-8000-000000000000"
    lineage = [
        {"relation": "derived_from", "version": str(others_draft.public_id)},
        {"relation": "derived_from", "version": missing},
        {"relation": "derived_from", "version": "../../etc/passwd"},
        {"relation": "derived_from", "version": str(deleted.public_id)},
        {"relation": "derived_from", "version": str(own_draft.public_id)},
        {"relation": "derived_from", "version": str(dataset.public_id)},
        {"relation": "derived_from", "hub_repo": "not a repo", "revision": SHA, "license": "MIT"},
        {"relation": "derived_from", "hub_repo": "a/b", "revision": SHA, "license": "nope"},
        {"relation": "derived_from", "hub_repo": "a/b", "version": missing},
        {"relation": "trained_on", "version": str(dataset.public_id)},
        {"relation": "trained_on", "version": str(dataset.public_id)},
    ]
    errors = field_errors(
        owner_client.post(
            "/api/v1/versions/",
            {"artifact": str(artifact.public_id), "number": "1.0", "license": "MIT", "lineage": lineage},
        )
    )
    assert errors == {
        "lineage[0]": [f"version '{others_draft.public_id}' not found"],  # invisible reads as nonexistent
        "lineage[1]": [f"version '{missing}' not found"],
        "lineage[2]": ["version '../../etc/passwd' not found"],
        "lineage[3]": [f"version '{deleted.public_id}' not found"],
        "lineage[4]": [f"version '{own_draft.public_id}' is a draft; lineage points at finalized versions"],
        "lineage[5]": ["derived_from must point at a adapter or checkpoint, not a dataset"],
        "lineage[6]": ["hub_repo 'not a repo' is not a Hub repo id like 'namespace/name'"],
        "lineage[7]": [
            "license: unknown SPDX license id(s) ['nope']; use an id from the SPDX list (like 'Apache-2.0') "
            "or name another license as 'LicenseRef-<name>'"
        ],
        "lineage[8]": ["give either 'version' (a registry version id) or 'hub_repo', not both"],
        "lineage[10]": ["repeats lineage[9]"],
    }


def test_a_reviewer_cannot_tie_its_orgs_work_to_a_private_version_it_reviews(
    alice: Member, charlie: Member, api_client
) -> None:
    under_review = VersionFactory(artifact=ArtifactFactory(organization=alice.organization), state="in_review")
    charlie.user.is_reviewer = True
    charlie.user.save()
    api_client.force_login(charlie.user)
    assert api_client.get(f"/api/v1/versions/{under_review.public_id}/").status_code == 200  # may read it
    artifact = ArtifactFactory(organization=charlie.organization)
    body = {
        "artifact": str(artifact.public_id),
        "number": "1",
        "license": "MIT",
        "lineage": [{"relation": "derived_from", "version": str(under_review.public_id)}],
    }
    errors = field_errors(Refused(api_client).post("/api/v1/versions/", body))
    assert errors == {"lineage[0]": [f"version '{under_review.public_id}' not found"]}


def test_a_token_of_org_a_cannot_act_on_org_b(alice: Member, charlie: Member, api_client) -> None:
    _, secret = alice.token("read", "push")
    client = Refused(bearer(api_client, secret))
    b_private = VersionFactory(artifact=ArtifactFactory(organization=charlie.organization))
    b_published = VersionFactory(artifact=ArtifactFactory(organization=charlie.organization), state="published")
    assert (
        client.post("/api/v1/artifacts/", {"organization": "org-b", "slug": "x", "kind": "dataset"}).status_code == 403
    )
    response = client.post(
        "/api/v1/versions/", {"artifact": str(b_published.artifact.public_id), "number": "2", "license": "MIT"}
    )
    assert response.status_code == 403
    assert response.json()["error"]["message"] == "this token (scopes ['push', 'read']) cannot 'push' in 'org-b'"
    response = client.post(
        "/api/v1/versions/", {"artifact": str(b_private.artifact.public_id), "number": "2", "license": "MIT"}
    )
    assert field_errors(response) == {"artifact": ["not found"]}
    assert client.delete(f"/api/v1/versions/{b_private.public_id}/").status_code == 404
    assert client.delete(f"/api/v1/versions/{b_published.public_id}/").status_code == 403


def test_refusals_by_the_policy_and_by_services_share_one_code(alice: Member, bob: Member, api_client) -> None:
    artifact = ArtifactFactory(organization=alice.organization)
    api_client.force_login(bob.user)  # a viewer
    by_policy = Refused(api_client).patch(f"/api/v1/artifacts/{artifact.public_id}/", {"description": "x"})
    by_service = Refused(api_client).post(
        "/api/v1/artifacts/", {"organization": "org-a", "slug": "x", "kind": "dataset"}
    )
    assert by_policy.status_code == by_service.status_code == 403
    assert by_policy.json()["error"]["code"] == by_service.json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize(
    ("url", "params", "field"),
    [
        ("/api/v1/versions/", {"cursor": "garbage"}, "cursor"),
        ("/api/v1/versions/", {"page_size": "0"}, "page_size"),
        ("/api/v1/organizations/", {"sort": "name"}, "sort"),
        ("/api/v1/organizations/org-a/memberships/", {"role": "owner"}, "role"),
    ],
)
def test_malformed_or_unknown_list_parameters_are_400(owner_client, url: str, params: dict, field: str) -> None:
    assert field in field_errors(owner_client.get(url, params))


def test_a_wrong_scope_token_is_refused_naming_the_scope(alice: Member, api_client) -> None:
    _, secret = alice.token("read")
    response = Refused(bearer(api_client, secret)).post(
        "/api/v1/artifacts/", {"organization": "org-a", "slug": "x", "kind": "dataset"}
    )
    assert response.status_code == 403
    assert response.json()["error"]["message"] == "this token (scopes ['read']) cannot 'push' in 'org-a'"


@pytest.mark.parametrize(
    ("field", "value"),
    [("country", "XX"), ("country", "France"), ("hub_namespace", "bad namespace!"), ("slug", "Org A")],
)
def test_onboarding_an_org_validates_every_field(
    steward: Member, charlie: Member, api_client, field: str, value: str
) -> None:
    api_client.force_login(steward.user)
    body = {"name": "New Lab", "slug": "new-lab", "country": "DE", "hub_namespace": "new-lab", "owner": "charlie"}
    body[field] = value
    assert field in field_errors(Refused(api_client).post("/api/v1/organizations/", body))


def test_unknown_body_fields_are_refused_not_ignored(owner_client) -> None:
    errors = field_errors(
        owner_client.post(
            "/api/v1/artifacts/", {"organization": "org-a", "slug": "ok", "kind": "dataset", "organisation": "org-b"}
        )
    )
    assert errors == {"organisation": ["unknown field"]}
