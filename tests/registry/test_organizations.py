"""Membership changes keep an org with an owner, even when two owners act at once."""

import threading

import pytest
from django.db import connection

from registry.errors import Conflict
from registry.models import Membership
from registry.permissions import Role
from registry.services.organizations import membership_change_role
from tests.conftest import Member
from tests.factories import member


@pytest.mark.django_db(transaction=True)
def test_two_owners_demoting_each_other_at_once_leave_one_owner(alice: Member) -> None:
    carol = member(alice.organization, Role.OWNER, username="carol")
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def demote(actor_user: object, target_user: object) -> None:
        try:
            target = Membership.objects.get(user=target_user, organization=alice.organization)
            from registry.actors import Actor

            actor = Actor.for_user(actor_user)
            barrier.wait(timeout=10)
            try:
                membership_change_role(actor=actor, membership=target, role=Role.VIEWER)
                outcomes.append("demoted")
            except Conflict:
                outcomes.append("refused")
        finally:
            connection.close()

    threads = [
        threading.Thread(target=demote, args=(alice.user, carol)),
        threading.Thread(target=demote, args=(carol, alice.user)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["demoted", "refused"]
    assert Membership.objects.filter(organization=alice.organization, role=Role.OWNER).count() == 1
