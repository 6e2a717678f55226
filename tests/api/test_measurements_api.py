"""Measurements through the API: eval scores and probe figures on a version's detail and at evals/,
read as the version is (and never naming a suite the reader cannot see); the stewards' default
suites and bulk re-runs, for signed-in stewards only, validated and audited."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from jobs.models import EvalSuiteDefault, PipelineRun, Step
from registry.models import AuditEvent, Organization, Sharing, Version
from registry.permissions import Role
from tests import factories
from tests.api.measured import COMPATIBILITY, COST, measured_version, suite_version
from tests.conftest import Member, bearer

pytestmark = pytest.mark.django_db
State = Version.State


def signed_in(member: Member) -> APIClient:
    client = APIClient()
    client.force_login(member.user)
    return client


@pytest.fixture
def measured(alice: Member) -> Any:
    return measured_version(alice.user, alice.organization)


@pytest.fixture
def suite(org_b: Organization) -> Version:
    """Org B's eval suite, shared with the consortium and in review."""
    return suite_version(org_b, sharing=Sharing.CONSORTIUM, state=State.IN_REVIEW)


def test_the_detail_has_every_score_and_each_measurement_with_its_evidence(alice: Member, measured: Any) -> None:
    body = signed_in(alice).get(f"/api/v1/versions/{measured.version.public_id}/").json()
    suite = {"id": str(measured.suite.public_id), "name": "borealis/pico-evals", "number": "2.0"}
    assert body["evals"] == [
        {
            "suite": suite,
            "task": "pico_cloze",
            "metric": "acc",
            "filter": "none",
            "value": 0.5,
            "stderr": 0.02,
            "samples": 40,
            "task_version": "1.0",
            "harness_version": "0.4.9",
        },
        {
            "suite": suite,
            "task": "pico_perplexity",
            "metric": "perplexity",
            "filter": "none",
            "value": 12.25,
            "stderr": None,
            "samples": 40,
            "task_version": "1.0",
            "harness_version": "0.4.9",
        },
    ]
    measurements = body["measurements"]
    assert list(measurements) == ["evals", "compatibility", "finetune", "cost"]  # gating checks are not in it
    assert measurements["finetune"]["status"] == "skipped"
    assert measurements["finetune"]["summary"] == "not measured (size)"
    assert measurements["compatibility"]["details"] == COMPATIBILITY
    assert measurements["cost"]["details"] == COST
    assert measurements["evals"]["details"]["suites"][0]["name"] == "borealis/pico-evals"
    assert measurements["cost"]["finished_at"] is not None


def test_evals_endpoint_lists_the_same_scores(alice: Member, measured: Any) -> None:
    client = signed_in(alice)
    detail = client.get(f"/api/v1/versions/{measured.version.public_id}/").json()
    response = client.get(f"/api/v1/versions/{measured.version.public_id}/evals/")
    assert response.status_code == 200
    assert response.json() == detail["evals"]


def test_steps_say_whether_they_gate(alice: Member, measured: Any) -> None:
    checks = signed_in(alice).get(f"/api/v1/versions/{measured.version.public_id}/checks/").json()
    assert {s["name"]: s["gating"] for s in checks["steps"]} == {
        "integrity": True,
        "evals": False,
        "compatibility": False,
        "finetune": False,
        "cost": False,
    }
    assert checks["status"] == "passed"


def test_a_version_without_a_run_has_no_measurements(alice: Member) -> None:
    draft = factories.VersionFactory(artifact=factories.ArtifactFactory(organization=alice.organization))
    body = signed_in(alice).get(f"/api/v1/versions/{draft.public_id}/").json()
    assert (body["evals"], body["measurements"]) == ([], {})


def test_another_org_cannot_read_the_evals_of_a_version_it_cannot_see(charlie: Member, measured: Any) -> None:
    client = signed_in(charlie)
    assert client.get(f"/api/v1/versions/{measured.version.public_id}/").status_code == 404
    assert client.get(f"/api/v1/versions/{measured.version.public_id}/evals/").status_code == 404
    _, secret = charlie.token("read")
    assert bearer(APIClient(), secret).get(f"/api/v1/versions/{measured.version.public_id}/evals/").status_code == 404


def test_scores_on_a_suite_the_reader_cannot_see_are_left_out(alice: Member, charlie: Member) -> None:
    """Org A's published model scored on org A's own private suite: the public sees the model, not
    the suite's name, tasks or scores."""
    private = suite_version(alice.organization, sharing=Sharing.ORG, state=State.IN_REVIEW, slug="secret-evals")
    measured = measured_version(alice.user, alice.organization, suite=private, state=State.PUBLISHED)
    url = f"/api/v1/versions/{measured.version.public_id}/"
    for client in (APIClient(), signed_in(charlie)):
        body = client.get(url).json()
        assert body["evals"] == []
        assert body["measurements"]["evals"]["details"]["suites"] == []
        assert "secret-evals" not in client.get(url).content.decode()
        assert client.get(f"{url}evals/").json() == []
    owner = signed_in(alice).get(url).json()
    assert len(owner["evals"]) == 2
    assert owner["measurements"]["evals"]["details"]["suites"][0]["name"] == "org-a/secret-evals"


