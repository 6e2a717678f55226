"""The cross-org matrix: every API route x every kind of actor x objects in every state and
sharing level. Exactly what DESIGN.md's table allows is visible; the rest is 404 and absent from
lists and counts; writes need the capability in the object's org."""

from __future__ import annotations

import hashlib
import re

import pytest
from rest_framework.test import APIClient

from jobs.models import EvalSuiteDefault, PipelineRun, RecipeFeatures, Step
from jobs.prior_art.normalize import experiment_from
from registry.actors import Actor
from registry.models import ApiToken, AuditEvent, Blob, Event, Version, VersionFile
from registry.permissions import ROLE_CAPABILITIES, Capability, token_capabilities
from registry.services.tokens import token_issue
from tests import factories
from tests.api.world import ACTORS, ActorSpec, World, build_world
from tests.corpus.recipes import pretraining_recipe

pytestmark = pytest.mark.django_db

# Every API route name this module exercises; the route census fails on any route missing here.
ROUTES_COVERED = {
    "organization-list",
    "organization-detail",
    "membership-list",
    "membership-detail",
    "token-list",
    "token-detail",
    "audit-event-list",
    "event-list",
    "artifact-list",
    "artifact-detail",
    "version-list",
    "version-detail",
    "version-lineage",
    "version-files",
    "version-finalize",
    "version-checks",
    "version-checks-rerun",
    "version-evals",
    "version-scorecard",
    "eval-suite-default-list",
    "eval-suite-default-detail",
    "measures-rerun",
    "version-reviews",
    "version-override",
    "version-publish",
    "version-withdraw",
    "artifact-withdraw",
    "review-queue-list",
    "review-policy-list",
    "review-policy-detail",
    "portal-version",
    "portal-version-checks",
    "portal-version-file-download",
    "portal-version-step-rerun",
    "portal-artifact",
    "portal-browse",
    "portal-org",
    "portal-org-members",
    "portal-org-member-role",
    "portal-org-member-remove",
    "portal-org-invitations",
    "portal-org-invitation-revoke",
    "portal-org-tokens",
    "portal-org-token-revoke",
    "portal-org-audit",
    "portal-org-audit-csv",
    "portal-invitation",
    "portal-org-switch",
    "upload-parts",
    "upload-complete",
    "me",
    "prior-art",
    # tests/webhooks/test_webhook_isolation.py
    "webhook-list",
    "webhook-detail",
    "webhook-rotate-secret",
    "webhook-delivery-list",
    "webhook-delivery-detail",
    "webhook-delivery-replay",
    "portal-org-webhooks",
    "portal-org-webhook",
    "portal-org-webhook-change",
    "portal-org-webhook-replay",
}
State = Version.State
SCORECARD_STATES = frozenset({State.DRAFT, State.SUBMITTED, State.IN_REVIEW, State.APPROVED, State.PUBLISHED})


@pytest.fixture
def world() -> World:
    return build_world()


def client_for(world: World, spec: ActorSpec) -> APIClient:
    client = APIClient()
    secret = world.secret_for(spec)
    if secret is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    elif spec.username is not None:
        client.force_login(world.users[spec.username])
    return client


def can(spec: ActorSpec, org: str, capability: Capability) -> bool:
    role = spec.role(org)
    if role is None:
        return False
    if spec.token_org is not None:
        return capability in token_capabilities(role, list(spec.scopes))
    return capability in ROLE_CAPABILITIES[role]


def read_status(spec: ActorSpec, visible: bool) -> int:
    if not spec.can_read:
        return 403
    return 200 if visible else 404


def results(response) -> list[dict]:
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["next"] is None, "everything fits in one page here"
    return body["results"]


def ids(response) -> set[str]:
    return {item["id"] for item in results(response)}


