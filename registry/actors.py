"""Actor: who is acting, a signed-in user or an API token, with what it may see and do."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, cast

from django.utils.functional import SimpleLazyObject

from registry.errors import Forbidden
from registry.permissions import ROLE_CAPABILITIES, Capability, Scope, token_capabilities

if TYPE_CHECKING:
    from registry.models import ApiToken, Organization, User


@dataclass(frozen=True)
class Actor:
    user: User | None
    token: ApiToken | None = None
    # org id → role. A token's holds its own org only, whatever other orgs its creator is in.
    roles: Mapping[int, str] = field(default_factory=dict)
    is_reviewer: bool = False
    is_steward: bool = False
    system: str = ""  # the name of a system actor (the check pipeline), which has no user

    @classmethod
    def anonymous(cls) -> Actor:
        return cls(user=None)

    @classmethod
    def of_system(cls, name: str, *, reading_for: int | None = None) -> Actor:
        """The registry itself acting (the pipeline moving a version): audited under `name`. Acting
        `reading_for` an org (its pushed work names other artifacts), it reads what a viewer of
        that org reads, nothing more."""
        from registry.permissions import Role

        return cls(user=None, system=name, roles={reading_for: Role.VIEWER} if reading_for is not None else {})

    @classmethod
    def for_user(cls, user: User) -> Actor:
        from registry.models import Membership

        roles = dict(Membership.objects.filter(user=user).values_list("organization_id", "role"))
        return cls(user=user, roles=roles, is_reviewer=user.is_reviewer, is_steward=user.is_steward)

    @classmethod
    def for_token(cls, token: ApiToken) -> Actor:
        """A token (as token_authenticate returns it) acts with its creator's current role in the
        token's org, none if they left; the creator's own row loads only if a write records it."""
        role = token.creator_role
        return cls(
            user=cast("User", SimpleLazyObject(lambda: token.created_by)),
            token=token,
            roles={token.organization_id: role} if role else {},
            is_reviewer=token.creator_is_reviewer and Scope.REVIEW in token.scopes,
            is_steward=False,  # steward powers are for signed-in people, never for a token
        )

    @staticmethod
    def of(request: Any) -> Actor:
        """The actor of a Django or DRF request, computed once per request."""
        cached = getattr(request, "_consortium_actor", None)
        if cached is not None:
            return cached
        from registry.models import ApiToken

        token = getattr(request, "auth", None)
        user = getattr(request, "user", None)
        if isinstance(token, ApiToken):
            actor = Actor.for_token(token)
        elif user is not None and user.is_authenticated:
            actor = Actor.for_user(user)
        else:
            actor = Actor.anonymous()
        request._consortium_actor = actor
        return actor

    def as_member(self) -> Actor:
        """The same actor with only its org memberships: what it may build on, not just read."""
        return replace(self, is_reviewer=False, is_steward=False)

    @property
    def is_authenticated(self) -> bool:
        return self.user is not None

    @property
    def org_ids(self) -> frozenset[int]:
        return frozenset(self.roles)

    @property
    def scopes(self) -> frozenset[str] | None:
        """A token's scopes; None for a signed-in person (no scope limit)."""
        return None if self.token is None else frozenset(self.token.scopes)

    @property
    def key(self) -> str | None:
        """Stable identity for per-actor records such as Idempotency-Key replays."""
        if self.token is not None:
            return f"token:{self.token.pk}"
        return f"user:{self.user.pk}" if self.user is not None else None

    @property
    def label(self) -> str:
        if self.user is None:
            return self.system or "anonymous"
        if self.token is not None:
            return f"{self.user.username} (token ocr_{self.token.lookup}…)"
        return self.user.username

    def capabilities(self, org_id: int) -> frozenset[Capability]:
        role = self.roles.get(org_id)
        if self.token is not None:
            return token_capabilities(role, self.token.scopes)
        return ROLE_CAPABILITIES[role] if role else frozenset()

    def can(self, org_id: int, capability: Capability) -> bool:
        return capability in self.capabilities(org_id)

    def denial(self, organization: Organization, capability: Capability) -> str:
        """Why this actor may not use `capability` in `organization`, in words."""
        if self.token is not None:
            return f"this token (scopes {sorted(self.token.scopes)}) cannot '{capability}' in '{organization.slug}'"
        return f"you lack the '{capability}' capability in organization '{organization.slug}'"

    def require(self, organization: Organization, capability: Capability) -> None:
        if not self.can(organization.pk, capability):
            raise Forbidden(self.denial(organization, capability))
