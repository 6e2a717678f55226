"""The portal inbox: the person's notifications with unread ones marked, the badge every page
polls, marking read (by following or with a button), preferences, and the artifact's Watch button."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from registry.models import Notification, NotificationPreference, Organization, Sharing, Version, Watch
from registry.permissions import Role
from tests import factories
from tests.api.test_notifications_api import in_review
from tests.conftest import Member, portal_client

pytestmark = pytest.mark.django_db
State = Version.State


@pytest.fixture
def rita(org_b: Organization) -> Member:
    return Member(factories.member(org_b, Role.VIEWER, username="rita", is_reviewer=True), org_b)


def badge(client: Client) -> str:
    response = client.get("/inbox/count/")
    assert response.status_code == 200
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    return re.sub(r"\s+", " ", response.content.decode()).strip()


def test_the_inbox_lists_newest_first_with_unread_marked(alice: Member, rita: Member) -> None:
    older, newer = in_review(alice, "older"), in_review(alice, "newer")
    Notification.objects.filter(user=rita.user, event__version=older).update(read_at="2030-01-01T00:00:00Z")
    page = portal_client(rita).get("/inbox/").content.decode()
    assert "<h1>Inbox</h1>" in page
    assert "1 unread." in page
    assert page.index("org-a/newer@3 moved from checking to in_review") < page.index("org-a/older@3 moved")
    assert page.count('<span class="state">unread</span>') == 1
    assert page.count("Waiting for your review") == 2
    opened = Notification.objects.get(user=rita.user, event__version=newer)
    assert f'href="/inbox/{opened.pk}/"' in page
    assert "Mark all read" in page


def test_the_badge_counts_unread_and_keeps_polling(alice: Member, rita: Member, bob: Member) -> None:
    client = portal_client(rita)
    assert ">Inbox</a>" in badge(client), "no count when nothing is unread"
    in_review(alice, "one")
    in_review(alice, "two")
    fragment = badge(client)
    assert '<span class="state">2<span class="visually-hidden"> unread</span></span>' in fragment
    assert 'hx-trigger="every 20s"' in fragment
    assert 'hx-get="/inbox/count/"' in fragment
    home = portal_client(bob).get("/").content.decode()
    assert 'hx-trigger="load, every 20s"' in home, "every page loads the badge, then polls it"
    assert Client().get("/inbox/count/").content == b"", "signed out: the badge goes away"


def test_following_a_notification_reads_it_and_opens_the_version(alice: Member, rita: Member, bob: Member) -> None:
    version = in_review(alice)
    client = portal_client(rita)
    mine = Notification.objects.get(user=rita.user)
    response = client.get(f"/inbox/{mine.pk}/")
    assert response.status_code == 302
    assert response["Location"] == f"/versions/{version.public_id}/"
    mine.refresh_from_db()
    assert mine.read_at is not None
    bobs = Notification.objects.get(user=bob.user)
    assert client.get(f"/inbox/{bobs.pk}/").status_code == 404
    assert Notification.objects.get(pk=bobs.pk).read_at is None


def test_mark_one_or_all_read_with_the_buttons(alice: Member, rita: Member) -> None:
    in_review(alice, "one")
    in_review(alice, "two")
    client = portal_client(rita)
    first, second = Notification.objects.filter(user=rita.user).order_by("id")
    assert client.get("/inbox/read/").status_code == 405
    response = client.post("/inbox/read/", {"id": first.pk}, follow=True)
    assert "Marked read." in response.content.decode()
    assert list(Notification.objects.filter(user=rita.user, read_at__isnull=True)) == [second]
    client.post("/inbox/read/", {"id": "x"})
    client.post("/inbox/read/", {"all": "1"})
    assert not Notification.objects.filter(user=rita.user, read_at__isnull=True).exists()
    assert ">Inbox</a>" in badge(client)


def test_marking_read_needs_the_csrf_token(alice: Member, rita: Member) -> None:
    in_review(alice)
    client = Client(enforce_csrf_checks=True)
    client.force_login(rita.user)
    assert client.post("/inbox/read/", {"all": "1"}).status_code == 403
    assert Notification.objects.filter(user=rita.user, read_at__isnull=True).exists()


def test_the_preferences_form_saves_the_choices(alice: Member) -> None:
    client = portal_client(alice)
    page = client.get("/inbox/preferences/").content.decode()
    assert "<h1>Notification preferences</h1>" in page
    assert "<legend>Tell me about</legend>" in page
    assert page.count('type="checkbox"') == 5
    assert page.count("checked") == 5, "everything is on until the person chooses"
    response = client.post("/inbox/preferences/", {"reviews_waiting": "on", "org_changes": "on"}, follow=True)
    assert "Preferences saved." in response.content.decode()
    saved = NotificationPreference.objects.get(user=alice.user)
    assert (saved.reviews_waiting, saved.org_changes, saved.errors, saved.watched_publications, saved.email) == (
        True,
        True,
        False,
        False,
        False,
    )
    assert client.get("/inbox/preferences/").content.decode().count("checked") == 2


def test_the_inbox_pages_need_sign_in(client: Client) -> None:
    for path in ("/inbox/", "/inbox/preferences/", "/inbox/1/"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert "/accounts/login/" in response["Location"], path


def test_the_watch_button_watches_and_unwatches(alice: Member, charlie: Member) -> None:
    shared = in_review(alice, "shared", sharing=Sharing.CONSORTIUM)
    private = in_review(alice, "private")
    client = portal_client(charlie)
    page = client.get(f"/artifacts/{shared.artifact.public_id}/").content.decode()
    assert f'action="/artifacts/{shared.artifact.public_id}/watch/"' in page
    assert ">Watch</button>" in page
    response = client.post(f"/artifacts/{shared.artifact.public_id}/watch/", {"watch": "on"}, follow=True)
    assert "You watch org-a/shared: you will hear of its publications." in response.content.decode()
    assert ">Unwatch</button>" in response.content.decode()
    assert Watch.objects.filter(user=charlie.user, artifact=shared.artifact).exists()
    client.post(f"/artifacts/{shared.artifact.public_id}/watch/", {"watch": "off"})
    assert not Watch.objects.filter(user=charlie.user).exists()
    assert client.post(f"/artifacts/{private.artifact.public_id}/watch/", {"watch": "on"}).status_code == 404
    assert not Watch.objects.exists()
    assert "Watch</button>" not in Client().get(f"/artifacts/{shared.artifact.public_id}/").content.decode()