@pytest.mark.parametrize("spec", ACTORS, ids=lambda s: s.name)
def test_versions_list_retrieve_and_lineage(world: World, spec: ActorSpec) -> None:
    client = client_for(world, spec)
    expected = {str(v.public_id) for v in world.versions if world.sees_version(spec, v) and v.state != State.DELETED}
    listed = client.get("/api/v1/versions/", {"page_size": 200})
    if not spec.can_read:
        assert listed.status_code == 403
        assert "do not include 'read'" in listed.json()["error"]["message"]
    else:
        assert ids(listed) == expected
        deleted = {str(v.public_id) for v in world.versions if world.sees_version(spec, v) and v.state == State.DELETED}
        assert ids(client.get("/api/v1/versions/", {"state": "deleted", "page_size": 200})) == deleted
        for state in (State.DRAFT, State.IN_REVIEW):
            want = {str(v.public_id) for v in world.versions if world.sees_version(spec, v) and v.state == state}
            assert ids(client.get("/api/v1/versions/", {"state": state, "page_size": 200})) == want
    for version in world.versions:
        visible = world.sees_version(spec, version)
        detail = client.get(f"/api/v1/versions/{version.public_id}/")
        assert detail.status_code == read_status(spec, visible), (version, spec.name)
        lineage = client.get(f"/api/v1/versions/{version.public_id}/lineage/")
        assert lineage.status_code == read_status(spec, visible)
        if lineage.status_code == 200:
            body = lineage.json()
            shown = {e["version"]["id"] for e in body["parents"] if e["version"]}
            shown |= {e["version"]["id"] for e in body["children"]}
            assert all(world.sees_version(spec, v) for v in world.versions if str(v.public_id) in shown)
            edges = [e for e in version.parent_edges.all() if world.sees_version(spec, e.parent)]
            assert len(body["parents"]) == len(edges)


@pytest.mark.parametrize("spec", ACTORS, ids=lambda s: s.name)
def test_events_are_listed_exactly_when_their_version_is_visible(world: World, spec: ActorSpec) -> None:
    recorded = {
        v.pk: str(Event.record(type=Event.Type.VERSION_STATE_CHANGED, version=v, payload={}).public_id)
        for v in world.versions
    }
    listed = client_for(world, spec).get("/api/v1/events/", {"page_size": 200})
    if not spec.can_read:
        assert listed.status_code == 403
        return
    assert ids(listed) == {recorded[v.pk] for v in world.versions if world.sees_version(spec, v)}


@pytest.mark.parametrize("spec", ACTORS, ids=lambda s: s.name)
def test_artifacts_list_filters_and_retrieve(world: World, spec: ActorSpec) -> None:
    client = client_for(world, spec)
    artifacts = world.artifacts()
    expected = {str(a.public_id) for a in artifacts if world.sees_artifact(spec, a)}
    listed = client.get("/api/v1/artifacts/", {"page_size": 200})
    if not spec.can_read:
        assert listed.status_code == 403
    else:
        assert ids(listed) == expected
        # Filters never widen: a state filter matches only on versions the actor sees.
        for state in (State.DRAFT, State.SUBMITTED, State.IN_REVIEW, State.PUBLISHED):
            want = {
                str(v.artifact.public_id) for v in world.versions if v.state == state and world.sees_version(spec, v)
            }
            assert ids(client.get("/api/v1/artifacts/", {"state": state, "page_size": 200})) == want
        assert ids(client.get("/api/v1/artifacts/", {"org": "org-d", "page_size": 200})) == {
            str(a.public_id) for a in artifacts if a.organization.slug == "org-d" and world.sees_artifact(spec, a)
        }
    for artifact in artifacts:
        response = client.get(f"/api/v1/artifacts/{artifact.public_id}/")
        assert response.status_code == read_status(spec, world.sees_artifact(spec, artifact)), (artifact, spec.name)


