"""`consortium review`, `wait --for published`, `withdraw` and `publish` against a live registry:
the reviewer's queue, one version's evidence, decisions and their refusals, and the way to the Hub."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from consortium_cli import main as cli
from django.utils import timezone

from jobs.models import PipelineRun, Publication, Step
from jobs.publication.hub import hub_api
from registry.models import Artifact, Organization, Review, ReviewPolicy, Sharing, Version
from registry.permissions import Role
from registry.services.reviews import review_decide
from tests import factories
from tests.conftest import Member

pytestmark = pytest.mark.django_db(transaction=True)
State = Version.State


@pytest.fixture
def server(live_server, monkeypatch, tmp_path: Path) -> str:
    monkeypatch.setenv("CONSORTIUM_URL", live_server.url)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps at 80 columns when stdout is not a terminal
    return live_server.url


def reviewer(org: Organization, name: str) -> Member:
    return Member(factories.member(org, Role.VIEWER, username=name, is_reviewer=True), org)


def as_(member: Member, *scopes: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the CLI act with a new token of `member` with `scopes`."""
    monkeypatch.setenv("CONSORTIUM_TOKEN", member.token(*scopes)[1])


def run(*argv: str, capsys: pytest.CaptureFixture) -> tuple[int, dict | list | None]:
    code = cli.main(["--json", "-q", *argv])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else None


