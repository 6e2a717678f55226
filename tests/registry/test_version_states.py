"""The lifecycle table: every allowed move works, every other one is refused, races have one winner."""

import threading

import pytest
from django.db import connection

from registry.actors import Actor
from registry.errors import InvalidTransition, StaleState
from registry.models import LineageEdge, Version
from registry.permissions import Role
from tests.factories import LineageEdgeFactory, OrganizationFactory, VersionFactory, member

pytestmark = pytest.mark.django_db
State = Version.State

ALLOWED = {
    (State.DRAFT, State.SUBMITTED),
    (State.DRAFT, State.DELETED),
    (State.SUBMITTED, State.CHECKING),
    (State.CHECKING, State.IN_REVIEW),
    (State.CHECKING, State.CHANGES_REQUESTED),
    (State.CHANGES_REQUESTED, State.IN_REVIEW),
    (State.IN_REVIEW, State.APPROVED),
    (State.IN_REVIEW, State.CHANGES_REQUESTED),
    (State.IN_REVIEW, State.REJECTED),
    (State.APPROVED, State.PUBLISHING),
    (State.PUBLISHING, State.PUBLISHED),
    (State.PUBLISHING, State.APPROVED),
    (State.PUBLISHED, State.WITHDRAWN),
}
ALL_PAIRS = [(a, b) for a in State.values for b in State.values]


def test_the_table_is_design_md_lifecycle() -> None:
    table = {(a, b) for a, targets in Version.TRANSITIONS.items() for b in targets}
    assert table == ALLOWED


@pytest.mark.parametrize(("start", "to"), sorted(ALLOWED))
def test_allowed_move_changes_state_and_time(start: str, to: str) -> None:
    version = VersionFactory(state=start)
    before = version.state_changed_at
    version.transition(to)
    version.refresh_from_db()
    assert version.state == to
    assert version.state_changed_at >= before


@pytest.mark.parametrize(("start", "to"), sorted(set(ALL_PAIRS) - ALLOWED))
def test_disallowed_move_is_refused_and_nothing_changes(start: str, to: str) -> None:
    version = VersionFactory(state=start)
    with pytest.raises(InvalidTransition, match=f"{start} → {to} is not allowed"):
        version.transition(to)
    version.refresh_from_db()
    assert version.state == start


def test_a_stale_copy_cannot_move() -> None:
    version = VersionFactory(state=State.CHECKING)
    stale = Version.objects.get(pk=version.pk)
    version.transition(State.IN_REVIEW)
    with pytest.raises(StaleState):
        stale.transition(State.CHANGES_REQUESTED)
    version.refresh_from_db()
    assert version.state == State.IN_REVIEW


def _race(version_pk: int, targets: list[str]) -> list[str]:
    """Each thread loads the version on its own connection, waits for the others, then moves it."""
    barrier = threading.Barrier(len(targets))
    outcomes: list[str] = []
    lock = threading.Lock()

    def move(to: str) -> None:
        try:
            copy = Version.objects.get(pk=version_pk)
            barrier.wait(timeout=10)
            try:
                copy.transition(to)
                result = f"moved:{to}"
            except StaleState:
                result = "stale"
            with lock:
                outcomes.append(result)
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=move, args=(to,)) for to in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return outcomes


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_moves_from_separate_connections_have_exactly_one_winner() -> None:
    version = VersionFactory(state=State.IN_REVIEW)
    outcomes = _race(version.pk, [State.APPROVED, State.REJECTED])
    assert sorted(o.split(":")[0] for o in outcomes) == ["moved", "stale"]
    winner = next(o.split(":")[1] for o in outcomes if o.startswith("moved"))
    version.refresh_from_db()
    assert version.state == winner


@pytest.mark.django_db(transaction=True)
def test_control_the_same_moves_one_after_the_other_both_see_the_first() -> None:
    version = VersionFactory(state=State.IN_REVIEW)
    first, second = Version.objects.get(pk=version.pk), Version.objects.get(pk=version.pk)
    first.transition(State.APPROVED)
    with pytest.raises(StaleState):
        second.transition(State.REJECTED)
    second.refresh_from_db()
    assert second.state == State.APPROVED


def _parent_with_children(*states: str) -> tuple[Version, list[Version]]:
    """Org A's org-only version with children of org B in the given states."""
    parent = VersionFactory(state=State.APPROVED)
    children = [VersionFactory(state=state) for state in states]
    for child in children:
        LineageEdgeFactory(child=child, parent=parent)
    return parent, children


def _reviewer_sees(version: Version) -> bool:
    organization = OrganizationFactory()
    reviewer = member(organization, Role.VIEWER, is_reviewer=True)
    return Version.objects.visible_to(Actor.for_user(reviewer)).filter(pk=version.pk).exists()


def test_reviewers_see_a_parent_while_one_of_its_children_is_in_review() -> None:
    parent, (first, second) = _parent_with_children(State.CHECKING, State.CHECKING)
    assert not _reviewer_sees(parent)
    first.transition(State.IN_REVIEW)
    assert _reviewer_sees(parent)
    second.transition(State.IN_REVIEW)
    first.transition(State.APPROVED)
    assert _reviewer_sees(parent), "the second child is still in review"
    second.transition(State.CHANGES_REQUESTED)
    assert not _reviewer_sees(parent)


def test_moves_outside_review_leave_the_edges_alone() -> None:
    parent, (child,) = _parent_with_children(State.DRAFT)
    child.transition(State.SUBMITTED)
    child.transition(State.CHECKING)
    assert not LineageEdge.objects.filter(child=child, child_in_review=True).exists()
    assert not _reviewer_sees(parent)