@pytest.mark.parametrize("spec", ACTORS, ids=lambda s: s.name)
def test_organizations_and_their_members_tokens_and_audit(world: World, spec: ActorSpec) -> None:
    client = client_for(world, spec)
    for slug, org in world.orgs.items():
        AuditEvent.objects.create(
            organization=org, actor_label="x", action="test.event", target_type="organization", target_id=slug
        )
    listed = client.get("/api/v1/organizations/")
    if spec.can_read:
        assert {o["slug"] for o in listed.json()["results"]} == {s for s in world.orgs if world.sees_org(spec, s)}
    for slug in world.orgs:
        visible = world.sees_org(spec, slug)
        assert client.get(f"/api/v1/organizations/{slug}/").status_code == read_status(spec, visible)
        members = client.get(f"/api/v1/organizations/{slug}/memberships/")
        tokens = client.get(f"/api/v1/organizations/{slug}/tokens/")
        audit = client.get(f"/api/v1/organizations/{slug}/audit-events/")
        if spec.username is None:
            assert {members.status_code, tokens.status_code, audit.status_code} == {401}
            continue
        if not spec.can_read:
            assert {members.status_code, tokens.status_code, audit.status_code} == {403}
            continue
        if not visible:
            assert {members.status_code, tokens.status_code, audit.status_code} == {404}
            continue
        member_of = spec.steward or can(spec, slug, Capability.READ)
        assert bool(results(members)) == member_of
        assert bool(results(audit)) == (spec.steward or can(spec, slug, Capability.AUDIT))
        in_org = ApiToken.objects.filter(organization__slug=slug)
        if spec.token_org is not None or (not spec.steward and spec.role(slug) is None):
            expected = set()  # a token sees no tokens; nor does a non-member
        elif spec.steward or can(spec, slug, Capability.ADMIN):
            expected = {str(t.public_id) for t in in_org}
        else:
            expected = {str(t.public_id) for t in in_org.filter(created_by__username=spec.username)}
        assert ids(tokens) == expected


@pytest.mark.parametrize("spec", ACTORS, ids=lambda s: s.name)
def test_writes_need_the_capability_in_the_objects_org(world: World, spec: ActorSpec) -> None:
    client = client_for(world, spec)
    audit_before = AuditEvent.objects.count()
    writes = 0

    def expect(response, visible: bool, allowed: bool, ok: int) -> None:
        nonlocal writes
        if spec.username is None:
            assert response.status_code == 401
        elif not visible:
            assert response.status_code in (404, 400), response.content
            if response.status_code == 400:
                assert "not found" in response.json()["error"]["message"]
        elif not allowed:
            assert response.status_code == 403, response.content
        else:
            assert response.status_code == ok, response.content
            writes += ok < 300

    a_versions = [v for v in world.versions if world.org_of(v) == "org-a"]
    for version in a_versions:
        visible, allowed = world.sees_version(spec, version), can(spec, "org-a", Capability.PUSH)
        response = client.delete(f"/api/v1/versions/{version.public_id}/")
        expect(response, visible, allowed, 204 if version.state == State.DRAFT else 409)
    for artifact in [a for a in world.artifacts() if a.organization.slug == "org-a"][:6]:
        visible = world.sees_artifact(spec, artifact)
        response = client.patch(f"/api/v1/artifacts/{artifact.public_id}/", {"description": "changed"})
        expect(response, visible, can(spec, "org-a", Capability.MANAGE), 200)
        response = client.post(
            "/api/v1/versions/", {"artifact": str(artifact.public_id), "number": "9.9.9", "license": "MIT"}
        )
        expect(response, visible, can(spec, "org-a", Capability.PUSH), 201)
    response = client.post("/api/v1/artifacts/", {"organization": "org-a", "slug": "new-one", "kind": "dataset"})
    expect(response, world.sees_org(spec, "org-a"), can(spec, "org-a", Capability.PUSH), 201)
    response = client.post("/api/v1/organizations/org-a/memberships/", {"username": "rita", "role": "viewer"})
    expect(response, world.sees_org(spec, "org-a"), can(spec, "org-a", Capability.ADMIN), 201)
    members_visible = spec.steward or can(spec, "org-a", Capability.READ)
    response = client.patch("/api/v1/organizations/org-a/memberships/bob/", {"role": "contributor"})
    expect(response, members_visible, can(spec, "org-a", Capability.ADMIN), 200)
    response = client.delete("/api/v1/organizations/org-a/memberships/bob/")
    expect(response, members_visible, can(spec, "org-a", Capability.ADMIN), 204)
    # A token alice made from her session: only people see tokens, owners all of their org's.
    alices, _ = token_issue(
        actor=Actor.for_user(world.users["alice"]), organization=world.orgs["org-a"], name="alice's", scopes=["read"]
    )
    writes += 1  # issuing it wrote an audit row of its own
    person = spec.username is not None and spec.token_org is None
    token_visible = person and (spec.steward or can(spec, "org-a", Capability.ADMIN) or spec.username == "alice")
    response = client.delete(f"/api/v1/organizations/org-a/tokens/{alices.public_id}/")
    expect(response, token_visible, person and (spec.username == "alice" or can(spec, "org-a", Capability.ADMIN)), 204)
    response = client.post(
        "/api/v1/organizations/",
        {"name": "New", "slug": "org-new", "country": "DE", "hub_namespace": "org-new", "owner": "charlie"},
    )
    expect(response, True, spec.steward, 201)
    if spec.username is not None and spec.token_org is None and spec.role("org-a") is None and not spec.steward:
        # Only members issue tokens for an org.
        response = client.post("/api/v1/organizations/org-a/tokens/", {"name": "x", "scopes": ["read"]})
        assert response.status_code in (403, 404)
    # Refused writes leave no audit row; every accepted one leaves exactly one.
    assert AuditEvent.objects.count() - audit_before == writes