def test_the_list_leaves_measurements_out_and_costs_no_more_per_version(alice: Member) -> None:
    client = signed_in(alice)
    measured_version(alice.user, alice.organization)
    with CaptureQueriesContext(connection) as one:
        rows = client.get("/api/v1/versions/").json()["results"]
    assert "evals" not in rows[0]
    assert "measurements" not in rows[0]
    for n in range(3):
        measured_version(
            alice.user, alice.organization, suite=Version.objects.get(artifact__slug="pico-evals"), slug=f"more-{n}"
        )
    with CaptureQueriesContext(connection) as four:
        assert len(client.get("/api/v1/versions/").json()["results"]) == 5  # 4 models and the published suite
    assert len(four.captured_queries) == len(one.captured_queries)


# The stewards' default suites


def test_a_steward_chooses_a_default_suite_once_and_it_is_audited(
    steward: Member, alice: Member, suite: Version
) -> None:
    client = signed_in(steward)
    created = client.post("/api/v1/eval-suite-defaults/", {"kind": "checkpoint", "suite": "org-b/pico-evals"})
    assert created.status_code == 201, created.content
    assert created.json()["suite"] == "org-b/pico-evals"
    again = client.post("/api/v1/eval-suite-defaults/", {"kind": "checkpoint", "suite": "org-b/pico-evals"})
    assert again.status_code == 200
    assert again.json()["id"] == created.json()["id"]
    assert EvalSuiteDefault.objects.get().suite == suite.artifact
    events = AuditEvent.objects.filter(action="eval_suite_default.added")
    assert [(e.actor_label, e.data) for e in events] == [
        ("stella", {"kind": "checkpoint", "suite": "org-b/pico-evals"})
    ]
    listed = signed_in(alice).get("/api/v1/eval-suite-defaults/")
    assert [(d["kind"], d["suite"]) for d in listed.json()] == [("checkpoint", "org-b/pico-evals")]


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"kind": "dataset", "suite": "org-b/pico-evals"}, "kind", "evals run on checkpoint and adapter versions only"),
        ({"kind": "checkpoint", "suite": "pico-evals"}, "suite", "not a name like 'org/suite'"),
        ({"kind": "checkpoint", "suite": "org-b/nothing"}, "suite", "no artifact org-b/nothing"),
        ({"kind": "checkpoint", "suite": "org-b/a-model"}, "suite", "is a checkpoint, not an eval_suite"),
        ({"kind": "checkpoint", "suite": "org-b/private-evals"}, "suite", "neither shared with the consortium"),
        ({"kind": "checkpoint"}, "suite", "required"),
        ({"kind": "checkpoint", "suite": "org-b/pico-evals", "extra": 1}, "extra", "unknown field"),
    ],
)
def test_a_default_suite_every_member_cannot_read_or_of_another_kind_is_refused(
    steward: Member, suite: Version, org_b: Organization, body: dict, field: str, message: str
) -> None:
    factories.ArtifactFactory(organization=org_b, slug="a-model", kind="checkpoint", sharing=Sharing.CONSORTIUM)
    suite_version(org_b, sharing=Sharing.ORG, state=State.APPROVED, slug="private-evals")
    response = signed_in(steward).post("/api/v1/eval-suite-defaults/", body)
    assert response.status_code == 400, response.content
    assert message in " ".join(response.json()["error"]["fields"][field])
    assert not EvalSuiteDefault.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="eval_suite_default").exists()


def test_an_org_only_suite_with_a_published_version_may_be_a_default(steward: Member, org_b: Organization) -> None:
    suite_version(org_b, sharing=Sharing.ORG, state=State.PUBLISHED, slug="public-evals")
    response = signed_in(steward).post(
        "/api/v1/eval-suite-defaults/", {"kind": "adapter", "suite": "org-b/public-evals"}
    )
    assert response.status_code == 201, response.content


def test_members_and_tokens_cannot_change_the_defaults(alice: Member, suite: Version, org_a: Organization) -> None:
    # A steward who is also a member of org A makes a token: steward powers stay with the session.
    stewarding = Member(factories.member(org_a, Role.OWNER, username="sam", is_steward=True), org_a)
    default = EvalSuiteDefault.objects.create(kind="checkpoint", suite=suite.artifact)
    clients = {
        "member": signed_in(alice),
        "steward's token": bearer(APIClient(), stewarding.token("read", "push")[1]),
    }
    for who, client in clients.items():
        response = client.post("/api/v1/eval-suite-defaults/", {"kind": "adapter", "suite": "org-b/pico-evals"})
        assert response.status_code == 403, (who, response.content)
        assert client.delete(f"/api/v1/eval-suite-defaults/{default.pk}/").status_code == 403, who
        assert [d["id"] for d in client.get("/api/v1/eval-suite-defaults/").json()] == [default.pk], who
    assert APIClient().get("/api/v1/eval-suite-defaults/").status_code == 401
    assert EvalSuiteDefault.objects.count() == 1
    assert not AuditEvent.objects.filter(action__startswith="eval_suite_default").exists()


