"""Publication to the Hub against the local Hub-protocol server, with the real huggingface_hub
client: one commit and one tag per version whatever fails, verification against the approved
manifest, embargo, refusals and withdrawal."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.utils import timezone
from huggingface_hub import CommitOperationAdd, HfApi, ModelCard, hf_hub_download, snapshot_download

from consortium.devhub import DevHub
from jobs.models import EvalResult, Publication
from jobs.pipeline import Heartbeat, LeaseLost
from jobs.publication import publish as publish_module
from jobs.publication.hub import hub_api
from jobs.publication.publish import publication_claim, publication_execute, publication_reconcile, publication_retry
from jobs.publication.withdraw import artifact_withdraw, version_withdraw
from registry.actors import Actor
from registry.errors import Conflict, UpstreamFailed
from registry.models import AuditEvent, Organization, Version
from registry.permissions import Role
from registry.services.reviews import review_decide
from registry.services.versions import version_create
from tests import factories
from tests.conftest import Member
from tests.jobs.conftest import StoredVersion
from tests.jobs.test_faults import database_url

pytestmark = pytest.mark.django_db
State = Version.State
WEIGHTS = os.urandom(256 * 1024)


def files(**extra: bytes) -> dict[str, bytes]:
    return {
        "model.safetensors": WEIGHTS,
        "config.json": b'{"model_type": "llama", "num_hidden_layers": 2}',
        "README.md": b"Intended use: tests.\n",
        **extra,
    }


@pytest.fixture
def approve(stored_version: StoredVersion, alice: Member, org_b: Organization):
    """approve(files, **version_fields) → a version of org A approved by org B's reviewer."""
    rita = Actor.for_user(factories.member(org_b, Role.VIEWER, username="rita", is_reviewer=True))
    artifact = factories.ArtifactFactory(organization=alice.organization, slug="tiny-llama", created_by=alice.user)

    def make(content: dict[str, bytes], number: str = "1.0.0", **fields: Any) -> Version:
        fields.setdefault("readme", content.get("README.md", b"").decode())
        version = stored_version(
            "checkpoint", content, artifact=artifact, state=State.IN_REVIEW, number=number, **fields
        )
        review_decide(actor=rita, version=version, decision="approve")
        version.refresh_from_db()
        return version

    return make


def publish(version: Version) -> str:
    return publication_execute(Publication.objects.get(version=version).pk)


def due_now(version: Version) -> None:
    Publication.objects.filter(version=version).update(not_before=None, lease_expires_at=None)


def marked(hub: DevHub, version: Version) -> list[Any]:
    repo = hub.repo("model", Publication.objects.get(version=version).repo_id)
    assert repo is not None
    return [c for c in repo.commit_list if str(version.public_id) in c.message]


def assert_once(hub: DevHub, version: Version) -> None:
    publication = Publication.objects.get(version=version)
    repo = hub.repo(publication.repo_type, publication.repo_id)
    commits = marked(hub, version)
    assert len(commits) == 1, [c.title for c in repo.commit_list]
    assert repo.tags == {**repo.tags, publication.tag: commits[0].oid}
    assert sum(1 for tag, oid in repo.tags.items() if oid == commits[0].oid) == 1
    assert (publication.status, publication.commit_oid) == ("published", commits[0].oid)
    assert Version.objects.get(pk=version.pk).state == State.PUBLISHED


def test_an_approved_version_is_published_as_one_commit_and_one_tag_and_verified(
    hub: DevHub, approve, tmp_path: Path
) -> None:
    version = approve(files())
    publication = Publication.objects.get(version=version)
    assert (publication.repo_id, publication.tag, publication.status) == ("hub-org-a/tiny-llama", "v1.0.0", "waiting")
    assert publish(version) == "published"
    assert_once(hub, version)
    publication.refresh_from_db()
    assert publication.commit_url == f"{hub.url}/hub-org-a/tiny-llama/commit/{publication.commit_oid}"
    local = Path(snapshot_download("hub-org-a/tiny-llama", revision="v1.0.0", endpoint=hub.url, local_dir=tmp_path))
    shipped = {str(p.relative_to(local)) for p in local.rglob("*") if p.is_file() and ".cache" not in p.parts}
    assert shipped == {"model.safetensors", "config.json", "README.md", ".gitattributes"}
    assert (local / "model.safetensors").read_bytes() == WEIGHTS
    card = ModelCard.load(local / "README.md")
    assert card.data.license == "apache-2.0"
    assert "Intended use: tests." in card.text
    assert str(version.public_id) in card.text
    assert "Org B" in card.text, "the reviewers' org is named in the provenance"
    # Delivered again: nothing happens twice.
    assert publish(version) == "not_claimed"
    assert_once(hub, version)
    assert AuditEvent.objects.filter(action="version.published", target_id=str(version.public_id)).count() == 1


