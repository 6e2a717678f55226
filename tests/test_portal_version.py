"""The version page: lineage as a picture (only what the viewer may see), file downloads through
presigned URLs, the audit trail for those who may read it, and a bounded number of queries."""

from __future__ import annotations

import hashlib
import itertools
import re
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from jobs.models import Publication
from jobs.publication.hub import hub_web_url
from registry import storage
from registry.models import Blob, LineageEdge, Organization, Version, VersionFile
from registry.permissions import Role
from registry.selectors import LINEAGE_EDGES_PER_HOP, LINEAGE_MAX_NODES
from registry.services.audit import audit_record
from tests.conftest import Member
from tests.factories import ArtifactFactory, LineageEdgeFactory, OrganizationFactory, VersionFactory, member

pytestmark = pytest.mark.django_db
REVISION = "0123456789abcdef0123456789abcdef01234567"


def page_of(member: Member | None, version: Version) -> str:
    client = Client()
    if member is not None:
        client.force_login(member.user)
    response = client.get(f"/versions/{version.public_id}/")
    assert response.status_code == 200
    return response.content.decode()


def graph_of(page: str) -> str:
    found = re.search(r"<svg .*?</svg>", page, re.S)
    assert found, "the page draws the lineage"
    return found.group(0)


def version_of(org: Organization, slug: str, kind: str, **fields: object) -> Version:
    return VersionFactory(artifact=ArtifactFactory(organization=org, slug=slug, kind=kind), number="1.0", **fields)


def test_the_lineage_is_drawn_from_recipe_and_data_to_adapters_and_evals(alice: Member) -> None:
    org = alice.organization
    recipe = version_of(org, "sft-recipe", "posttraining_recipe")
    data = version_of(org, "web-text", "dataset")
    suite = version_of(org, "mmlu-mini", "eval_suite")
    tuned = version_of(org, "tiny-tuned", "checkpoint")
    adapter = version_of(org, "tiny-lora", "adapter")
    for relation, parent in (("produced_by", recipe), ("trained_on", data), ("evaluated_with", suite)):
        LineageEdge.objects.create(child=tuned, relation=relation, parent=parent)
    LineageEdge.objects.create(
        child=tuned,
        relation="derived_from",
        external_repo="meta-llama/Llama-3.1-8B",
        external_repo_type="model",
        external_revision=REVISION,
        external_license="LicenseRef-Llama-3.1",
    )
    LineageEdge.objects.create(child=adapter, relation="derived_from", parent=tuned)

    page = page_of(alice, tuned)
    svg = graph_of(page)
    for other in (recipe, data, suite, adapter):
        assert f'href="/versions/{other.public_id}/"' in svg
    assert f'href="/versions/{tuned.public_id}/"' not in svg, "the version itself is highlighted, not linked"
    assert "lineage-current" in svg
    assert f'href="{hub_web_url("model", "meta-llama/Llama-3.1-8B", revision=REVISION)}"' in svg
    for label in ("produced by", "trained on", "evaluated with", "derived from"):
        assert f">{label}</text>" in svg
    for layer in ("Recipes", "Data and environments", "Checkpoints", "Adapters", "Eval suites"):
        assert f">{layer}</text>" in svg
    links = page[page.index('class="lineage-links"') :]
    assert "meta-llama/Llama-3.1-8B" in links
    assert "LicenseRef-Llama-3.1" in links, "the text list keeps the Hub base's declared license"
    assert f'<a href="/versions/{adapter.public_id}/">org-a/tiny-lora</a>' in links


