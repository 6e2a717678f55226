"""API tokens: issued once in plaintext, stored as a SHA-256 digest, found by a short prefix."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from registry.actors import Actor
from registry.errors import DomainError, Forbidden
from registry.models import ApiToken, Membership, Organization, User
from registry.permissions import Capability, Scope, scopes_allowed_for
from registry.services.audit import audit_record

PREFIX = "ocr_"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic(durable=True)
def token_issue(
    *, actor: Actor, organization: Organization, name: str, scopes: list[str], expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    """Create a token for `organization`. The plaintext is returned once and never stored."""
    if actor.user is None or actor.token is not None:
        raise Forbidden("tokens are issued from a signed-in session, not with another token")
    role = actor.roles.get(organization.pk)
    if role is None:
        raise Forbidden(f"you are not a member of organization '{organization.slug}'")
    unknown = sorted(set(scopes) - set(Scope.values))
    if unknown or not scopes:
        raise DomainError(
            f"scopes must be a non-empty subset of {sorted(Scope.values)}; got {unknown or scopes}", field="scopes"
        )
    beyond = sorted(set(scopes) - scopes_allowed_for(role, is_reviewer=actor.user.is_reviewer))
    if beyond:
        raise Forbidden(f"your role '{role}' in '{organization.slug}' cannot grant the scopes {beyond}")
    now = timezone.now()
    expires_at = expires_at or now + settings.TOKEN_DEFAULT_LIFETIME
    if expires_at <= now:
        raise DomainError("expires_at must be in the future", field="expires_at")
    if expires_at > now + settings.TOKEN_MAX_LIFETIME:
        raise DomainError(
            f"expires_at may be at most {settings.TOKEN_MAX_LIFETIME.days} days ahead", field="expires_at"
        )

    secret = secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        organization=organization,
        created_by=actor.user,
        name=name,
        scopes=sorted(set(scopes)),
        lookup=secret[:8],
        digest=_digest(secret),
        expires_at=expires_at,
    )
    audit_record(
        actor=actor,
        action="token.issued",
        target=token,
        organization=organization,
        data={"name": name, "scopes": token.scopes, "expires_at": expires_at.isoformat()},
    )
    return token, PREFIX + secret


@transaction.atomic(durable=True)
def token_revoke(*, actor: Actor, token: ApiToken) -> ApiToken:
    """Revoke now; the next request with it is refused. Owners revoke any org token, others their own."""
    if actor.user is None or actor.token is not None:
        raise Forbidden("tokens are revoked from a signed-in session")
    if token.created_by_id != actor.user.pk:
        actor.require(token.organization, Capability.ADMIN)
    token = ApiToken.objects.select_for_update().get(pk=token.pk)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_record(actor=actor, action="token.revoked", target=token, organization=token.organization)
    return token


def _lookup_sql() -> str:
    tokens, users, members = ApiToken._meta.db_table, User._meta.db_table, Membership._meta.db_table
    return (
        f"SELECT t.*, m.role AS creator_role, u.is_reviewer AS creator_is_reviewer, "  # noqa: S608 - table names only
        f"u.is_active AS creator_is_active "
        f"FROM {tokens} t JOIN {users} u ON u.id = t.created_by_id "
        f"LEFT JOIN {members} m ON m.user_id = t.created_by_id AND m.organization_id = t.organization_id "
        f"WHERE t.lookup = %s"
    )


def token_authenticate(raw: str) -> tuple[ApiToken | None, str]:
    """The active token for `raw`, or None with the reason (unknown, expired or revoked).

    Every API call with a token runs this, so it is one hand-written query: the token rows with
    the prefix, each with its creator's current role in the token's org and reviewer and active
    flags, which is all this and Actor.for_token need (the ORM spelling of it cost 1 ms more per request to build)."""
    if not raw.startswith(PREFIX):
        return None, f"not a registry token (tokens start with '{PREFIX}')"
    secret = raw.removeprefix(PREFIX)
    digest = _digest(secret)
    for token in ApiToken.objects.raw(_lookup_sql(), [secret[:8]]):
        if hmac.compare_digest(token.digest, digest):
            if token.revoked_at is not None:
                return None, "token revoked"
            if token.expires_at <= timezone.now():
                return None, "token expired"
            if not token.creator_is_active:
                return None, "the token's user is deactivated"
            return token, ""
    return None, "unknown token"


def token_touch(token: ApiToken) -> None:
    """Record use at most once a minute, so authentication does not write on every request."""
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
