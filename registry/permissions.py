"""Who may do what: the role → capability table and the token scope → capability table."""

from __future__ import annotations

from enum import StrEnum

from django.db import models


class Role(models.TextChoices):
    OWNER = "owner"
    MAINTAINER = "maintainer"
    CONTRIBUTOR = "contributor"
    VIEWER = "viewer"


class Scope(models.TextChoices):
    READ = "read"
    PUSH = "push"
    REVIEW = "review"
    WEBHOOKS = "webhooks"


class Capability(StrEnum):
    READ = "read"  # read the org's objects in any state
    PUSH = "push"  # create artifacts and versions, upload, finalize, delete drafts
    MANAGE = "manage"  # change an artifact's sharing and description
    AUDIT = "audit"  # read the org's audit log
    ADMIN = "admin"  # members, roles and API tokens
    WITHDRAW = "withdraw"  # take the org's published work off the Hub
    WEBHOOKS = "webhooks"  # register, change, replay and remove the org's webhooks


ROLE_CAPABILITIES: dict[str, frozenset[Capability]] = {
    Role.OWNER: frozenset(Capability),
    Role.MAINTAINER: frozenset({Capability.READ, Capability.PUSH, Capability.MANAGE, Capability.AUDIT}),
    Role.CONTRIBUTOR: frozenset({Capability.READ, Capability.PUSH}),
    Role.VIEWER: frozenset({Capability.READ}),
}

# A token acts with its creator's role in its org, narrowed to its scopes. ADMIN is never
# reachable through a token: tokens cannot mint tokens or change members.
SCOPE_CAPABILITIES: dict[str, frozenset[Capability]] = {
    Scope.READ: frozenset({Capability.READ, Capability.AUDIT}),
    Scope.PUSH: frozenset({Capability.PUSH, Capability.MANAGE, Capability.WITHDRAW}),
    Scope.REVIEW: frozenset(),
    Scope.WEBHOOKS: frozenset({Capability.WEBHOOKS}),
}


def token_capabilities(role: str | None, scopes: list[str]) -> frozenset[Capability]:
    if role is None:
        return frozenset()
    granted = frozenset().union(*(SCOPE_CAPABILITIES[s] for s in scopes))
    return ROLE_CAPABILITIES[role] & granted


def scopes_allowed_for(role: str, *, is_reviewer: bool) -> set[str]:
    """The scopes a member with `role` may put on a token: never more than the role can do."""
    allowed = {Scope.READ.value}
    if Capability.PUSH in ROLE_CAPABILITIES[role]:
        allowed.add(Scope.PUSH.value)
    if is_reviewer:
        allowed.add(Scope.REVIEW.value)
    if Capability.WEBHOOKS in ROLE_CAPABILITIES[role]:
        allowed.add(Scope.WEBHOOKS.value)
    return allowed
