"""The portal pages that exist so far start from the same visibility as the API."""

import pytest
from django.core.cache import cache
from django.test import Client, RequestFactory

from jobs.models import PipelineRun, Step
from registry.models import Organization
from registry.permissions import Role
from registry.portal import signin
from tests.conftest import Member
from tests.factories import ArtifactFactory, UserFactory, VersionFactory, member

pytestmark = pytest.mark.django_db


def test_home_shows_only_what_the_viewer_may_see(alice: Member, charlie: Member) -> None:
    VersionFactory(artifact=ArtifactFactory(organization=alice.organization, slug="a-draft"))
    VersionFactory(artifact=ArtifactFactory(organization=charlie.organization, slug="b-draft"))
    VersionFactory(artifact=ArtifactFactory(organization=charlie.organization, slug="b-public"), state="published")
    anonymous = Client().get("/").content.decode()
    assert "b-public" in anonymous
    assert "a-draft" not in anonymous
    assert "b-draft" not in anonymous
    client = Client()
    client.force_login(alice.user)
    page = client.get("/").content.decode()
    assert "a-draft" in page
    assert "b-public" in page
    assert "b-draft" not in page


def test_sign_in_needs_csrf_and_the_right_password(alice: Member) -> None:
    client = Client(enforce_csrf_checks=True)
    assert client.post("/accounts/login/", {"username": "alice", "password": "a-long-test-password"}).status_code == 403
    page = client.get("/accounts/login/")
    token = page.cookies["csrftoken"].value
    wrong = client.post("/accounts/login/", {"username": "alice", "password": "nope", "csrfmiddlewaretoken": token})
    assert wrong.status_code == 200
    assert "correct username and password" in wrong.content.decode()
    right = client.post(
        "/accounts/login/", {"username": "alice", "password": "a-long-test-password", "csrfmiddlewaretoken": token}
    )
    assert right.status_code == 302
    assert "alice" in client.get("/").content.decode()


def test_sign_out_is_post_only(alice: Member) -> None:
    client = Client()
    client.force_login(alice.user)
    assert client.get("/accounts/logout/").status_code == 405
    assert client.post("/accounts/logout/").status_code == 302
    assert "Sign in" in client.get("/").content.decode()


def _reviewer(org: Organization) -> Member:
    return Member(member(org, Role.VIEWER, username="rita", is_reviewer=True), org)


def test_the_version_page_is_shown_to_those_who_see_the_version_only(alice: Member, charlie: Member) -> None:
    version = VersionFactory(artifact=ArtifactFactory(organization=alice.organization, slug="tiny"), number="1.0.0")
    url = f"/versions/{version.public_id}/"
    client = Client()
    assert client.get(url).status_code == 404
    client.force_login(charlie.user)
    assert client.get(url).status_code == 404
    client.force_login(alice.user)
    page = client.get(url)
    assert page.status_code == 200
    assert "org-a/tiny" in page.content.decode()
    assert f'href="/versions/{version.public_id}/"' in client.get("/").content.decode(), "home links to it"


def test_checks_are_polled_while_they_run_and_no_longer_after(alice: Member) -> None:
    version = VersionFactory(artifact=ArtifactFactory(organization=alice.organization), state="checking")
    run = PipelineRun.objects.create(version=version)
    Step.objects.create(run=run, name="integrity", status="running", progress_done=5, progress_total=10)
    client = Client()
    client.force_login(alice.user)
    partial = client.get(f"/versions/{version.public_id}/checks/").content.decode()
    assert 'hx-trigger="every 2s"' in partial
    assert '<progress max="10" value="5"' in partial
    PipelineRun.objects.filter(pk=run.pk).update(status="passed")
    assert "hx-trigger" not in client.get(f"/versions/{version.public_id}/checks/").content.decode()


def test_a_reviewer_decides_from_the_portal_and_never_on_their_own_org(alice: Member, org_b: Organization) -> None:
    rita = _reviewer(org_b)
    version = VersionFactory(artifact=ArtifactFactory(organization=alice.organization, slug="tiny"), state="in_review")
    client = Client()
    client.force_login(rita.user)
    queue = client.get("/review/").content.decode()
    assert f"/versions/{version.public_id}/" in queue
    refused = client.post(f"/versions/{version.public_id}/review/", {"decision": "reject"}, follow=True)
    assert "say what must change, or why it is rejected" in refused.content.decode()
    done = client.post(f"/versions/{version.public_id}/review/", {"decision": "approve"}, follow=True)
    assert "Recorded: approve" in done.content.decode()
    version.refresh_from_db()
    assert version.state == "approved"
    own = VersionFactory(artifact=ArtifactFactory(organization=org_b, slug="theirs"), state="in_review")
    response = client.post(f"/versions/{own.public_id}/review/", {"decision": "approve"}, follow=True)
    assert "never review a version of their own organization" in response.content.decode()