def test_an_invisible_parent_or_child_never_appears_not_even_its_name(
    alice: Member, charlie: Member, org_b: Organization
) -> None:
    mine = version_of(alice.organization, "mine", "checkpoint", state="published")
    secret_parent = version_of(org_b, "secret-base", "checkpoint", state="submitted")
    secret_grandparent = version_of(org_b, "secret-grandbase", "checkpoint", state="published")
    LineageEdge.objects.create(child=mine, relation="derived_from", parent=secret_parent)
    LineageEdge.objects.create(child=secret_parent, relation="derived_from", parent=secret_grandparent)
    secret_child = version_of(org_b, "secret-child", "adapter", state="draft")
    LineageEdge.objects.create(child=secret_child, relation="derived_from", parent=mine)

    page = page_of(alice, mine)
    for secret in ("secret-base", "secret-grandbase", "secret-child"):
        assert secret not in page
    assert str(secret_parent.public_id) not in page
    assert "more link" not in page, "what the viewer may not see is not counted either"
    assert "No lineage declared" in page

    theirs = page_of(charlie, mine)
    assert "secret-base" in theirs, "its own org sees the parent"
    assert "secret-child" in theirs


def test_ancestors_beyond_three_hops_are_counted_not_drawn(alice: Member) -> None:
    chain = [version_of(alice.organization, f"step-{i}", "checkpoint") for i in range(6)]
    for child, parent in itertools.pairwise(chain):
        LineageEdge.objects.create(child=child, relation="derived_from", parent=parent)
    svg = graph_of(page_of(alice, chain[0]))
    for near in chain[1:4]:
        assert f"/versions/{near.public_id}/" in svg
    for far in chain[4:]:
        assert f"/versions/{far.public_id}/" not in svg
    assert "+1 more link up the lineage not shown" in svg
    middle = page_of(alice, chain[3])
    assert f"/versions/{chain[0].public_id}/" in middle, "descendants are drawn too"
    assert f"/versions/{chain[5].public_id}/" in middle


def test_many_parents_are_cut_with_a_count(alice: Member) -> None:
    tuned = version_of(alice.organization, "tuned", "checkpoint")
    for i in range(LINEAGE_EDGES_PER_HOP + 6):
        data = version_of(alice.organization, f"shard-{i:02}", "dataset")
        LineageEdge.objects.create(child=tuned, relation="trained_on", parent=data)
    page = page_of(alice, tuned)
    assert graph_of(page).count('class="lineage-node"') == LINEAGE_EDGES_PER_HOP
    assert "6 more links up the lineage are not shown" in page


def test_the_picture_holds_a_bounded_number_of_nodes(alice: Member) -> None:
    org = alice.organization
    tuned = version_of(org, "tuned", "checkpoint")
    for i in range(LINEAGE_EDGES_PER_HOP):
        LineageEdge.objects.create(child=tuned, relation="trained_on", parent=version_of(org, f"d-{i:02}", "dataset"))
    for i in range(20):
        LineageEdge.objects.create(child=version_of(org, f"a-{i:02}", "adapter"), relation="derived_from", parent=tuned)
    page = page_of(alice, tuned)
    drawn = graph_of(page).count('class="lineage-node')
    assert drawn == LINEAGE_MAX_NODES
    assert f"{20 - (LINEAGE_MAX_NODES - 1 - LINEAGE_EDGES_PER_HOP)} more links down the lineage are not shown" in page


def _with_parents(alice: Member, count: int) -> Version:
    org = alice.organization
    tuned = version_of(org, f"tuned-{count}", "checkpoint")
    for i in range(count):
        data = version_of(org, f"data-{count}-{i}", "dataset")
        LineageEdge.objects.create(child=tuned, relation="trained_on", parent=data)
        LineageEdge.objects.create(
            child=version_of(org, f"child-{count}-{i}", "adapter"), relation="derived_from", parent=tuned
        )
    return tuned


def test_the_page_takes_the_same_queries_for_2_and_20_edges_each_way(alice: Member) -> None:
    client = Client()
    client.force_login(alice.user)
    counts = []
    for version in (_with_parents(alice, 2), _with_parents(alice, 20)):
        client.get(f"/versions/{version.public_id}/")  # warm the session and caches
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"/versions/{version.public_id}/").status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]
    assert counts[0] <= 25