def text(*argv: str, capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    code = cli.main(["-q", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def items(out: str, prefix: str) -> list[set[str]]:
    """The `; `-separated items of each output line starting with `prefix`."""
    return [set(line.removeprefix(prefix).split("; ")) for line in out.splitlines() if line.startswith(prefix)]


@pytest.fixture
def rita(org_b: Organization) -> Member:
    return reviewer(org_b, "rita")


@pytest.fixture
def in_review(alice: Member) -> Version:
    """Org A's version awaiting review, bound for the consortium only (approval is its end state, so
    no publication is planned whatever lands on the server)."""
    artifact = factories.ArtifactFactory(organization=alice.organization, slug="tiny-llama", created_by=alice.user)
    return factories.VersionFactory(
        artifact=artifact,
        number="1.0.0",
        state=State.IN_REVIEW,
        manifest_sha256="a" * 64,
        release_target="consortium",
        readme="Intended use: tests.\n[bold]not markup[/]\n",
        metadata={"architecture": "llama", "parameters": 1_000_000},
        compute={"gpu_hours": 12.5, "hardware": "8xH100"},
    )


def test_the_queue_lists_the_version_for_a_reviewer_of_another_org_only(
    server: str, in_review: Version, rita: Member, charlie: Member, capsys, monkeypatch
) -> None:
    as_(rita, "read", "review", monkeypatch=monkeypatch)
    code, queue = run("review", "list", capsys=capsys)
    assert code == 0
    assert [(v["id"], v["review"]) for v in queue] == [
        (str(in_review.public_id), {"approvals": 0, "approvals_required": 1, "mine": None})
    ]
    code, out, _ = text("review", "list", capsys=capsys)
    assert code == 0
    assert "org-a/tiny-llama@1.0.0" in out
    assert str(in_review.public_id) in out
    assert "0/1" in out

    why = "nothing awaits your review: you are not a consortium reviewer, or this token lacks the `review` scope"
    as_(charlie, "read", "push", monkeypatch=monkeypatch)
    assert run("review", "list", capsys=capsys) == (0, [])
    assert why in text("review", "list", capsys=capsys)[1]
    as_(rita, "read", monkeypatch=monkeypatch)  # a reviewer's token without the review scope
    assert run("review", "list", capsys=capsys) == (0, [])
    assert why in text("review", "list", capsys=capsys)[1]


@pytest.fixture
def checked(in_review: Version) -> Version:
    """The version with lineage and a check pipeline: one step passed, one failed (and waived)."""
    factories.LineageEdgeFactory(
        child=in_review,
        external_repo="meta-llama/Llama-3.1-8B",
        external_repo_type="model",
        external_revision="0e9e39f249a16976918f6564b8830bc894c89659",
        external_license="LicenseRef-llama",
    )
    run_ = PipelineRun.objects.create(version=in_review, status=PipelineRun.Status.FAILED)
    Step.objects.create(
        run=run_,
        name="integrity",
        position=0,
        status=Step.Status.PASSED,
        summary="3 files, all sha256 match",
        details={"files": 3, "bytes": 1234},
    )
    Step.objects.create(
        run=run_,
        name="safety",
        position=1,
        status=Step.Status.FAILED,
        summary="1 problem in 1 of 3 files",
        details={"formats": {"safetensors": 2, "pickle": 1}, "files": {"model.bin": {"format": "pickle"}}},
        reasons=[{"path": "model.bin", "code": "pickle_import", "message": "pickle imports os.system"}],
    )
    return in_review


def test_show_prints_the_version_its_checks_and_their_evidence(
    server: str, checked: Version, rita: Member, capsys, monkeypatch
) -> None:
    as_(rita, "read", "review", monkeypatch=monkeypatch)
    code, out, _ = text("review", "show", "org-a/tiny-llama@1.0.0", capsys=capsys)
    assert code == 0
    for expected in (
        "org-a/tiny-llama@1.0.0 (checkpoint): in_review",
        "license Apache-2.0; release consortium",
        "derived_from hub:meta-llama/Llama-3.1-8B@0e9e39f249a1 (LicenseRef-llama)",
        "| Intended use: tests.",
        "| [bold]not markup[/]",  # the README is text, never rich markup
        "checks: failed",
        "integrity  passed    3 files, all sha256 match",
        "safety: model.bin: pickle imports os.system",
        "reviews: 0/1 approvals\n  none yet",
    ):
        assert expected in out, expected
    # key=value items, in the order the database keeps JSON keys
    assert items(out, "compute: ") == [{"gpu_hours=12.5", "hardware=8xH100"}]
    assert items(out, "metadata: ") == [{"architecture=llama", "parameters=1000000"}]
    assert items(out, "    evidence: ") == [
        {"files=3", "bytes=1234"},
        {"formats.safetensors=2", "formats.pickle=1", "files.model.bin={format}"},
    ]

    code, shown = run("review", "show", str(checked.public_id), capsys=capsys)
    assert code == 0
    assert [s["name"] for s in shown["checks"]["steps"]] == ["integrity", "safety"]
    assert shown["reviews"] == {"approvals": 0, "approvals_required": 1, "reviews": []}
    assert shown["lineage"]["parents"][0]["relation"] == "derived_from"


def test_show_prints_the_reviews_so_far(server: str, checked: Version, rita: Member, capsys, monkeypatch) -> None:
    ReviewPolicy.objects.create(kind="checkpoint", approvals_required=2)
    ravi = reviewer(factories.OrganizationFactory(slug="org-c"), "ravi")
    review_decide(actor=ravi.actor, version=checked, decision="approve", comment="evals look right")
    as_(rita, "read", "review", monkeypatch=monkeypatch)
    code, out, err = text("review", "show", "org-a/tiny-llama@1.0.0", capsys=capsys)
    assert code == 0, err
    assert "reviews: 1/2 approvals" in out
    assert "ravi (org-c) approve: evals look right" in out


def test_an_approval_reaching_the_quorum_approves_the_version(
    server: str, in_review: Version, rita: Member, capsys, monkeypatch
) -> None:
    as_(rita, "read", "review", monkeypatch=monkeypatch)
    code, out, _ = text("review", "approve", "org-a/tiny-llama@1.0.0", "-m", "checked the evals", capsys=capsys)
    assert code == 0
    assert "approve by rita for org-b on org-a/tiny-llama@1.0.0" in out
    in_review.refresh_from_db()
    assert in_review.state == State.APPROVED
    assert Review.objects.get().comment == "checked the evals"


def test_deciding_twice_is_a_conflict_with_the_servers_message(
    server: str, in_review: Version, rita: Member, capsys, monkeypatch
) -> None:
    ReviewPolicy.objects.create(kind="checkpoint", approvals_required=2)
    as_(rita, "read", "review", monkeypatch=monkeypatch)
    code, decided = run("review", "approve", str(in_review.public_id), capsys=capsys)
    assert code == 0
    assert (decided["review"]["decision"], decided["version"]["state"]) == ("approve", "in_review")
    code, _, err = text("review", "approve", str(in_review.public_id), capsys=capsys)
    assert code == 2
    assert "you have already reviewed version 1.0.0 (HTTP 409)" in err
    assert run("review", "list", "--all", capsys=capsys)[1][0]["review"]["mine"] == "approve"
    assert run("review", "list", capsys=capsys)[1] == []  # decided: out of the default queue


def test_request_changes_and_reject_without_a_comment_are_refused_before_asking_the_server(
    server: str, in_review: Version, rita: Member, capsys, monkeypatch
) -> None:
    as_(rita, "read", "review", monkeypatch=monkeypatch)
    for command, comment in (("request-changes", []), ("reject", ["-m", "  "])):
        code, _, err = text("review", command, str(in_review.public_id), *comment, capsys=capsys)
        assert code == 2
        assert f"review {command} needs -m COMMENT" in err
    assert Review.objects.count() == 0

    code, decided = run("review", "request-changes", "org-a/tiny-llama@1.0.0", "-m", "add a data card", capsys=capsys)
    assert (code, decided["review"]["decision"]) == (0, "request_changes")
    in_review.refresh_from_db()
    assert in_review.state == State.CHANGES_REQUESTED


def test_a_decision_names_one_exact_version(server: str, in_review: Version, rita: Member, capsys, monkeypatch) -> None:
    as_(rita, "read", "review", monkeypatch=monkeypatch)
    for ref in ("org-a/tiny-llama@latest", "org-a/tiny-llama"):
        code, _, err = text("review", "approve", ref, capsys=capsys)
        assert code == 2
        assert "needs one exact version" in err
    assert Review.objects.count() == 0


def test_reviewing_your_own_orgs_version_prints_the_servers_403(
    server: str, in_review: Version, org_a: Organization, capsys, monkeypatch
) -> None:
    as_(reviewer(org_a, "insider"), "read", "review", monkeypatch=monkeypatch)
    code, _, err = text("review", "approve", str(in_review.public_id), capsys=capsys)
    assert code == 2
    assert "reviewers never review a version of their own organization (HTTP 403)" in err
    in_review.refresh_from_db()
    assert in_review.state == State.IN_REVIEW


def test_a_token_without_the_review_scope_is_told_why_it_is_refused(
    server: str, in_review: Version, rita: Member, capsys, monkeypatch
) -> None:
    Artifact.objects.filter(pk=in_review.artifact_id).update(sharing=Sharing.CONSORTIUM)  # rita sees it as a member
    as_(rita, "read", monkeypatch=monkeypatch)
    code, _, err = text("review", "approve", str(in_review.public_id), capsys=capsys)
    assert code == 2
    assert "only consortium reviewers review versions (HTTP 403)" in err
    assert "or this token lacks the `review` scope" in err


# The way to the Hub


@pytest.fixture
def bound_for_hub(alice: Member) -> Version:
    artifact = factories.ArtifactFactory(organization=alice.organization, slug="tiny-llama", created_by=alice.user)
    return factories.VersionFactory(artifact=artifact, number="2.0.0", state=State.APPROVED, manifest_sha256="b" * 64)


def publication(version: Version, **fields: object) -> Publication:
    return Publication.objects.create(
        version=version,
        repo_type="model",
        repo_id="hub-org-a/tiny-llama",
        tag="v2.0.0",
        manifest_sha256=version.manifest_sha256,
        metadata_sha256="c" * 64,
        **fields,
    )


def wait_for_hub(version: Version, capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    ref = str(version.public_id)
    return text("wait", ref, "--for", "published", "--timeout", "0", "--interval", "0", capsys=capsys)


def test_wait_for_published_exits_0_published_1_failed_or_refused_2_on_timeout(
    server: str, alice: Member, bound_for_hub: Version, capsys, monkeypatch
) -> None:
    as_(alice, "read", monkeypatch=monkeypatch)
    assert wait_for_hub(bound_for_hub, capsys)[0] == 2, "approved, no publication yet: no verdict before the timeout"

    planned = publication(bound_for_hub, status=Publication.Status.WAITING)
    assert wait_for_hub(bound_for_hub, capsys)[0] == 2

    Publication.objects.filter(pk=planned.pk).update(
        status=Publication.Status.FAILED, attempts=3, last_error="Traceback …\nHfHubHTTPError: 403 Forbidden"
    )
    code, out, err = wait_for_hub(bound_for_hub, capsys)
    assert code == 1
    assert "publication failed after 3 attempt(s)" in err
    assert "HfHubHTTPError: 403 Forbidden" in err
    assert "last error: HfHubHTTPError: 403 Forbidden" in out

    Publication.objects.filter(pk=planned.pk).update(
        status=Publication.Status.PUBLISHED,
        commit_oid="d" * 40,
        commit_url=f"https://hub.example/hub-org-a/tiny-llama/commit/{'d' * 40}",
    )
    Version.objects.filter(pk=bound_for_hub.pk).update(state=State.PUBLISHED)
    code, out, _ = wait_for_hub(bound_for_hub, capsys)
    assert code == 0
    assert "publication: published" in out
    assert f"commit https://hub.example/hub-org-a/tiny-llama/commit/{'d' * 40}" in out

    Version.objects.filter(pk=bound_for_hub.pk).update(state=State.WITHDRAWN)
    assert wait_for_hub(bound_for_hub, capsys)[0] == 1


def test_wait_for_published_on_a_consortium_only_version_is_an_error_at_once(
    server: str, alice: Member, in_review: Version, capsys, monkeypatch
) -> None:
    as_(alice, "read", monkeypatch=monkeypatch)
    code, _, err = text("wait", str(in_review.public_id), "--for", "published", "--timeout", "60", capsys=capsys)
    assert code == 2
    assert "approval is its end state, it never goes to the Hub" in err
    Version.objects.filter(pk=in_review.pk).update(state=State.REJECTED)
    assert wait_for_hub(in_review, capsys)[0] == 1


def test_status_and_show_print_the_publication_with_its_release_date(
    server: str, alice: Member, bound_for_hub: Version, capsys, monkeypatch
) -> None:
    Version.objects.filter(pk=bound_for_hub.pk).update(release_at="2031-05-01T09:00:00Z")
    publication(bound_for_hub, status=Publication.Status.WAITING, not_before="2031-05-01T09:00:00Z")
    as_(alice, "read", monkeypatch=monkeypatch)
    for command in ("status", "show"):
        code, out, _ = text(command, "org-a/tiny-llama@2.0.0", capsys=capsys)
        assert code == 0
        assert "publication: waiting" in out
        assert "hub-org-a/tiny-llama (tag v2.0.0)" in out
        assert "embargoed until 2031-05-01 09:00" in out
    code, shown = run("status", "org-a/tiny-llama@2.0.0", capsys=capsys)
    assert (code, shown["publication"]["status"]) == (0, "waiting")


@pytest.fixture
def published(alice: Member, bound_for_hub: Version) -> Version:
    Version.objects.filter(pk=bound_for_hub.pk).update(state=State.PUBLISHED)
    publication(bound_for_hub, status=Publication.Status.PUBLISHED, commit_oid="d" * 40, published_at=timezone.now())
    return bound_for_hub


def test_withdraw_names_one_exact_version_a_reason_and_needs_an_owner(
    server: str, alice: Member, bob: Member, published: Version, capsys, monkeypatch
) -> None:
    as_(alice, "read", "push", monkeypatch=monkeypatch)
    code, _, err = text("withdraw", "org-a/tiny-llama@latest", "--reason", "wrong weights", capsys=capsys)
    assert (code, "needs one exact version" in err) == (2, True)
    code, _, err = text("withdraw", "org-a/tiny-llama@2.0.0", "--reason", " ", capsys=capsys)
    assert (code, "withdraw needs --reason TEXT" in err) == (2, True)
    as_(bob, "read", monkeypatch=monkeypatch)  # a viewer of the org
    code, _, err = text("withdraw", "org-a/tiny-llama@2.0.0", "--reason", "wrong weights", capsys=capsys)
    assert (code, "only an owner of 'org-a' or a steward withdraws published work (HTTP 403)" in err) == (2, True)
    assert Version.objects.get(pk=published.pk).state == State.PUBLISHED


def test_an_owner_withdraws_a_published_version(
    server: str, hub, alice: Member, published: Version, capsys, monkeypatch
) -> None:
    api = hub_api()
    api.create_repo("hub-org-a/tiny-llama", repo_type="model")
    api.upload_file(
        path_or_fileobj=b"---\nlicense: apache-2.0\n---\n# tiny",
        path_in_repo="README.md",
        repo_id="hub-org-a/tiny-llama",
    )
    api.create_tag("hub-org-a/tiny-llama", tag="v2.0.0")
    as_(alice, "read", "push", monkeypatch=monkeypatch)
    code, withdrawn = run("withdraw", "org-a/tiny-llama@2.0.0", "--reason", "wrong weights", capsys=capsys)
    assert (code, withdrawn and withdrawn["state"]) == (0, "withdrawn")
    assert Version.objects.get(pk=published.pk).state == State.WITHDRAWN


def test_publish_retries_a_failed_publication(
    server: str, alice: Member, bob: Member, bound_for_hub: Version, capsys, monkeypatch
) -> None:
    publication(bound_for_hub, status=Publication.Status.FAILED, attempts=3, last_error="Hub down")
    as_(bob, "read", monkeypatch=monkeypatch)
    code, _, err = text("publish", "org-a/tiny-llama@2.0.0", capsys=capsys)
    assert (code, "HTTP 403" in err) == (2, True)
    as_(alice, "read", "push", monkeypatch=monkeypatch)
    code, retried = run("publish", "org-a/tiny-llama@2.0.0", capsys=capsys)
    assert (code, retried["state"], retried["publication"]["status"]) == (0, "approved", "waiting")
    assert Publication.objects.get().status == Publication.Status.WAITING


def test_the_cli_modules_import_nothing_of_the_server() -> None:
    probe = (
        "import sys, consortium_cli.main, consortium_cli.review, consortium_cli.release;"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'django', 'registry', 'jobs', 'consortium'}))"
    )
    found = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd="/")
    assert found.stdout.strip() == "[]"
