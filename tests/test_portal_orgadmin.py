"""The org admin pages: owners manage members, invitations and tokens and read the audit log;
other members see what their role allows and a 403 page elsewhere; other orgs get a 404."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from django.utils.html import escape

from registry.models import ApiToken, AuditEvent, Blob, Invitation, Membership, Organization, User
from registry.permissions import Role
from registry.portal.orgaudit import csv_cell
from registry.services.audit import audit_record
from registry.services.invitations import invitation_create
from registry.services.tokens import token_authenticate
from tests.conftest import Member
from tests.factories import UserFactory, member

pytestmark = pytest.mark.django_db
PASSWORD = "violet-harbour-1977"


def client_of(person: Member | User) -> Client:
    client = Client()
    client.force_login(person.user if isinstance(person, Member) else person)
    return client


def messages_of(response) -> str:  # type: ignore[no-untyped-def]
    return " ".join(str(m) for m in response.context["messages"])


PAGES = ["", "members/", "invitations/", "tokens/", "audit/", "audit.csv"]


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.OWNER, set(PAGES)),
        (Role.MAINTAINER, {"", "members/", "tokens/", "audit/", "audit.csv"}),
        (Role.CONTRIBUTOR, {"", "members/", "tokens/"}),
        (Role.VIEWER, {"", "members/", "tokens/"}),
    ],
)
def test_each_role_reaches_its_pages_and_gets_a_clear_403_elsewhere(
    alice: Member, role: str, allowed: set[str]
) -> None:
    client = client_of(member(alice.organization, role, username=f"m-{role}"))
    for page in PAGES:
        response = client.get(f"/orgs/org-a/{page}")
        if page in allowed:
            assert response.status_code == 200, (role, page)
        else:
            assert response.status_code == 403, (role, page)
            assert "This page is for an owner" in response.content.decode() or "owner or maintainer" in (
                response.content.decode()
            )


def test_other_orgs_and_public_orgs_are_404_and_anonymous_signs_in(alice: Member, charlie: Member) -> None:
    client = client_of(charlie)
    for page in PAGES:
        assert client.get(f"/orgs/org-a/{page}").status_code == 404
    assert client.get("/orgs/no-such-org/").status_code == 404
    membership = Membership.objects.get(user=alice.user)
    assert client.post(f"/orgs/org-a/members/{membership.pk}/role/", {"role": "viewer"}).status_code == 404
    assert client.post(f"/orgs/org-a/members/{membership.pk}/remove/").status_code == 404
    assert client.post("/orgs/org-a/invitations/", {"email": "x@example.org", "role": "owner"}).status_code == 404
    assert client.post("/orgs/org-a/tokens/", {"name": "x", "scopes": ["read"], "expires_days": "5"}).status_code == 404
    assert not Invitation.objects.exists()
    assert Membership.objects.get(user=alice.user).role == Role.OWNER
    anonymous = Client().get("/orgs/org-a/members/")
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/accounts/login/")


def test_a_steward_reads_the_org_pages_and_changes_nothing(alice: Member, bob: Member, steward: Member) -> None:
    client = client_of(steward)
    for page in PAGES:
        assert client.get(f"/orgs/org-a/{page}").status_code == 200, page
    membership = Membership.objects.get(user=bob.user)
    assert client.post(f"/orgs/org-a/members/{membership.pk}/role/", {"role": "owner"}).status_code == 403
    membership.refresh_from_db()
    assert membership.role == Role.VIEWER


def test_an_owner_changes_a_role_and_removes_a_member(alice: Member, bob: Member) -> None:
    client = client_of(alice)
    page = client.get("/orgs/org-a/members/").content.decode()
    assert "bob" in page
    assert 'for="role-' in page, "each role select has its label"
    membership = Membership.objects.get(user=bob.user)
    response = client.post(f"/orgs/org-a/members/{membership.pk}/role/", {"role": "maintainer"}, follow=True)
    assert "bob is now maintainer" in messages_of(response)
    membership.refresh_from_db()
    assert membership.role == Role.MAINTAINER
    token, _ = bob.token("read")
    response = client.post(f"/orgs/org-a/members/{membership.pk}/remove/", follow=True)
    assert "bob was removed" in messages_of(response)
    assert not Membership.objects.filter(pk=membership.pk).exists()
    token.refresh_from_db()
    assert token.revoked_at is not None
    actions = AuditEvent.objects.filter(organization=alice.organization).order_by("id").values_list("action", flat=True)
    assert list(actions) == ["membership.role_changed", "token.issued", "membership.removed"]


def test_a_bad_role_is_refused_with_a_message(alice: Member, bob: Member) -> None:
    membership = Membership.objects.get(user=bob.user)
    response = client_of(alice).post(f"/orgs/org-a/members/{membership.pk}/role/", {"role": "admiral"}, follow=True)
    assert "'admiral' is not one of" in messages_of(response)
    membership.refresh_from_db()
    assert membership.role == Role.VIEWER


def test_the_last_owner_can_be_neither_demoted_nor_removed(alice: Member) -> None:
    client = client_of(alice)
    membership = Membership.objects.get(user=alice.user)
    response = client.post(f"/orgs/org-a/members/{membership.pk}/role/", {"role": "viewer"}, follow=True)
    assert "keeps at least one owner" in messages_of(response)
    response = client.post(f"/orgs/org-a/members/{membership.pk}/remove/", follow=True)
    assert "keeps at least one owner" in messages_of(response)
    membership.refresh_from_db()
    assert membership.role == Role.OWNER


def test_viewers_see_members_without_forms_and_cannot_post(alice: Member, bob: Member) -> None:
    client = client_of(bob)
    page = client.get("/orgs/org-a/members/").content.decode()
    assert "alice" in page
    assert "Change role" not in page
    assert "alice@example.org" not in page, "addresses are for owners"
    membership = Membership.objects.get(user=alice.user)
    response = client.post(f"/orgs/org-a/members/{membership.pk}/role/", {"role": "viewer"})
    assert response.status_code == 403
    assert client.post(f"/orgs/org-a/members/{membership.pk}/remove/").status_code == 403
    assert Membership.objects.filter(pk=membership.pk, role=Role.OWNER).exists()


def test_the_overview_shows_storage_used_against_the_quota(alice: Member) -> None:
    Organization.objects.filter(pk=alice.organization.pk).update(storage_quota_bytes=4 * 1024**3)
    Blob.objects.create(organization=alice.organization, sha256="a" * 64, size=3 * 1024**3)
    page = client_of(alice).get("/orgs/org-a/").content.decode()
    assert "3.0\xa0GB used of 4.0\xa0GB (75.0%)" in page
    assert 'aria-valuenow="75.0"' in page
    assert "width: 75.00%" in page


# Invitations through the portal


def _invite_in_portal(client: Client, email: str = "dana@example.org", role: str = "contributor") -> str:
    response = client.post("/orgs/org-a/invitations/", {"email": email, "role": role}, follow=True)
    assert response.status_code == 200
    link = response.context["new_invitation"]["url"]
    assert link in response.content.decode()
    return link.removeprefix("http://testserver")


def test_the_invitation_link_is_shown_once(alice: Member) -> None:
    client = client_of(alice)
    link = _invite_in_portal(client)
    assert link.startswith("/invitations/")
    again = client.get("/orgs/org-a/invitations/")
    assert link not in again.content.decode()
    assert "dana@example.org" in again.content.decode()
    assert not [key for key, _ in client.session.items() if key.startswith("new_invitation")]
    assert again["Cache-Control"] == "no-store"


def test_the_invitation_link_is_also_emailed_to_the_invited_address(alice: Member, mailoutbox) -> None:
    link = _invite_in_portal(client_of(alice))
    [mail] = mailoutbox
    assert mail.to == ["dana@example.org"]
    assert f"http://testserver{link}" in mail.body
    assert "as contributor" in mail.body


def test_a_bad_invitation_says_what_is_wrong(alice: Member) -> None:
    response = client_of(alice).post("/orgs/org-a/invitations/", {"email": "dana", "role": "viewer"}, follow=True)
    assert "email: 'dana' is not an email address" in messages_of(response)
    assert not Invitation.objects.exists()


def test_a_new_person_joins_through_the_link_once(alice: Member) -> None:
    link = _invite_in_portal(client_of(alice), role="maintainer")
    visitor = Client()
    page = visitor.get(link)
    assert page.status_code == 200
    assert "Join Org A" in page.content.decode()
    mismatch = visitor.post(link, {"username": "dana", "password": PASSWORD, "password_again": "other-password-1"})
    assert mismatch.status_code == 302
    weak = visitor.post(link, {"username": "dana", "password": "short", "password_again": "short"}, follow=True)
    assert "password: This password is too short" in messages_of(weak)
    joined = visitor.post(link, {"username": "dana", "password": PASSWORD, "password_again": PASSWORD}, follow=True)
    assert joined.redirect_chain[-1][0] == "/orgs/org-a/"
    assert "you joined as maintainer" in messages_of(joined)
    dana = User.objects.get(username="dana")
    assert Membership.objects.get(user=dana).role == Role.MAINTAINER
    assert visitor.session["active_org"] == "org-a"
    reused = Client().get(link)
    assert reused.status_code == 410
    assert "already been used" in reused.content.decode()


def test_expired_revoked_and_unknown_links_say_so(alice: Member) -> None:
    client = client_of(alice)
    expired = _invite_in_portal(client, email="old@example.org")
    Invitation.objects.filter(email="old@example.org").update(expires_at=timezone.now() - timedelta(minutes=1))
    revoked = _invite_in_portal(client, email="gone@example.org")
    invitation = Invitation.objects.get(email="gone@example.org")
    response = client.post(f"/orgs/org-a/invitations/{invitation.public_id}/revoke/", follow=True)
    assert "revoked" in messages_of(response)
    for link, status, says in (
        (expired, 410, "expired"),
        (revoked, 410, "revoked"),
        ("/invitations/nope/", 404, "not valid"),
    ):
        response = Client().get(link)
        assert response.status_code == status
        assert says in response.content.decode()
        response = Client().post(link, {"username": "x", "password": PASSWORD, "password_again": PASSWORD})
        assert response.status_code == status
    assert not User.objects.filter(username="x").exists()


def test_a_signed_in_person_accepts_only_with_the_invited_address(alice: Member, charlie: Member) -> None:
    link = _invite_in_portal(client_of(alice), email="Charlie@Example.org", role="viewer")
    dana = UserFactory(username="dana", email="dana@example.org")
    wrong = client_of(dana)
    assert "this invitation is for Charlie@Example.org" in wrong.get(link).content.decode()
    refused = wrong.post(link, follow=True)
    assert "This invitation is for Charlie@Example.org" in messages_of(refused)
    assert not Membership.objects.filter(user=dana).exists()
    right = client_of(charlie)  # charlie@example.org: the address matches without case
    response = right.post(link, follow=True)
    assert "you joined as viewer" in messages_of(response)
    assert Membership.objects.get(user=charlie.user, organization=alice.organization).role == Role.VIEWER


# Tokens


def test_a_token_is_shown_once_and_works_until_revoked(alice: Member) -> None:
    client = client_of(alice)
    response = client.post(
        "/orgs/org-a/tokens/", {"name": "training CI", "scopes": ["read", "push"], "expires_days": "30"}, follow=True
    )
    secret = response.context["new_token"]["secret"]
    assert secret.startswith("ocr_")
    assert secret in response.content.decode()
    assert response["Cache-Control"] == "no-store"
    kept = [key for key, _ in client.session.items() if key.startswith("new_token")]
    assert not kept, "the secret leaves the session with its one render"
    token, _ = token_authenticate(secret)
    assert token is not None
    assert (token.name, token.scopes) == ("training CI", ["push", "read"])
    assert token.expires_at - timezone.now() == pytest.approx(timedelta(days=30), abs=timedelta(minutes=1))
    again = client.get("/orgs/org-a/tokens/").content.decode()
    assert secret not in again
    assert "training CI" in again
    response = client.post(f"/orgs/org-a/tokens/{token.public_id}/revoke/", follow=True)
    assert "revoked" in messages_of(response)
    assert token_authenticate(secret) == (None, "token revoked")


@pytest.mark.parametrize(
    ("form", "says"),
    [
        ({"name": "", "scopes": ["read"], "expires_days": "30"}, "name: give the token a name"),
        ({"name": "x", "scopes": ["read"], "expires_days": "soon"}, "'soon' is not a number of days"),
        ({"name": "x", "scopes": ["read"], "expires_days": "9999"}, "a token lasts 1 to"),
        ({"name": "x", "scopes": [], "expires_days": "30"}, "scopes must be a non-empty subset"),
        ({"name": "x", "scopes": ["root"], "expires_days": "30"}, "scopes must be a non-empty subset"),
    ],
)
def test_a_bad_token_form_says_what_is_wrong(alice: Member, form: dict, says: str) -> None:
    response = client_of(alice).post("/orgs/org-a/tokens/", form, follow=True)
    assert says in messages_of(response)
    assert not ApiToken.objects.exists()


def test_members_manage_their_own_tokens_and_owners_all(alice: Member, bob: Member) -> None:
    alices, _ = alice.token("read")
    client = client_of(bob)
    response = client.post(
        "/orgs/org-a/tokens/", {"name": "mine", "scopes": ["push"], "expires_days": "5"}, follow=True
    )
    assert "cannot grant the scopes ['push']" in messages_of(response)
    response = client.post(
        "/orgs/org-a/tokens/", {"name": "mine", "scopes": ["read"], "expires_days": "5"}, follow=True
    )
    assert response.context["new_token"]["name"] == "mine"
    page = client.get("/orgs/org-a/tokens/").content.decode()
    assert "mine" in page
    assert f"ocr_{alices.lookup}" not in page, "a viewer sees only their own tokens"
    assert client.post(f"/orgs/org-a/tokens/{alices.public_id}/revoke/").status_code == 404
    bobs = ApiToken.objects.get(name="mine")
    owner_page = client_of(alice).get("/orgs/org-a/tokens/").content.decode()
    assert f"ocr_{bobs.lookup}" in owner_page
    client_of(alice).post(f"/orgs/org-a/tokens/{bobs.public_id}/revoke/")
    bobs.refresh_from_db()
    assert bobs.revoked_at is not None


# Audit log


def _events(alice: Member, n: int, action: str = "artifact.updated", data: dict | None = None) -> None:
    from django.db import transaction

    with transaction.atomic():
        for _ in range(n):
            audit_record(
                actor=alice.actor, action=action, target=alice.organization, organization=alice.organization, data=data
            )


def test_the_audit_log_filters_by_action_actor_and_dates(alice: Member, bob: Member, charlie: Member) -> None:
    _events(alice, 2, "token.issued")
    _events(alice, 1, "membership.added")
    from django.db import transaction

    with transaction.atomic():
        AuditEvent.objects.create(
            organization=alice.organization,
            actor=bob.user,
            actor_label="bob",
            action="version.finalized",
            target_type="version",
            target_id="v1",
            created_at=timezone.now() - timedelta(days=10),
        )
    _events(Member(charlie.user, charlie.organization), 1, "token.issued")  # another org's: never listed
    client = client_of(alice)

    def rows(**query: str) -> list[str]:
        page = client.get("/orgs/org-a/audit/", query)
        assert page.status_code == 200
        return [e.action for e in page.context["page"].object_list]

    assert rows() == ["membership.added", "token.issued", "token.issued", "version.finalized"]
    assert rows(action="token.") == ["token.issued", "token.issued"]
    assert rows(by="bob") == ["version.finalized"]
    assert rows(by="alice", action="membership") == ["membership.added"]
    ten_days_ago = (timezone.now() - timedelta(days=10)).date().isoformat()
    assert rows(until=ten_days_ago) == ["version.finalized"]
    assert rows(since=(timezone.now() - timedelta(days=9)).date().isoformat())[-1] == "token.issued"
    bad = client.get("/orgs/org-a/audit/", {"since": "yesterday"})
    assert bad.status_code == 400
    assert escape("since: 'yesterday' is not a date like 2026-01-31") in bad.content.decode()
    assert bad.context["page"].paginator.count == 4, "the bad filter is named, the good ones still apply"


def test_the_audit_log_is_paginated(alice: Member) -> None:
    _events(alice, 60)
    client = client_of(alice)
    first = client.get("/orgs/org-a/audit/", {"action": "artifact"})
    assert len(first.context["page"].object_list) == 50
    assert "page=2" in first.content.decode()
    assert "action=artifact&amp;page=2" in first.content.decode(), "the filters carry over to the next page"
    second = client.get("/orgs/org-a/audit/", {"action": "artifact", "page": "2"})
    assert len(second.context["page"].object_list) == 10


def test_the_csv_export_has_a_header_the_filtered_rows_and_no_formulas(alice: Member, charlie: Member) -> None:
    _events(alice, 1, "artifact.updated", {"description": '=HYPERLINK("http://evil")'})
    _events(alice, 1, "token.issued", {"name": "ci"})
    from django.db import transaction

    with transaction.atomic():
        AuditEvent.objects.create(
            organization=alice.organization,
            actor=None,
            actor_label="@pipeline",
            action="version.checked",
            target_type="version",
            target_id="-1+2",
        )
        AuditEvent.objects.create(
            organization=charlie.organization,
            actor_label="charlie",
            action="artifact.updated",
            target_type="x",
            target_id="y",
        )
    response = client_of(alice).get("/orgs/org-a/audit.csv", {"action": "artifact."})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    assert response["Content-Disposition"].startswith('attachment; filename="org-a-audit-')
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["time (UTC)", "actor", "action", "target type", "target id", "details"]
    assert len(rows) == 2, "only the filtered rows of this org"
    assert rows[1][1:4] == ["alice", "artifact.updated", "organization"]
    assert rows[1][5] == '{"description": "=HYPERLINK(\\"http://evil\\")"}', "JSON starts with {, not a formula"
    everything = client_of(alice).get("/orgs/org-a/audit.csv")
    rows = list(csv.reader(io.StringIO(b"".join(everything.streaming_content).decode())))
    checked = next(r for r in rows if r[2] == "version.checked")
    assert checked[1] == "'@pipeline"
    assert checked[4] == "'-1+2"
    assert client_of(alice).get("/orgs/org-a/audit.csv", {"until": "31/01"}).status_code == 400


@pytest.mark.parametrize(
    ("cell", "shown"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_csv_cells_that_would_start_a_formula_are_quoted(cell: str, shown: str) -> None:
    assert csv_cell(cell) == shown


# The org switcher and the header


def test_the_switcher_lists_my_orgs_and_keeps_the_choice(alice: Member, charlie: Member) -> None:
    Membership.objects.create(user=alice.user, organization=charlie.organization, role=Role.VIEWER)
    client = client_of(alice)
    header = client.get("/").content.decode()
    assert '<label for="org-switch">Organization</label>' in header
    assert '<option value="org-b"' in header
    assert 'href="/orgs/org-a/">Org admin</a>' in header, "the first org (by name) is active until one is chosen"
    response = client.post("/switch-org/", {"org": "org-b", "next": "/browse/"})
    assert response.status_code == 302
    assert response["Location"] == "/browse/"
    assert client.session["active_org"] == "org-b"
    header = client.get("/").content.decode()
    assert 'href="/orgs/org-b/">Organization</a>' in header, "a viewer of the active org gets no admin link"
    assert '<option value="org-b" selected>' in header
    assert client.post("/switch-org/", {"org": "org-c"}).status_code == 404
    assert client.session["active_org"] == "org-b"
    offsite = client.post("/switch-org/", {"org": "org-a", "next": "https://evil.example/"})
    assert offsite["Location"] == "/"
    assert client.get("/switch-org/").status_code == 405


def test_one_org_people_get_no_switcher_and_anonymous_no_org_links(alice: Member) -> None:
    page = client_of(alice).get("/").content.decode()
    assert "org-switch" not in page
    assert 'href="/submit/">Submit</a>' in page
    assert 'href="/orgs/org-a/">Org admin</a>' in page
    anonymous = Client().get("/").content.decode()
    assert "/orgs/" not in anonymous
    assert "/submit/" not in anonymous
    assert Client().post("/switch-org/", {"org": "org-a"}).status_code == 302  # to sign in


# Query counts: each page costs the same however many rows it shows


# Session, user, the actor's roles, the org and the header's orgs, then the page's own reads
# (storage: two sums and the members count; audit: a count and a page).
MAX_QUERIES = {"": 8, "members/": 6, "invitations/": 6, "tokens/": 6, "audit/": 7}


@pytest.mark.parametrize("page", list(MAX_QUERIES))
def test_org_pages_do_not_grow_queries_with_rows(
    alice: Member,
    page: str,
    django_assert_max_num_queries,  # type: ignore[no-untyped-def]
) -> None:
    client = client_of(alice)
    for i in range(15):
        person = member(alice.organization, Role.VIEWER, username=f"p{i}")
        Member(person, alice.organization).token("read")
        invitation_create(actor=alice.actor, organization=alice.organization, email=f"i{i}@example.org", role="viewer")
    Invitation.objects.filter(email="i0@example.org").update(accepted_by=alice.user, accepted_at=timezone.now())
    client.get(f"/orgs/org-a/{page}")  # warm the session
    with django_assert_max_num_queries(MAX_QUERIES[page]):
        assert client.get(f"/orgs/org-a/{page}").status_code == 200


def test_a_secret_shown_once_is_shown_on_its_own_orgs_page_only(alice: Member, org_b: Organization) -> None:
    Membership.objects.create(user=alice.user, organization=org_b, role="owner")
    client = client_of(alice)
    client.post("/orgs/org-a/invitations/", {"email": "dana@example.org", "role": "viewer"})
    assert client.get(f"/orgs/{org_b.slug}/invitations/").context["new_invitation"] is None
    assert client.get("/orgs/org-a/invitations/").context["new_invitation"] is not None
