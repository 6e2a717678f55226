"""The portal pages that exist so far start from the same visibility as the API."""

import pytest
from django.test import Client

from tests.conftest import Member
from tests.factories import ArtifactFactory, VersionFactory

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