@pytest.mark.parametrize("spec", ACTORS, ids=lambda s: s.name)
def test_me_tells_each_actor_its_own_orgs_only(world: World, spec: ActorSpec) -> None:
    response = client_for(world, spec).get("/api/v1/me/")
    if spec.username is None:
        assert response.status_code == 401
    elif not spec.can_read:
        assert response.status_code == 403
    else:
        assert response.status_code == 200
        assert {o["slug"]: o["role"] for o in response.json()["organizations"]} == spec.orgs
        assert response.json()["is_steward"] == spec.steward
        assert response.json()["is_reviewer"] == spec.reviewer


@pytest.mark.parametrize("spec", ACTORS, ids=lambda s: s.name)
def test_files_and_uploads_need_push_in_the_versions_org(world: World, spec: ActorSpec) -> None:
    client = client_for(world, spec)
    audit_before = AuditEvent.objects.count()
    writes = 0
    push = can(spec, "org-a", Capability.PUSH)
    manifest = {"files": [{"path": "w.bin", "size": 3, "sha256": "ab" * 32}]}
    for version in world.versions:
        response = client.get(f"/api/v1/versions/{version.public_id}/files/")
        assert response.status_code == read_status(spec, world.sees_version(spec, version)), (version, spec.name)
    for version in [v for v in world.versions if world.org_of(v) == "org-a"]:
        visible = world.sees_version(spec, version)
        declared = client.post(f"/api/v1/versions/{version.public_id}/files/", manifest)
        finalized = client.post(f"/api/v1/versions/{version.public_id}/finalize/")
        if spec.username is None:
            assert {declared.status_code, finalized.status_code} == {401}
        elif not visible:
            assert {declared.status_code, finalized.status_code} == {404}
        elif not push:
            assert {declared.status_code, finalized.status_code} == {403}
        elif version.state == State.DRAFT:
            assert (declared.status_code, finalized.status_code) == (200, 400)  # bytes not uploaded yet
            writes += 1
        else:
            assert {declared.status_code, finalized.status_code} == {409}
    # An upload of org A in flight: only those who may push in A reach it.
    draft = next(v for v in world.versions if world.org_of(v) == "org-a" and v.state == State.DRAFT)
    owner = client_for(world, ACTORS[1])
    upload_id = owner.post(f"/api/v1/versions/{draft.public_id}/files/", manifest).json()[0]["upload"]["id"]
    writes += 1
    parts = client.post(f"/api/v1/uploads/{upload_id}/parts/", {})
    complete = client.post(f"/api/v1/uploads/{upload_id}/complete/")
    if spec.username is None:
        assert {parts.status_code, complete.status_code} == {401}
    elif not push:
        assert {parts.status_code, complete.status_code} == {404}
    else:
        assert (parts.status_code, complete.status_code) == (200, 409)  # no part sent yet
    assert AuditEvent.objects.count() - audit_before == writes


