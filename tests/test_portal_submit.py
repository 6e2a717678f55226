"""Submitting from the portal: a draft through the same service checks as the API, its upload page
(and the CLI commands it shows), deleting a draft, and the bucket's CORS rule for browser uploads."""

from __future__ import annotations

import hashlib
import html
import re
import shlex
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from consortium_cli import main as cli
from django.core.management import call_command
from django.test import Client

from registry import storage
from registry.models import Artifact, AuditEvent, Version, VersionFile
from registry.permissions import Role
from tests.conftest import Member
from tests.factories import ArtifactFactory, OrganizationFactory, VersionFactory, member

pytestmark = pytest.mark.django_db

REVISION = "a" * 40


def _client(who: Member) -> Client:
    client = Client()
    client.force_login(who.user)
    return client


def _form(**changes: str) -> dict[str, str]:
    data = {
        "organization": "org-a",
        "target": "new",
        "slug": "tiny-llama",
        "kind": "checkpoint",
        "sharing": "org",
        "description": "A tiny model for tests.",
        "number": "1.0.0",
        "license": "apache-2.0",
        "release_target": "hub",
        "readme": "Intended use: tests.",
        "metadata": "",
        "lineage": "",
    }
    data.update(changes)
    return data


def test_a_member_creates_a_new_artifact_and_its_draft(alice: Member) -> None:
    lineage = (
        '[{"relation": "derived_from", "hub_repo": "meta-llama/Llama-3.1-8B", '
        f'"revision": "{REVISION}", "license": "LicenseRef-Llama-3.1"}}]'
    )
    response = _client(alice).post(
        "/submit/", _form(metadata='{"context_length": 2048}', lineage=lineage, gpu_hours="12.5", hardware="8xH100")
    )
    version = Version.objects.get(artifact__slug="tiny-llama")
    assert response.status_code == 302
    assert response["Location"] == f"/versions/{version.public_id}/upload/"
    assert (version.state, version.number, version.license) == ("draft", "1.0.0", "Apache-2.0")
    assert version.metadata == {"context_length": 2048}
    assert version.compute == {"gpu_hours": 12.5, "hardware": "8xH100"}
    assert version.artifact.description == "A tiny model for tests."
    edge = version.parent_edges.get()
    assert (edge.external_repo, edge.external_revision, edge.external_license) == (
        "meta-llama/Llama-3.1-8B",
        REVISION,
        "LicenseRef-Llama-3.1",
    )
    actions = set(AuditEvent.objects.filter(organization=alice.organization).values_list("action", flat=True))
    assert {"artifact.created", "version.created"} <= actions


def test_a_new_version_of_an_existing_artifact(alice: Member) -> None:
    artifact = ArtifactFactory(organization=alice.organization, slug="base", kind="dataset")
    response = _client(alice).post(
        "/submit/", _form(target="existing", artifact=str(artifact.public_id), slug="", kind="", number="2.0")
    )
    assert response.status_code == 302
    assert list(artifact.versions.values_list("number", flat=True)) == ["2.0"]
    assert Artifact.objects.filter(organization=alice.organization).count() == 1


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"license": "not a license ((("}, "license", "license"),
        ({"number": "v1"}, "number", "semver-like"),
        ({"metadata": "{not json"}, "metadata", "not valid JSON"),
        ({"metadata": "[1, 2]"}, "metadata", "JSON object"),
        ({"slug": "", "kind": ""}, "slug", "a new artifact needs a name"),
        ({"slug": "Bad Slug!"}, "slug", ""),
        ({"lineage": '[{"relation": "derived_from", "hub_repo": "x/y", "revision": "abc"}]'}, "lineage", "entry 1"),
        ({"lineage": '[{"relation": "invented"}]'}, "lineage", "entry 1, relation"),
        ({"release_target": "consortium", "release_at": "2030-01-01T00:00"}, "release_at", "embargo"),
    ],
)
def test_bad_input_is_named_next_to_its_field_and_nothing_is_created(
    alice: Member, changes: dict[str, str], field: str, message: str
) -> None:
    response = _client(alice).post("/submit/", _form(**changes))
    page = response.content.decode()
    assert response.status_code == 400
    assert f'id="id_{field}_error"' in page, f"the error sits next to {field}"
    assert message in page
    assert not Artifact.objects.exists(), "no artifact is left behind when its version is refused"
    assert not Version.objects.exists()