def test_the_queue_tells_a_non_reviewer_what_it_is_for(alice: Member) -> None:
    client = Client()
    assert client.get("/review/").status_code == 302, "sign in first"
    client.force_login(alice.user)
    assert "You are not a consortium reviewer" in client.get("/review/").content.decode()


def test_a_steward_overrides_with_a_reason(alice: Member, steward: Member) -> None:
    version = VersionFactory(artifact=ArtifactFactory(organization=alice.organization), state="in_review")
    client = Client()
    client.force_login(steward.user)
    missing = client.post(f"/versions/{version.public_id}/override/", {"action": "approve"}, follow=True)
    assert "an override needs a reason" in missing.content.decode()
    client.post(f"/versions/{version.public_id}/override/", {"action": "approve", "reason": "urgent fix"})
    version.refresh_from_db()
    assert version.state == "approved"
    client.force_login(alice.user)
    client.post(f"/versions/{version.public_id}/override/", {"action": "approve", "reason": "me too"})
    assert "only a steward" in client.get(f"/versions/{version.public_id}/").content.decode()


def test_browse_searches_and_filters_what_the_viewer_sees(alice: Member, charlie: Member) -> None:
    ArtifactFactory(organization=alice.organization, slug="llama-tiny", kind="checkpoint", description="a tiny llama")
    ArtifactFactory(organization=alice.organization, slug="web-text", kind="dataset")
    ArtifactFactory(organization=charlie.organization, slug="llama-secret", kind="checkpoint")
    client = Client()
    client.force_login(alice.user)
    found = client.get("/browse/", {"q": "llama"}).content.decode()
    assert "org-a/llama-tiny" in found
    assert "web-text" not in found
    assert "llama-secret" not in found, "another org's unshared work is never listed"
    datasets = client.get("/browse/", {"kind": "dataset"}).content.decode()
    assert "org-a/web-text" in datasets
    assert "llama-tiny" not in datasets
    assert '<option value="checkpoint">Checkpoint (1)</option>' in found.replace(" selected", "")
    assert "Nothing matches “nope”" in client.get("/browse/", {"q": "nope"}).content.decode()


def test_an_artifact_page_lists_its_visible_versions_and_the_hub_release(alice: Member) -> None:
    artifact = ArtifactFactory(organization=alice.organization, slug="tiny")
    VersionFactory(artifact=artifact, number="1.0.0", state="published")
    VersionFactory(artifact=artifact, number="2.0.0", state="draft")
    client = Client()
    page = client.get(f"/artifacts/{artifact.public_id}/").content.decode()
    assert "Latest published" in page
    assert "1.0.0" in page
    assert "2.0.0" not in page, "the public sees published versions only"
    client.force_login(alice.user)
    assert "2.0.0" in client.get(f"/artifacts/{artifact.public_id}/").content.decode()


def test_a_missing_page_says_what_may_have_happened_and_where_to_go(alice: Member) -> None:
    version = VersionFactory(artifact=ArtifactFactory(organization=alice.organization))
    page = Client().get(f"/versions/{version.public_id}/")
    assert page.status_code == 404
    text = page.content.decode()
    assert "not shared with you" in text
    assert "sign in</a> to see your organization's work" in text
    assert Client().get("/api/v1/versions/nope/").json()["error"]["code"] == "not_found", "the API stays JSON"


def test_repeated_wrong_passwords_lock_the_account_out_for_a_while(settings) -> None:
    settings.LOGIN_MAX_FAILURES = 3
    user = UserFactory(username="lockme")
    window = signin._key(RequestFactory().post("/", REMOTE_ADDR="127.0.0.1"), "lockme")
    cache.delete(window)  # nothing left from an earlier run within the window
    client = Client()
    for _ in range(3):
        assert client.post("/accounts/login/", {"username": "lockme", "password": "nope"}).status_code == 200
    locked = client.post("/accounts/login/", {"username": "LockMe", "password": "a-long-test-password"})
    assert locked.status_code == 429
    assert "Too many failed sign-ins for this account: try again in 15 minutes." in locked.content.decode()
    assert "_auth_user_id" not in client.session
    cache.delete(window)  # the window passed
    assert (
        client.post("/accounts/login/", {"username": user.username, "password": "a-long-test-password"}).status_code
        == 302
    )