def with_errored_checks(world: World) -> list[Version]:
    """Every finalized version gets a run whose integrity step errored; submitted ones are left
    `checking` by it (re-runnable by stewards), the others are settled."""
    finalized = [v for v in world.versions if v.state not in (State.DRAFT, State.DELETED)]
    for version in finalized:
        if version.state == State.SUBMITTED:
            Version.objects.filter(pk=version.pk).update(state=State.CHECKING)
            version.state = State.CHECKING
        run = PipelineRun.objects.create(version=version, status=PipelineRun.Status.ERRORED)
        Step.objects.create(run=run, name="integrity", status=Step.Status.ERRORED, attempts=5)
    return finalized


@pytest.mark.parametrize("spec", ACTORS, ids=lambda s: s.name)
def test_checks_are_read_as_their_version_and_re_run_by_stewards_only(world: World, spec: ActorSpec) -> None:
    checked = with_errored_checks(world)
    client = client_for(world, spec)
    for version in world.versions:
        visible = world.sees_version(spec, version)
        response = client.get(f"/api/v1/versions/{version.public_id}/checks/")
        expected = read_status(spec, visible)
        if expected == 200 and version not in checked:
            expected = 404  # nothing is checked before finalize
        assert response.status_code == expected, (version, spec.name, response.content)
    for version in checked:
        visible = world.sees_version(spec, version)
        response = client.post(
            f"/api/v1/versions/{version.public_id}/checks/integrity/rerun/", {"reason": "matrix"}, format="json"
        )
        if spec.username is None:
            assert response.status_code == 401
        elif not visible:
            assert response.status_code == 404, (version, spec.name)
        elif not spec.steward:
            assert response.status_code == 403, (version, spec.name, response.content)
        elif version.state != State.CHECKING:
            assert response.status_code == 409, "a settled version's checks are not re-run"
        else:
            assert response.status_code == 200, response.content
    reruns = AuditEvent.objects.filter(action="check.rerun").count()
    assert reruns == (sum(v.state == State.CHECKING for v in checked) if spec.steward else 0)


@pytest.mark.parametrize("spec", [s for s in ACTORS if s.token_org is None], ids=lambda s: s.name)
def test_the_portals_re_run_form_is_for_stewards_only(world: World, spec: ActorSpec) -> None:
    from django.test import Client

    checked = with_errored_checks(world)
    client = Client()  # the portal's forms post form data
    if spec.username is not None:
        client.force_login(world.users[spec.username])
    for version in checked:
        response = client.post(f"/versions/{version.public_id}/steps/integrity/rerun/", {"reason": "matrix"})
        if spec.username is None:
            assert response.status_code == 302, "sign in first"
            assert response["Location"].startswith("/accounts/login/")
        elif not world.sees_version(spec, version):
            assert response.status_code == 404, (version, spec.name)
        elif not spec.steward:
            assert response.status_code == 403, (version, spec.name)
        else:
            assert response.status_code == 302, "back to the version page, with what happened"
    reruns = AuditEvent.objects.filter(action="check.rerun").count()
    assert reruns == (sum(v.state == State.CHECKING for v in checked) if spec.steward else 0)
    queued = Step.objects.filter(name="integrity", status=Step.Status.QUEUED).count()
    assert queued == reruns