def test_a_version_refused_by_the_service_leaves_no_new_artifact(alice: Member) -> None:
    """The artifact is created first; the version's lineage is refused after: both roll back."""
    missing = "00000000-0000-0000-0000-000000000000"
    response = _client(alice).post(
        "/submit/", _form(lineage=f'[{{"relation": "derived_from", "version": "{missing}"}}]')
    )
    assert response.status_code == 400
    assert f"entry 1: version &#x27;{missing}&#x27; not found" in response.content.decode()
    assert not Artifact.objects.exists()
    assert not AuditEvent.objects.filter(action="artifact.created").exists()


def test_an_existing_slug_is_a_clear_conflict(alice: Member) -> None:
    ArtifactFactory(organization=alice.organization, slug="tiny-llama")
    response = _client(alice).post("/submit/", _form())
    assert response.status_code == 400
    assert "&#x27;org-a/tiny-llama&#x27; already exists: choose another name" in response.content.decode()


def test_a_viewer_cannot_submit(bob: Member) -> None:
    client = _client(bob)
    page = client.get("/submit/").content.decode()
    assert "You may not push in any organization" in page
    assert '<form method="post" class="submit"' not in page
    response = client.post("/submit/", _form())
    assert response.status_code == 400
    assert not Artifact.objects.exists()


def test_another_orgs_org_or_artifact_cannot_be_chosen(alice: Member, charlie: Member) -> None:
    theirs = ArtifactFactory(organization=charlie.organization, slug="theirs")
    client = _client(alice)
    response = client.post("/submit/", _form(organization="org-b"))
    assert response.status_code == 400
    assert "&#x27;org-b&#x27; is not an organization you may push to" in response.content.decode()
    response = client.post("/submit/", _form(target="existing", artifact=str(theirs.public_id)))
    assert response.status_code == 400
    assert "not one you may push to" in response.content.decode()
    assert not theirs.versions.exists()
    assert not Artifact.objects.filter(organization=alice.organization).exists()


def test_the_active_org_is_the_default(alice: Member) -> None:
    other = OrganizationFactory(slug="org-c", name="Org C")
    member(other, Role.CONTRIBUTOR, username="alice")
    client = _client(alice)
    assert '<option value="org-a" selected>' in client.get("/submit/").content.decode()
    session = client.session
    session["active_org"] = "org-c"
    session.save()
    assert '<option value="org-c" selected>' in client.get("/submit/").content.decode()