def test_the_published_card_carries_the_registrys_eval_scores(hub: DevHub, approve, tmp_path: Path) -> None:
    version = approve(files())
    shared = factories.ArtifactFactory(kind="eval_suite", slug="weather", sharing="consortium")
    suite = factories.VersionFactory(artifact=shared)
    EvalResult.objects.create(
        version=version,
        suite=suite,
        task="weather_cloze",
        metric="acc",
        filter="none",
        value=0.75,
        harness_version="0.4.13",
    )
    assert publish(version) == "published"
    card = ModelCard.load(hf_hub_download("hub-org-a/tiny-llama", "README.md", endpoint=hub.url, cache_dir=tmp_path))
    [result] = card.data.eval_results
    assert (result.dataset_name, result.metric_type, result.metric_value) == ("weather_cloze", "acc", 0.75)
    assert "## Evaluation" in card.text


def test_the_tree_at_each_tag_is_exactly_its_manifest(hub: DevHub, approve) -> None:
    first = approve(files(**{"extra.txt": b"only in v1"}))
    assert publish(first) == "published"
    second = approve(files(**{"new.json": b"{}"}), number="2.0.0")
    assert publish(second) == "published"
    repo = hub.repo("model", "hub-org-a/tiny-llama")
    assert set(repo.tree("v1.0.0")) == {".gitattributes", "README.md", "model.safetensors", "config.json", "extra.txt"}
    assert set(repo.tree("v2.0.0")) == {".gitattributes", "README.md", "model.safetensors", "config.json", "new.json"}
    assert repo.tree("v2.0.0")["model.safetensors"].sha256 == hashlib.sha256(WEIGHTS).hexdigest()


@pytest.mark.parametrize(
    ("fault", "runs"),
    [
        pytest.param({"method": "POST", "path_regex": "/commit/", "after_apply": True, "drop": True}, 1, id="timeout"),
        pytest.param({"method": "POST", "path_regex": "/commit/", "after_apply": True, "status": 500}, 2, id="500"),
        pytest.param({"method": "POST", "path_regex": "/commit/", "status": 429}, 2, id="429"),
        pytest.param({"method": "POST", "path_regex": "/commit/", "status": 412}, 1, id="412"),
        pytest.param({"method": "POST", "path_regex": "/tag/", "status": 503}, 2, id="503-on-tag"),
    ],
)
def test_faults_end_in_one_commit_and_one_tag(hub: DevHub, approve, fault: dict[str, Any], runs: int) -> None:
    version = approve(files())
    hub.faults.add(**fault)
    outcomes = []
    for _ in range(runs):
        due_now(version)
        outcomes.append(publish(version))
    assert outcomes[-1] == "published", outcomes
    assert_once(hub, version)
    assert not hub.faults.pending(), "the fault was hit"


def test_403_fails_fast_with_a_reason_and_the_version_back_to_approved_for_retry(
    hub: DevHub, approve, steward: Member
) -> None:
    version = approve(files())
    hub.faults.add("POST", "/api/repos/create", status=403, message="token lacks write access")
    assert publish(version) == "failed"
    publication = Publication.objects.get(version=version)
    assert publication.status == "failed"
    assert publication.attempts == 1
    assert "403" in publication.last_error
    assert "HF_TOKEN" in publication.last_error
    assert Version.objects.get(pk=version.pk).state == State.APPROVED
    assert hub.repo("model", "hub-org-a/tiny-llama") is None
    publication_retry(actor=steward.actor, version=Version.objects.get(pk=version.pk))
    assert publish(version) == "published"
    assert_once(hub, version)


def test_a_changed_manifest_voids_the_approval_and_publication_refuses(hub: DevHub, approve) -> None:
    version = approve(files())
    version.files.filter(path="config.json").update(sha256="0" * 64)
    assert publish(version) == "failed"
    publication = Publication.objects.get(version=version)
    assert "changed since it was approved" in publication.last_error
    assert Version.objects.get(pk=version.pk).state == State.APPROVED
    assert hub.repo("model", "hub-org-a/tiny-llama") is None, "nothing reached the Hub"


def test_a_consortium_target_ends_at_approved(hub: DevHub, approve) -> None:
    version = approve(files(), release_target="consortium")
    assert version.state == State.APPROVED
    assert not Publication.objects.filter(version=version).exists()


