"""The API's one permission class, driven by the policy each view declares per action."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from registry.actors import Actor
from registry.permissions import Capability, Scope


@dataclass(frozen=True)
class Policy:
    """What an action needs. Reads are narrowed by `visible_to` in the view's queryset;
    writes also need `capability` in the object's org (services check it again)."""

    anonymous: bool = False
    capability: Capability | None = None
    reads: bool = False  # a POST that only reads (a search with a body): a token needs the `read` scope
    session: bool = False  # a person's own settings: changed when signed in, never with a token


PUBLIC_READ = Policy(anonymous=True)
MEMBER_READ = Policy()
PUBLIC_QUERY = Policy(anonymous=True, reads=True)
OWN_STATE = Policy(reads=True)  # the caller's own read marks: a token needs `read`, as to list them
OWN_SETTINGS = Policy(session=True)


def write(capability: Capability | None) -> Policy:
    return Policy(capability=capability)


class ActionPolicy(BasePermission):
    """Deny by default: an action without a declared policy is refused."""

    def has_permission(self, request: Request, view: Any) -> bool:
        policy: Policy | None = getattr(view, "action_policy", {}).get(view.action)
        if policy is None:
            self.message = f"no access policy is declared for '{view.action}'"
            return False
        actor = Actor.of(request)
        if not actor.is_authenticated:
            return policy.anonymous
        if policy.session and actor.token is not None:
            self.message = "this is changed from a signed-in session in the portal, not with an API token"
            return False
        reading = request.method in SAFE_METHODS or policy.reads
        if actor.scopes is not None and reading and Scope.READ not in actor.scopes:
            self.message = f"this token's scopes {sorted(actor.scopes)} do not include 'read'"
            return False
        return True

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        capability = view.action_policy[view.action].capability
        if capability is None:
            return True
        actor = Actor.of(request)
        organization = obj.organization
        if actor.can(organization.pk, capability):
            return True
        self.message = actor.denial(organization, capability)
        return False