def test_sign_in_is_required() -> None:
    response = Client().get("/submit/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_the_submit_page_reads_in_a_few_queries(alice: Member, django_assert_max_num_queries) -> None:
    for i in range(12):
        ArtifactFactory(organization=alice.organization, slug=f"artifact-{i}")
    client = _client(alice)
    with django_assert_max_num_queries(8):
        assert client.get("/submit/").status_code == 200


# The upload page


@pytest.fixture
def draft(alice: Member) -> Version:
    artifact = ArtifactFactory(organization=alice.organization, slug="tiny-llama")
    return VersionFactory(artifact=artifact, number="1.0.0", readme="Intended use: tests.", metadata={"layers": 2})


def test_the_upload_page_is_for_the_orgs_pushers(alice: Member, bob: Member, charlie: Member, draft: Version) -> None:
    url = f"/versions/{draft.public_id}/upload/"
    assert _client(charlie).get(url).status_code == 404
    assert Client().get(url).status_code == 302
    viewer = _client(bob).get(url)
    assert viewer.status_code == 403
    assert 'id="uploader"' not in viewer.content.decode()
    page = _client(alice).get(url).content.decode()
    assert 'id="uploader"' in page
    assert 'src="/static/registry/upload.js"' in page
    assert "consortium --url http" in page
    assert "Delete the draft" in page


def test_a_finalized_version_offers_no_upload(alice: Member, draft: Version) -> None:
    Version.objects.filter(pk=draft.pk).update(state="submitted")
    page = _client(alice).get(f"/versions/{draft.public_id}/upload/").content.decode()
    assert "its files never change" in page
    assert 'id="uploader"' not in page
    assert "Delete the draft" not in page


def test_the_upload_page_reads_in_a_few_queries(alice: Member, draft: Version, django_assert_max_num_queries) -> None:
    for i in range(20):
        VersionFile.objects.create(version=draft, path=f"shard-{i}.bin", size=i, sha256=f"{i:064x}")
    client = _client(alice)
    with django_assert_max_num_queries(8):
        page = client.get(f"/versions/{draft.public_id}/upload/")
    assert page.content.decode().count("upload progress") == 20


def _shown_commands(client: Client, draft: Version) -> str:
    page = client.get(f"/versions/{draft.public_id}/upload/").content.decode()
    return html.unescape(page.split('<pre id="cli-commands"', 1)[1].split(">", 1)[1].split("</pre>", 1)[0])


@pytest.mark.django_db(transaction=True)
def test_the_cli_commands_push_to_this_very_draft(
    alice: Member, draft: Version, tmp_path: Path, live_server, s3_bucket: str, settings, monkeypatch, capsys
) -> None:
    """The commands the page shows, run as shown with the real CLI against a live registry, push
    the directory's files to this draft (the same declarations: no conflict) and finalize it."""
    settings.PUBLIC_URL = live_server.url
    parent = VersionFactory(
        artifact=ArtifactFactory(organization=alice.organization, kind="dataset"), state="published"
    )
    draft.parent_edges.create(relation="trained_on", parent=parent)
    draft.parent_edges.create(
        relation="derived_from",
        external_repo="org/base",
        external_repo_type="model",
        external_revision=REVISION,
        external_license="MIT",
    )
    Version.objects.filter(pk=draft.pk).update(
        compute={"gpu_hours": 3.0}, release_at=datetime(2030, 1, 2, 3, 4, tzinfo=UTC)
    )
    client = _client(alice)
    commands = _shown_commands(client, draft)
    directory = tmp_path / "push"
    directory.mkdir()
    (directory / "consortium.yaml").write_text(
        commands.split("<<'CONSORTIUM_YAML'\n", 1)[1].split("\nCONSORTIUM_YAML", 1)[0]
    )
    readme = client.get(f"/versions/{draft.public_id}/upload/readme/")
    (tmp_path / "README-tiny-llama-1.0.0.md").write_bytes(readme.content)
    (directory / "weights.bin").write_bytes(b"large weights")

    _, secret = alice.token("read", "push")
    monkeypatch.setenv("CONSORTIUM_TOKEN", secret)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.chdir(directory)
    shown = [shlex.split(line.split("#", 1)[0]) for line in commands.splitlines() if line.startswith("consortium ")]
    assert [argv[3] for argv in shown] == ["login", "push"]
    argv = shown[1]
    assert argv == ["consortium", "--url", live_server.url, "push", "."]
    assert cli.main(["-q", *argv[1:]]) == 0, capsys.readouterr().err

    draft.refresh_from_db()
    assert draft.state == Version.State.SUBMITTED
    assert list(draft.files.values_list("path", flat=True)) == ["weights.bin"], "the README is not pushed as a file"


# Deleting a draft


def test_a_pusher_deletes_a_draft_once_confirmed(alice: Member, draft: Version) -> None:
    client = _client(alice)
    url = f"/versions/{draft.public_id}/delete/"
    unconfirmed = client.post(url, follow=True)
    assert "Nothing was deleted" in unconfirmed.content.decode()
    assert Version.objects.get(pk=draft.pk).state == "draft"
    response = client.post(url, {"confirm": "yes"})
    assert response["Location"] == f"/artifacts/{draft.artifact.public_id}/"
    assert Version.objects.get(pk=draft.pk).state == "deleted"
    assert AuditEvent.objects.filter(action="version.deleted", target_id=str(draft.public_id)).exists()


def test_a_viewer_or_another_org_cannot_delete(bob: Member, charlie: Member, draft: Version) -> None:
    url = f"/versions/{draft.public_id}/delete/"
    assert _client(charlie).post(url, {"confirm": "yes"}).status_code == 404
    refused = _client(bob).post(url, {"confirm": "yes"}, follow=True)
    assert "lack the &#x27;push&#x27; capability" in refused.content.decode()
    assert _client(bob).get(url).status_code == 405
    assert Version.objects.get(pk=draft.pk).state == "draft"


def test_a_finalized_version_cannot_be_deleted(alice: Member, draft: Version) -> None:
    Version.objects.filter(pk=draft.pk).update(state="submitted")
    refused = _client(alice).post(f"/versions/{draft.public_id}/delete/", {"confirm": "yes"}, follow=True)
    assert "submitted → deleted is not allowed" in refused.content.decode()
    assert Version.objects.get(pk=draft.pk).state == "submitted"


# The bucket's CORS rule


def _presigned_part_url() -> str:
    key = storage.safe_key(org_id=1, sha256=hashlib.sha256(b"x").hexdigest())
    upload_id = storage.multipart_start(key)
    return storage.part_urls(key, upload_id, {1: 1}, expires=60)[1]


def _preflight(url: str, origin: str) -> httpx.Response:
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "content-type",
    }
    return httpx.options(url, headers=headers, timeout=10)