def test_a_steward_removes_a_default_and_it_is_audited(steward: Member, suite: Version) -> None:
    default = EvalSuiteDefault.objects.create(kind="checkpoint", suite=suite.artifact)
    client = signed_in(steward)
    assert client.delete(f"/api/v1/eval-suite-defaults/{default.pk}/").status_code == 204
    assert not EvalSuiteDefault.objects.exists()
    event = AuditEvent.objects.get(action="eval_suite_default.removed")
    assert event.data == {"kind": "checkpoint", "suite": "org-b/pico-evals"}
    assert client.delete(f"/api/v1/eval-suite-defaults/{default.pk}/").status_code == 404


def test_a_default_whose_suite_became_private_is_not_listed_to_other_orgs(
    steward: Member, alice: Member, charlie: Member, org_a: Organization
) -> None:
    private = suite_version(org_a, sharing=Sharing.ORG, state=State.APPROVED, slug="own-evals")
    EvalSuiteDefault.objects.create(kind="checkpoint", suite=private.artifact)
    assert signed_in(charlie).get("/api/v1/eval-suite-defaults/").json() == []
    assert [d["suite"] for d in signed_in(alice).get("/api/v1/eval-suite-defaults/").json()] == ["org-a/own-evals"]
    assert [d["suite"] for d in signed_in(steward).get("/api/v1/eval-suite-defaults/").json()] == ["org-a/own-evals"]


# Bulk re-runs


def _status(version: Version, name: str) -> str:
    return Step.objects.get(run__version=version, name=name).status


def test_a_steward_re_runs_a_measurement_on_every_version_that_has_it(steward: Member, alice: Member) -> None:
    first = measured_version(alice.user, alice.organization)
    second = measured_version(alice.user, alice.organization, suite=first.suite, slug="other-llama")
    response = signed_in(steward).post("/api/v1/measures/rerun/", {"step": "cost", "reason": "new hardware"})
    assert response.status_code == 200, response.content
    assert response.json() == {"queued": 2}
    assert {_status(first.version, "cost"), _status(second.version, "cost")} == {Step.Status.QUEUED}
    assert _status(first.version, "evals") == Step.Status.PASSED
    events = AuditEvent.objects.filter(action="measure.rerun")
    assert sorted(e.data["reason"] for e in events) == ["new hardware", "new hardware"]


def test_evals_are_re_run_only_where_the_named_suite_scored(steward: Member, alice: Member, suite: Version) -> None:
    scored = measured_version(alice.user, alice.organization)
    other = measured_version(alice.user, alice.organization, suite=suite, slug="other-llama")
    client = signed_in(steward)
    response = client.post(
        "/api/v1/measures/rerun/", {"step": "evals", "reason": "suite 2.1", "suite": "org-b/pico-evals"}
    )
    assert response.json() == {"queued": 1}
    assert _status(other.version, "evals") == Step.Status.QUEUED
    assert _status(scored.version, "evals") == Step.Status.PASSED


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"step": "cost"}, "reason"),
        ({"step": "integrity", "reason": "x"}, "step"),
        ({"step": "cost", "reason": "x", "suite": "borealis/pico-evals"}, "suite"),
        ({"step": "evals", "reason": "x", "suite": "borealis/missing"}, "suite"),
    ],
)
def test_a_re_run_names_a_measurement_a_reason_and_an_existing_suite(
    steward: Member, measured: Any, body: dict, field: str
) -> None:
    response = signed_in(steward).post("/api/v1/measures/rerun/", body)
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    assert not Step.objects.filter(status=Step.Status.QUEUED).exists()


def test_only_a_signed_in_steward_re_runs_measurements(alice: Member, measured: Any, org_a: Organization) -> None:
    stewarding = Member(factories.member(org_a, Role.OWNER, username="sam", is_steward=True), org_a)
    for client in (signed_in(alice), bearer(APIClient(), stewarding.token("read", "push")[1])):
        response = client.post("/api/v1/measures/rerun/", {"step": "cost", "reason": "x"})
        assert response.status_code == 403, response.content
        # Refused before the suite is looked up: the answer does not tell which suites exist.
        response = client.post("/api/v1/measures/rerun/", {"step": "evals", "reason": "x", "suite": "nope/nothing"})
        assert response.status_code == 403
    assert APIClient().post("/api/v1/measures/rerun/", {"step": "cost", "reason": "x"}).status_code == 401
    assert _status(measured.version, "cost") == Step.Status.PASSED
    assert not AuditEvent.objects.filter(action="measure.rerun").exists()


def test_a_single_measurement_is_re_run_through_the_checks_route(steward: Member, measured: Any) -> None:
    url = f"/api/v1/versions/{measured.version.public_id}/checks/finetune/rerun/"
    response = signed_in(steward).post(url, {"reason": "bigger worker"})
    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["gating"]) == ("queued", False)
    assert PipelineRun.objects.get(version=measured.version).status == PipelineRun.Status.PASSED