@pytest.mark.parametrize("spec", ACTORS, ids=lambda s: s.name)
def test_evals_are_read_as_their_version_and_default_suites_and_re_runs_changed_by_stewards(
    world: World, spec: ActorSpec
) -> None:
    client = client_for(world, spec)
    for version in world.versions:
        response = client.get(f"/api/v1/versions/{version.public_id}/evals/")
        assert response.status_code == read_status(spec, world.sees_version(spec, version)), (version, spec.name)
        if version.state in SCORECARD_STATES:  # found as evals/ finds it: the states where visibility differs
            response = client.get(f"/api/v1/versions/{version.public_id}/scorecard/")
            assert response.status_code == read_status(spec, world.sees_version(spec, version)), (version, spec.name)
    artifact = factories.ArtifactFactory(
        organization=world.orgs["org-b"], kind="eval_suite", slug="matrix-evals", sharing="consortium"
    )
    factories.VersionFactory(artifact=artifact, state=State.PUBLISHED)
    existing = EvalSuiteDefault.objects.create(kind="adapter", suite=artifact)
    audit_before = AuditEvent.objects.count()
    listed = client.get("/api/v1/eval-suite-defaults/")
    assert listed.status_code == (401 if spec.username is None else 200 if spec.can_read else 403)
    if listed.status_code == 200:
        assert [d["suite"] for d in listed.json()] == ["org-b/matrix-evals"]
    writes = [
        (client.post("/api/v1/eval-suite-defaults/", {"kind": "checkpoint", "suite": "org-b/matrix-evals"}), 201),
        (client.delete(f"/api/v1/eval-suite-defaults/{existing.pk}/"), 204),
        (client.post("/api/v1/measures/rerun/", {"step": "evals", "reason": "matrix"}), 200),
    ]
    for response, ok in writes:
        expected = 401 if spec.username is None else ok if spec.steward else 403
        assert response.status_code == expected, (spec.name, response.content)
    assert AuditEvent.objects.count() - audit_before == (2 if spec.steward else 0)


@pytest.mark.parametrize("spec", ACTORS, ids=lambda s: s.name)
def test_reviews_are_for_reviewers_of_other_orgs_and_overrides_for_stewards(world: World, spec: ActorSpec) -> None:
    client = client_for(world, spec)
    audit_before = AuditEvent.objects.count()
    writes = 0
    queue = client.get("/api/v1/review-queue/", {"page_size": 200})
    if spec.username is None:
        assert queue.status_code == 401
    elif not spec.can_read:
        assert queue.status_code == 403
    else:
        awaiting = {
            str(v.public_id) for v in world.versions if v.state == State.IN_REVIEW and world.org_of(v) not in spec.orgs
        }
        assert ids(queue) == (awaiting if spec.reviewer else set())
    for version in world.versions:
        response = client.get(f"/api/v1/versions/{version.public_id}/reviews/")
        expected = 401 if spec.username is None else read_status(spec, world.sees_version(spec, version))
        assert response.status_code == expected, (version, spec.name)
    for version in [v for v in world.versions if v.state == State.IN_REVIEW]:
        response = client.post(
            f"/api/v1/versions/{version.public_id}/reviews/", {"decision": "request_changes", "comment": "matrix"}
        )
        if spec.username is None:
            assert response.status_code == 401
        elif not world.sees_version(spec, version):
            assert response.status_code == 404, (version, spec.name)
        elif not spec.reviewer or world.org_of(version) in spec.orgs:
            assert response.status_code == 403, (version, spec.name, response.content)
        else:
            assert response.status_code == 201, response.content
            writes += 1
    for version in [v for v in world.versions if v.state == State.CHANGES_REQUESTED]:
        PipelineRun.objects.create(version=version, status=PipelineRun.Status.FAILED)  # a failed check to waive
        response = client.post(
            f"/api/v1/versions/{version.public_id}/override/", {"action": "waive", "reason": "matrix"}
        )
        if spec.username is None:
            assert response.status_code == 401
        elif not world.sees_version(spec, version):
            assert response.status_code == 404, (version, spec.name)
        elif not spec.steward:
            assert response.status_code == 403, (version, spec.name, response.content)
        else:
            assert response.status_code == 200, response.content
            assert response.json()["state"] == State.IN_REVIEW
            writes += 1
    policies = client.get("/api/v1/review-policies/")
    assert policies.status_code == (200 if spec.can_read else 403)
    response = client.put("/api/v1/review-policies/checkpoint/", {"approvals_required": 2})
    assert response.status_code == (401 if spec.username is None else 200 if spec.steward else 403), response.content
    writes += response.status_code == 200
    assert AuditEvent.objects.count() - audit_before == writes


