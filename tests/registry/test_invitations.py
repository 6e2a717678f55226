"""Invitations: owners invite an address with a role; the link works once, until it expires or
is revoked; only a digest of its secret is stored; every step is in the audit log."""

from __future__ import annotations

import hashlib
import threading
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from registry.actors import Actor
from registry.errors import Conflict, Forbidden
from registry.models import AuditEvent, Invitation, Membership, User
from registry.permissions import Role
from registry.services.invitations import (
    InvitationUnusable,
    invitation_accept,
    invitation_accept_new_user,
    invitation_create,
    invitation_lookup,
    invitation_revoke,
)
from tests.conftest import Member
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
PASSWORD = "violet-harbour-1977"


def _invite(alice: Member, email: str = "dana@example.org", role: str = Role.CONTRIBUTOR) -> tuple[Invitation, str]:
    return invitation_create(actor=alice.actor, organization=alice.organization, email=email, role=role)


def test_only_a_digest_of_the_secret_is_stored_and_the_invitation_is_audited(alice: Member, settings) -> None:
    invitation, secret = _invite(alice)
    assert invitation.digest == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(Invitation.objects.values().get(pk=invitation.pk))
    assert invitation.expires_at - timezone.now() == pytest.approx(
        settings.INVITATION_LIFETIME, abs=timedelta(seconds=5)
    )
    event = AuditEvent.objects.get(action="invitation.created")
    assert event.organization == alice.organization
    assert event.data["email"] == "dana@example.org"
    assert event.data["role"] == Role.CONTRIBUTOR
    assert secret not in str(event.data)


def test_only_owners_invite(alice: Member, bob: Member, charlie: Member) -> None:
    for outsider in (bob, charlie):
        with pytest.raises(Forbidden):
            invitation_create(
                actor=outsider.actor, organization=alice.organization, email="x@example.org", role="viewer"
            )
    assert not Invitation.objects.exists()