def test_an_embargoed_version_is_published_only_from_its_release_date(
    hub: DevHub, approve, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = timezone.now() + timedelta(days=3)
    version = approve(files(), release_at=release)
    assert Publication.objects.get(version=version).not_before == release
    sent: list[int] = []
    monkeypatch.setattr("jobs.publication.publish.publication_dispatch", lambda pk, countdown=0: sent.append(pk))
    assert publication_reconcile() == {"due": 0, "orphaned": 0, "gave_up": 0}
    assert publish(version) == "not_claimed"
    frozen = release + timedelta(seconds=1)
    monkeypatch.setattr("django.utils.timezone.now", lambda: frozen)
    assert publication_reconcile()["due"] == 1
    assert sent == [Publication.objects.get(version=version).pk]
    assert publish(version) == "published"
    assert Publication.objects.get(version=version).published_at == frozen
    assert "publication-reconcile" in django_settings.CELERY_BEAT_SCHEDULE


def test_withdrawal_deletes_the_tag_marks_the_newest_card_and_hides_the_repo(
    hub: DevHub, approve, alice: Member, charlie: Member, tmp_path: Path
) -> None:
    first = approve(files())
    publish(first)
    second = approve(files(**{"more.txt": b"v2"}), number="2.0.0")
    publish(second)
    with pytest.raises(Exception, match="only an owner"):
        version_withdraw(actor=charlie.actor, version=second, reason="not theirs")
    version_withdraw(actor=alice.actor, version=Version.objects.get(pk=second.pk), reason="benchmark contamination")
    repo = hub.repo("model", "hub-org-a/tiny-llama")
    assert set(repo.tags) == {"v1.0.0"}
    readme = Path(
        hf_hub_download("hub-org-a/tiny-llama", "README.md", endpoint=hub.url, cache_dir=tmp_path)
    ).read_text()
    assert "This version was withdrawn" in readme
    assert "benchmark contamination" in readme
    assert Version.objects.get(pk=second.pk).state == State.WITHDRAWN
    assert AuditEvent.objects.filter(action="version.withdrawn", data__reason="benchmark contamination").count() == 1
    artifact_withdraw(actor=alice.actor, artifact=first.artifact, reason="license problem")
    repo = hub.repo("model", "hub-org-a/tiny-llama")
    assert repo.private
    assert repo.tags == {}
    assert Version.objects.get(pk=first.pk).state == State.WITHDRAWN
    third = approve(files(), number="3.0.0")
    assert publish(third) == "failed"
    assert "withdrawn" in Publication.objects.get(version=third).last_error


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_between_commit_and_tag_leaves_one_commit_and_one_tag(
    hub: DevHub, approve, s3_bucket: str, tmp_path: Path, settings: Any
) -> None:
    settings.PIPELINE_LEASE_SECONDS = 2
    # Not due yet, so nothing is sent to a Celery worker; this test runs the publisher itself.
    version = approve(files(), release_at=timezone.now() + timedelta(days=1))
    due_now(version)
    hub.faults.add("POST", "/tag/", delay=60, status=503)  # the tag request hangs until the kill
    env = {
        **os.environ,
        "DJANGO_SECURE": "false",
        "DATABASE_URL": database_url(),
        "S3_ENDPOINT_URL": django_settings.S3_ENDPOINT_URL,
        "S3_ACCESS_KEY_ID": django_settings.S3_ACCESS_KEY_ID,
        "S3_SECRET_ACCESS_KEY": django_settings.S3_SECRET_ACCESS_KEY,
        "S3_BUCKET": s3_bucket,
        "HF_ENDPOINT": hub.url,
        "HF_TOKEN": settings.HF_TOKEN,
        "HF_HUB_DISABLE_XET": "1",
        "PIPELINE_LEASE_SECONDS": "2",
        "PIPELINE_HEARTBEAT_SECONDS": "0.3",
    }
    pk = Publication.objects.get(version=version).pk
    script = f"import django; django.setup(); from jobs.publication.publish import publication_execute as p; p({pk})"
    worker = subprocess.Popen(
        [sys.executable, "-c", script], env={**env, "DJANGO_SETTINGS_MODULE": "consortium.settings"}
    )
    try:
        deadline = time.monotonic() + 60
        while hub.faults.pending():  # taken when the tag request arrives, which then hangs
            assert worker.poll() is None, "the publisher ended before it tagged"
            assert time.monotonic() < deadline, "the publisher never reached the tag"
            time.sleep(0.05)
        os.kill(worker.pid, signal.SIGKILL)
    finally:
        worker.wait(timeout=10)
    assert len(marked(hub, version)) == 1
    assert hub.repo("model", "hub-org-a/tiny-llama").tags == {}
    assert Version.objects.get(pk=version.pk).state == State.PUBLISHING
    hub.faults.clear()
    assert publish(version) == "not_claimed", "the dead worker's lease is still live"
    time.sleep(2.2)
    assert publication_reconcile()["orphaned"] == 1
    assert publish(version) == "published"
    assert_once(hub, version)


def test_a_hub_repo_the_registry_did_not_make_is_never_overwritten(hub: DevHub, approve) -> None:
    api = HfApi(endpoint=hub.url, token=hub.token)
    api.create_repo("hub-org-a/tiny-llama")
    api.upload_file(path_or_fileobj=b"someone's notes", path_in_repo="notes.txt", repo_id="hub-org-a/tiny-llama")
    version = approve(files())
    assert publish(version) == "failed"
    assert "was not made by the registry" in Publication.objects.get(version=version).last_error
    assert set(hub.repo("model", "hub-org-a/tiny-llama").tree()) == {".gitattributes", "notes.txt"}


def test_a_commit_that_does_not_verify_is_never_tagged(hub: DevHub, approve) -> None:
    version = approve(files())
    publication = Publication.objects.get(version=version)
    api = HfApi(endpoint=hub.url, token=hub.token)
    api.create_repo("hub-org-a/tiny-llama")
    api.create_commit(  # an earlier attempt's commit of this version, with other bytes
        "hub-org-a/tiny-llama",
        [CommitOperationAdd(path_in_repo="config.json", path_or_fileobj=b"{}")],
        commit_message="Publish tiny-llama v1.0.0",
        commit_description=publication.marker,
    )
    assert publish(version) == "failed"
    publication.refresh_from_db()
    assert publication.last_error.startswith("verification failed")
    assert "model.safetensors: missing on the Hub" in publication.last_error
    assert hub.repo("model", "hub-org-a/tiny-llama").tags == {}
    assert Version.objects.get(pk=version.pk).state == State.APPROVED


def test_a_worker_whose_lease_was_taken_over_changes_nothing_on_the_hub(hub: DevHub, approve) -> None:
    version = approve(files())
    stalled, token = publication_claim(Publication.objects.get(version=version).pk)
    # Its heartbeat stalled: the lease ran out and another worker published the version.
    Publication.objects.filter(pk=stalled.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert publish(version) == "published"
    writes = len(hub.requests.matching("POST", "/commit/|/tag/"))
    heartbeat = Heartbeat(stalled, token)
    with pytest.raises(LeaseLost):
        publish_module._publish(hub_api(), stalled, publish_module._Guard(stalled, token, heartbeat))
    assert len(hub.requests.matching("POST", "/commit/|/tag/")) == writes
    assert_once(hub, version)


def test_a_publication_whose_workers_keep_dying_is_given_up_and_the_version_returned(hub: DevHub, approve) -> None:
    version = approve(files())
    Publication.objects.filter(version=version).update(
        status="running", attempts=5, lease_token=uuid.uuid4(), lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    Version.objects.filter(pk=version.pk).update(state=State.PUBLISHING)
    assert publication_reconcile()["gave_up"] == 1
    publication = Publication.objects.get(version=version)
    assert (publication.status, Version.objects.get(pk=version.pk).state) == ("failed", State.APPROVED)
    assert "died 5 times" in publication.last_error


def test_a_withdrawn_artifact_takes_no_new_versions(hub: DevHub, approve, alice: Member) -> None:
    first = approve(files())
    publish(first)
    artifact_withdraw(actor=alice.actor, artifact=first.artifact, reason="license problem")
    with pytest.raises(Conflict, match="was withdrawn"):
        version_create(actor=alice.actor, artifact=first.artifact, number="9.0.0", license="MIT")


def test_a_hub_failure_during_withdrawal_records_nothing(hub: DevHub, approve, alice: Member) -> None:
    version = approve(files())
    publish(version)
    hub.faults.add("DELETE", "/tag/", status=403, message="token lacks write access")
    with pytest.raises(UpstreamFailed, match="nothing was recorded"):
        version_withdraw(actor=alice.actor, version=Version.objects.get(pk=version.pk), reason="oops")
    assert Version.objects.get(pk=version.pk).state == State.PUBLISHED
    assert not AuditEvent.objects.filter(action="version.withdrawn").exists()


def test_a_hub_failure_during_an_artifact_withdrawal_is_finished_by_asking_again(
    hub: DevHub, approve, alice: Member
) -> None:
    version = approve(files())
    publish(version)
    hub.faults.add("PUT", "/settings", status=403, message="token lacks admin rights")
    with pytest.raises(UpstreamFailed, match="ask again to finish"):
        artifact_withdraw(actor=alice.actor, artifact=version.artifact, reason="license problem")
    assert not hub.repo("model", "hub-org-a/tiny-llama").private
    third = approve(files(), number="3.0.0")
    assert publish(third) == "failed", "recorded: nothing more of it is published"
    artifact_withdraw(actor=alice.actor, artifact=version.artifact, reason="license problem")
    assert hub.repo("model", "hub-org-a/tiny-llama").private
    assert Version.objects.get(pk=version.pk).state == State.WITHDRAWN
    assert AuditEvent.objects.filter(action="artifact.withdrawn").count() == 1