@pytest.mark.parametrize("spec", ACTORS, ids=lambda s: s.name)
def test_publication_retries_need_push_and_withdrawals_an_owner_or_a_steward(world: World, spec: ActorSpec) -> None:
    client = client_for(world, spec)
    audit_before = AuditEvent.objects.count()
    for version in [v for v in world.versions if world.org_of(v) == "org-a" and v.state == State.APPROVED]:
        visible = world.sees_version(spec, version)
        retried = client.post(f"/api/v1/versions/{version.public_id}/publish/")
        withdrawn = client.post(f"/api/v1/versions/{version.public_id}/withdraw/", {"reason": "matrix"})
        for response, allowed in (
            (retried, spec.steward or can(spec, "org-a", Capability.PUSH)),
            (withdrawn, spec.steward or can(spec, "org-a", Capability.WITHDRAW)),
        ):
            if spec.username is None:
                assert response.status_code == 401
            elif not visible:
                assert response.status_code == 404, (version, spec.name)
            elif not allowed:
                assert response.status_code == 403, (version, spec.name, response.content)
            else:
                assert response.status_code == 409, "nothing failed to retry; nothing published to withdraw"
    artifact = next(a for a in world.artifacts() if a.organization.slug == "org-a")
    response = client.post(f"/api/v1/artifacts/{artifact.public_id}/withdraw/", {"reason": "matrix"})
    if spec.username is None:
        assert response.status_code == 401
    elif not world.sees_artifact(spec, artifact):
        assert response.status_code == 404
    elif not (spec.steward or can(spec, "org-a", Capability.WITHDRAW)):
        assert response.status_code == 403, response.content
    else:
        assert response.status_code == 200, response.content
        assert response.json()["withdrawn_at"] is not None
    assert AuditEvent.objects.count() - audit_before == (response.status_code == 200)


@pytest.mark.parametrize("spec", [s for s in ACTORS if s.token_org is None], ids=lambda s: s.name)
def test_portal_version_pages_show_exactly_what_the_api_shows(world: World, spec: ActorSpec) -> None:
    client = APIClient()
    if spec.username is not None:
        client.force_login(world.users[spec.username])
    by_id = {str(v.public_id): v for v in world.versions}
    for version in world.versions:
        expected = 200 if world.sees_version(spec, version) else 404
        page = client.get(f"/versions/{version.public_id}/")
        assert page.status_code == expected, (version, spec.name)
        shown = set(re.findall(r"/versions/([0-9a-f-]{36})/", page.content.decode())) if expected == 200 else set()
        for linked in shown:  # the lineage links only what the viewer may open
            assert world.sees_version(spec, by_id[linked]), (version, "links to", by_id[linked], spec.name)
        assert client.get(f"/versions/{version.public_id}/checks/").status_code == expected
        digest = hashlib.sha256(str(version.pk).encode()).hexdigest()
        blob = Blob.objects.get_or_create(organization=version.artifact.organization, sha256=digest, size=1)[0]
        file = VersionFile.objects.get_or_create(version=version, path="f.bin", sha256=digest, size=1, blob=blob)[0]
        download = client.get(f"/versions/{version.public_id}/files/{file.pk}/download/")
        assert download.status_code == (302 if expected == 200 else 404), (version, spec.name)
    for artifact in world.artifacts():
        expected = 200 if world.sees_artifact(spec, artifact) else 404
        assert client.get(f"/artifacts/{artifact.public_id}/").status_code == expected, (artifact, spec.name)
    pages = [client.get("/browse/").content.decode()]
    while ">next</a>" in pages[-1]:
        pages.append(client.get("/browse/", {"page": len(pages) + 1}).content.decode())
    listed = "".join(pages)
    for artifact in world.artifacts():
        assert (f"/artifacts/{artifact.public_id}/" in listed) == world.sees_artifact(spec, artifact)


def _org_page_status(spec: ActorSpec, org: str, capability: Capability, *, write: bool = False) -> int:
    """An org page: sign in first; outsiders 404; members without the capability 403; stewards read."""
    if spec.username is None:
        return 302
    if spec.steward:
        return 403 if write else 200
    if spec.role(org) is None:
        return 404
    return 200 if can(spec, org, capability) else 403


ORG_PAGES = {
    "": Capability.READ,
    "members/": Capability.READ,
    "tokens/": Capability.READ,
    "invitations/": Capability.ADMIN,
    "audit/": Capability.AUDIT,
    "audit.csv": Capability.AUDIT,
}