def test_the_page_query_count_stays_bounded(alice: Member, django_assert_max_num_queries: Any) -> None:
    version = _with_parents(alice, 10)
    client = Client()
    client.force_login(alice.user)
    with django_assert_max_num_queries(25):
        assert client.get(f"/versions/{version.public_id}/").status_code == 200


def _stored_file(version: Version, path: str, data: bytes) -> VersionFile:
    digest = hashlib.sha256(data).hexdigest()
    org = version.artifact.organization
    blob = Blob.objects.create(organization=org, sha256=digest, size=len(data))
    storage.s3().put_object(Bucket=storage.settings.S3_BUCKET, Key=blob.key, Body=data)
    return VersionFile.objects.create(version=version, path=path, size=len(data), sha256=digest, blob=blob)


def test_a_file_downloads_through_a_presigned_url_under_its_base_name(
    alice: Member, s3_bucket: str, django_assert_max_num_queries: Any
) -> None:
    version = version_of(alice.organization, "tiny", "checkpoint")
    file = _stored_file(version, 'shards/we"ird name;.json', b'{"ok": true}')
    client = Client()
    client.force_login(alice.user)
    page = client.get(f"/versions/{version.public_id}/").content.decode()
    url = f"/versions/{version.public_id}/files/{file.pk}/download/"
    assert f'href="{url}"' in page
    with django_assert_max_num_queries(6):  # session, user, memberships, version, file
        response = client.get(url)
    assert response.status_code == 302
    assert response["Cache-Control"] == "private, no-store"
    assert response["Location"].startswith(storage.settings.S3_PUBLIC_ENDPOINT_URL)
    assert "shards" not in response["Location"].split("?")[0], "the key comes from the blob, not the name"
    fetched = httpx.get(response["Location"])
    assert fetched.content == b'{"ok": true}'
    disposition = fetched.headers["content-disposition"]
    assert disposition.startswith("attachment; filename*=UTF-8''")
    assert unquote(disposition.split("''", 1)[1]) == 'we"ird name;.json'


def test_downloads_are_404_for_invisible_versions_unknown_and_missing_files(
    alice: Member, charlie: Member, s3_bucket: str
) -> None:
    version = version_of(alice.organization, "tiny", "checkpoint")
    stored = _stored_file(version, "model.safetensors", b"weights")
    missing = VersionFile.objects.create(version=version, path="late.bin", size=3, sha256="ab" * 32)
    other = version_of(alice.organization, "other", "checkpoint")
    foreign = _stored_file(other, "other.bin", b"other")
    base = f"/versions/{version.public_id}/files"
    client = Client()
    assert client.get(f"{base}/{stored.pk}/download/").status_code == 404, "anonymous"
    client.force_login(charlie.user)
    assert client.get(f"{base}/{stored.pk}/download/").status_code == 404, "another org"
    client.force_login(alice.user)
    assert client.get(f"{base}/{foreign.pk}/download/").status_code == 404, "a file of another version"
    assert client.get(f"{base}/999999/download/").status_code == 404
    assert client.get(f"{base}/{'9' * 30}/download/").status_code == 404, "beyond any id, still a 404"
    not_uploaded = client.get(f"{base}/{missing.pk}/download/")
    assert not_uploaded.status_code == 404
    page = client.get(f"/versions/{version.public_id}/").content.decode()
    assert f"/files/{missing.pk}/download/" not in page
    assert "not uploaded yet" in page