@pytest.mark.parametrize(
    ("email", "role", "field"),
    [("not-an-address", Role.VIEWER, "email"), ("dana@example.org", "admiral", "role")],
)
def test_bad_email_or_role_is_refused_with_the_field_named(alice: Member, email: str, role: str, field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        _invite(alice, email=email, role=role)
    assert field in refused.value.message_dict


def test_members_and_pending_invitations_are_not_invited_twice(alice: Member, bob: Member) -> None:
    with pytest.raises(Conflict, match="already belongs to a member"):
        _invite(alice, email=bob.user.email.upper())
    _invite(alice)
    with pytest.raises(Conflict, match="pending invitation"):
        _invite(alice, email="DANA@example.org")


def test_a_signed_in_person_with_the_invited_email_joins_with_the_role_once(alice: Member) -> None:
    invitation, secret = _invite(alice, role=Role.MAINTAINER)
    dana = UserFactory(username="dana", email="Dana@Example.org")  # addresses compare without case
    membership = invitation_accept(actor=Actor.for_user(dana), secret=secret)
    assert (membership.user, membership.organization, membership.role) == (dana, alice.organization, Role.MAINTAINER)
    invitation.refresh_from_db()
    assert invitation.state == Invitation.State.ACCEPTED
    assert invitation.accepted_by == dana
    event = AuditEvent.objects.get(action="invitation.accepted")
    assert (event.actor, event.data["role"], event.data["new_account"]) == (dana, Role.MAINTAINER, False)
    with pytest.raises(InvitationUnusable, match="already been used"):
        invitation_accept(actor=Actor.for_user(dana), secret=secret)


def test_someone_signed_in_with_another_email_cannot_use_the_link(alice: Member, charlie: Member) -> None:
    _, secret = _invite(alice)
    with pytest.raises(Forbidden, match=r"for dana@example\.org"):
        invitation_accept(actor=charlie.actor, secret=secret)
    assert not Membership.objects.filter(user=charlie.user, organization=alice.organization).exists()
    assert invitation_lookup(secret).state == Invitation.State.PENDING  # still usable by dana


def test_a_new_person_creates_an_account_for_the_invited_email(alice: Member) -> None:
    _, secret = _invite(alice, role=Role.VIEWER)
    membership = invitation_accept_new_user(secret=secret, username="dana", password=PASSWORD)
    dana = User.objects.get(username="dana")
    assert dana.email == "dana@example.org"
    assert dana.check_password(PASSWORD)
    assert membership.role == Role.VIEWER
    assert AuditEvent.objects.get(action="invitation.accepted").data["new_account"] is True


@pytest.mark.parametrize(
    ("username", "password", "field", "says"),
    [
        ("dana", "short", "password", "too short"),
        ("dana", "1234567890123", "password", "entirely numeric"),
        ("dana", "password1234", "password", "too common"),
        ("bad name!", PASSWORD, "username", "Enter a valid username"),
        ("alice", PASSWORD, "username", "taken"),
    ],
)
def test_a_new_account_needs_a_free_valid_username_and_a_good_password(
    alice: Member, username: str, password: str, field: str, says: str
) -> None:
    _, secret = _invite(alice)
    with pytest.raises(ValidationError) as refused:
        invitation_accept_new_user(secret=secret, username=username, password=password)
    assert says in " ".join(refused.value.message_dict[field])
    assert not User.objects.filter(email="dana@example.org").exists()
    assert invitation_lookup(secret).state == Invitation.State.PENDING


def test_expired_revoked_and_unknown_links_say_so(alice: Member) -> None:
    expired, expired_secret = _invite(alice, email="old@example.org")
    Invitation.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    revoked, revoked_secret = _invite(alice, email="gone@example.org")
    invitation_revoke(actor=alice.actor, invitation=revoked)
    assert AuditEvent.objects.filter(action="invitation.revoked").count() == 1
    for secret, says in ((expired_secret, "expired"), (revoked_secret, "revoked"), ("nope", "not valid")):
        with pytest.raises(InvitationUnusable, match=says):
            invitation_accept_new_user(secret=secret, username="someone", password=PASSWORD)
    assert not User.objects.filter(username="someone").exists()
    with pytest.raises(Conflict, match="only a pending one"):
        invitation_revoke(actor=alice.actor, invitation=revoked)


def test_only_owners_revoke(alice: Member, bob: Member) -> None:
    invitation, _ = _invite(alice)
    with pytest.raises(Forbidden):
        invitation_revoke(actor=bob.actor, invitation=invitation)
    invitation.refresh_from_db()
    assert invitation.state == Invitation.State.PENDING


def test_an_existing_account_with_the_address_signs_in_instead_of_making_another(alice: Member) -> None:
    UserFactory(username="dana", email="dana@example.org")
    _, secret = _invite(alice)
    with pytest.raises(Conflict, match="sign in with it"):
        invitation_accept_new_user(secret=secret, username="dana2", password=PASSWORD)


def test_a_member_already_in_the_org_is_told_so(alice: Member) -> None:
    _, secret = _invite(alice)
    dana = UserFactory(username="dana", email="dana@example.org")
    Membership.objects.create(user=dana, organization=alice.organization, role=Role.VIEWER)
    with pytest.raises(Conflict, match="already a member"):
        invitation_accept(actor=Actor.for_user(dana), secret=secret)


@pytest.mark.django_db(transaction=True)
def test_two_people_using_one_link_at_once_make_one_member(alice: Member) -> None:
    _, secret = _invite(alice)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def accept(username: str) -> None:
        try:
            barrier.wait(timeout=10)
            invitation_accept_new_user(secret=secret, username=username, password=PASSWORD)
            outcomes.append("joined")
        except (InvitationUnusable, Conflict):
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=accept, args=(name,)) for name in ("dana", "dana-too")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["joined", "refused"]
    assert Membership.objects.filter(organization=alice.organization, user__email="dana@example.org").count() == 1
    assert User.objects.filter(email="dana@example.org").count() == 1, "the loser's account is rolled back"