@pytest.mark.parametrize("spec", [s for s in ACTORS if s.token_org is None], ids=lambda s: s.name)
def test_portal_org_pages_belong_to_the_org_and_its_roles(world: World, spec: ActorSpec) -> None:
    from django.test import Client

    from registry.models import Invitation, Membership
    from registry.services.invitations import invitation_create

    # A member, a token and an invitation of org A and of org B, to address under the other org's URLs.
    foreign = {}
    for slug, owner in (("org-a", "alice"), ("org-b", "charlie")):
        actor = Actor.for_user(world.users[owner])
        organization = world.orgs[slug]
        invitation, _ = invitation_create(actor=actor, organization=organization, email="x@x.org", role="viewer")
        token, _ = token_issue(actor=actor, organization=organization, name="matrix", scopes=["read"])
        foreign[slug] = (Membership.objects.get(organization=organization, user__username=owner), token, invitation)
    client = Client()  # the portal's forms post form data
    if spec.username is not None:
        client.force_login(world.users[spec.username])
    for slug in world.orgs:
        for page, capability in ORG_PAGES.items():
            response = client.get(f"/orgs/{slug}/{page}")
            assert response.status_code == _org_page_status(spec, slug, capability), (slug, page, spec.name)
        # Another org's member, invitation or token addressed under this org's URLs is never found.
        membership, token, invitation = foreign["org-b" if slug == "org-a" else "org-a"]
        for url, capability in (
            (f"/orgs/{slug}/members/{membership.pk}/role/", Capability.ADMIN),
            (f"/orgs/{slug}/members/{membership.pk}/remove/", Capability.ADMIN),
            (f"/orgs/{slug}/invitations/{invitation.public_id}/revoke/", Capability.ADMIN),
            (f"/orgs/{slug}/tokens/{token.public_id}/revoke/", Capability.READ),
        ):
            response = client.post(url, {"role": "viewer"})
            expected = _org_page_status(spec, slug, capability, write=True)
            assert response.status_code == (404 if expected == 200 else expected), (url, spec.name)
        response = client.post(f"/orgs/{slug}/invitations/", {"email": "new@x.org", "role": "viewer"})
        expected = _org_page_status(spec, slug, Capability.ADMIN, write=True)
        assert response.status_code == (302 if expected == 200 else expected), (slug, spec.name)
        response = client.post("/switch-org/", {"org": slug})
        assert response.status_code == (302 if spec.username is None or spec.role(slug) else 404), (slug, spec.name)
    assert Membership.objects.filter(user__username__in=["alice", "charlie"], role="owner").count() == 2
    assert not ApiToken.objects.filter(revoked_at__isnull=False).exists()
    assert not Invitation.objects.filter(revoked_at__isnull=False).exists()
    owned = sorted(slug for slug in world.orgs if spec.role(slug) == "owner")
    invited = Invitation.objects.filter(email="new@x.org").values_list("organization__slug", flat=True)
    assert sorted(invited) == owned
    # An invitation link is its secret's: whoever holds it sees that invitation, nothing else.
    assert client.get("/invitations/not-a-real-secret/").status_code == 404


@pytest.mark.parametrize("spec", ACTORS, ids=lambda s: s.name)
def test_prior_art_matches_only_visible_checked_recipes_or_the_actors_own(world: World, spec: ActorSpec) -> None:
    features = experiment_from(pretraining_recipe())
    for version in world.versions:  # every version the same recipe: what comes back is what the actor may see
        RecipeFeatures.objects.create(version=version, stage=features.stage, features=features.as_dict())
    shared = {State.IN_REVIEW, State.APPROVED, State.PUBLISHING, State.PUBLISHED}
    expected = {
        str(v.public_id)
        for v in world.versions
        if world.sees_version(spec, v)
        and (v.state in shared or (world.org_of(v) in spec.orgs and v.state != State.DELETED))
    }
    response = client_for(world, spec).post(
        "/api/v1/prior-art/", {"recipe": pretraining_recipe(), "limit": 100}, format="json"
    )
    if not spec.can_read:
        assert response.status_code == 403
        return
    assert response.status_code == 200, response.content
    assert {m["version"]["id"] for m in response.json()["matches"]} == expected