def test_the_bucket_lets_the_portals_origin_upload_and_refuses_others(s3_bucket: str, settings) -> None:
    settings.S3_CORS_ORIGINS = ["https://portal.example.org"]
    storage.bucket_ensure()
    rules = storage.s3().get_bucket_cors(Bucket=s3_bucket)["CORSRules"]
    assert rules[0]["AllowedOrigins"] == ["https://portal.example.org"]
    assert rules[0]["ExposeHeaders"] == ["ETag"]

    url = _presigned_part_url()
    allowed = _preflight(url, "https://portal.example.org")
    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://portal.example.org"
    assert "PUT" in allowed.headers["Access-Control-Allow-Methods"]
    put = httpx.put(url, content=b"x", headers={"Origin": "https://portal.example.org"}, timeout=10)
    assert put.status_code == 200
    assert "etag" in put.headers.get("Access-Control-Expose-Headers", "").lower()

    refused = _preflight(url, "https://elsewhere.example.com")
    assert refused.status_code == 403
    assert "Access-Control-Allow-Origin" not in refused.headers


def test_storage_init_applies_the_setting_and_an_empty_one_leaves_cors_alone(s3_bucket: str, settings) -> None:
    settings.S3_CORS_ORIGINS = ["http://127.0.0.1:8000"]
    call_command("storage_init", timeout=10)
    assert storage.s3().get_bucket_cors(Bucket=s3_bucket)["CORSRules"][0]["AllowedOrigins"] == ["http://127.0.0.1:8000"]
    settings.S3_CORS_ORIGINS = []
    call_command("storage_init", timeout=10)
    assert storage.s3().get_bucket_cors(Bucket=s3_bucket)["CORSRules"][0]["AllowedOrigins"] == ["http://127.0.0.1:8000"]


def test_a_link_from_an_artifact_preselects_it(alice: Member) -> None:
    artifact = ArtifactFactory(organization=alice.organization, slug="base")
    page = _client(alice).get(f"/submit/?artifact={artifact.public_id}").content.decode()
    assert f'<option value="{artifact.public_id}" selected>' in page
    assert re.search(r'<input type="radio" name="target" value="existing"[^>]* checked>', page)