def test_the_audit_trail_shows_to_those_who_may_read_the_orgs_audit_log(
    alice: Member, bob: Member, charlie: Member, steward: Member
) -> None:
    version = version_of(alice.organization, "tiny", "checkpoint", state="published")
    other = version_of(alice.organization, "other", "checkpoint")
    for action in ("version.created", "version.finalized", "version.published"):
        audit_record(actor=alice.actor, action=action, target=version, organization=alice.organization)
    audit_record(
        actor=alice.actor, action="version.deleted", target=other, organization=alice.organization, data={"n": 1}
    )

    owner = page_of(alice, version)
    assert "Audit trail" in owner
    trail = owner[owner.index('id="audit-heading"') :]
    assert trail.index("version.published") < trail.index("version.finalized") < trail.index("version.created")
    assert "version.deleted" not in trail, "another version's events stay on its own page"
    assert "version.published" in page_of(steward, version)
    viewer = page_of(bob, version)
    assert "version.created" not in viewer
    assert "shown to owners and maintainers" in viewer
    for outsider in (charlie, None):
        page = page_of(outsider, version)
        assert "Audit trail" not in page
        assert "version.created" not in page


def test_the_audit_trail_is_bounded_newest_first(alice: Member) -> None:
    version = version_of(alice.organization, "tiny", "checkpoint")
    for i in range(55):
        audit_record(actor=alice.actor, action=f"check.n{i:02}", target=version, organization=alice.organization)
    page = page_of(alice, version)
    assert "check.n54" in page
    assert "check.n05" in page
    assert "check.n04" not in page
    assert "The 50 newest events are shown" in page


def test_a_draft_links_to_its_upload_page_for_those_who_may_push(alice: Member, bob: Member) -> None:
    draft = version_of(alice.organization, "tiny", "checkpoint")
    upload = f'href="/versions/{draft.public_id}/upload/"'
    assert upload in page_of(alice, draft)
    assert upload not in page_of(bob, draft), "a viewer cannot push"
    Version.objects.filter(pk=draft.pk).update(state="submitted")
    draft.refresh_from_db()
    assert upload not in page_of(alice, draft)


def test_the_header_sums_up_the_version_and_links_its_hub_release(alice: Member, s3_bucket: str) -> None:
    version = version_of(
        alice.organization, "tiny", "checkpoint", state="published", license="Apache-2.0", release_target="hub"
    )
    _stored_file(version, "a.bin", b"x" * 2048)
    _stored_file(version, "b.bin", b"y" * 1024)
    Publication.objects.create(
        version=version,
        status="published",
        repo_type="model",
        repo_id="hub-org-a/tiny",
        tag="v1.0",
        manifest_sha256="0" * 64,
        metadata_sha256="0" * 64,
        commit_oid="f" * 40,
        commit_url="http://hub.test/hub-org-a/tiny/commit/" + "f" * 40,
    )
    page = page_of(None, version)
    assert "3.0\xa0KB in 2 files" in page
    assert "Apache-2.0" in page
    assert "Hugging Face Hub" in page
    assert f'href="{hub_web_url("model", "hub-org-a/tiny", revision="v1.0")}"' in page
    for heading in ("Checks", "Files", "Lineage", "Review", "Publication"):
        assert f">{heading}" in page


def test_a_reviewer_sees_the_parent_of_work_awaiting_review_and_its_owner_does_not(
    alice: Member, charlie: Member
) -> None:
    parent = version_of(alice.organization, "org-only-base", "checkpoint", state="approved")
    child = version_of(charlie.organization, "under-review", "checkpoint", state="in_review")
    LineageEdgeFactory(child=child, relation="derived_from", parent=parent)
    org_c = OrganizationFactory(slug="org-c")
    rex = Member(member(org_c, Role.VIEWER, username="rex", is_reviewer=True), org_c)
    assert f"/versions/{parent.public_id}/" in graph_of(page_of(rex, child))
    assert "org-only-base" not in page_of(charlie, child), "org B is not shown org A's org-only work"


def test_a_reviewer_gets_no_decision_form_on_their_own_orgs_version(alice: Member) -> None:
    from django.test import Client

    from tests.factories import member as make_member

    version = VersionFactory(artifact=ArtifactFactory(organization=alice.organization), state="in_review")
    client = Client()
    client.force_login(make_member(alice.organization, "viewer", username="own-reviewer", is_reviewer=True))
    page = client.get(f"/versions/{version.public_id}/").content.decode()
    assert 'name="decision"' not in page
