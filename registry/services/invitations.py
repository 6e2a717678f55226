"""Invitations: an owner invites an email address with a role; whoever opens the link (signed in
with that email, or creating an account for it) joins once. Only the secret's digest is stored."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from registry.actors import Actor
from registry.errors import Conflict, DomainError, Forbidden
from registry.models import Invitation, Membership, Organization, User
from registry.permissions import Capability, Role
from registry.services.audit import audit_record


class InvitationUnusable(DomainError):
    """The link is unknown, expired, revoked or already used: the message says which."""

    status = 410
    code = "invitation_unusable"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def invitation_lookup(secret: str) -> Invitation | None:
    """The invitation a link's secret belongs to, in any state (the page says which)."""
    if not secret or len(secret) > 100:
        return None
    return Invitation.objects.select_related("organization", "created_by").filter(digest=_digest(secret)).first()


def unusable_reason(invitation: Invitation | None) -> str:
    """Why a link cannot be used now, in words; "" when it can."""
    if invitation is None:
        return "This invitation link is not valid: check that it was copied whole, or ask for a new one."
    org = invitation.organization.name
    reasons: dict[str, str] = {
        Invitation.State.ACCEPTED: f"This invitation to {org} has already been used. Each link works once.",
        Invitation.State.REVOKED: f"This invitation to {org} was revoked by an owner. Ask them for a new one.",
        Invitation.State.EXPIRED: (
            f"This invitation to {org} expired on {invitation.expires_at:%Y-%m-%d %H:%M} UTC. "
            "Ask an owner for a new one."
        ),
    }
    return reasons.get(invitation.state, "")


@transaction.atomic(durable=True)
def invitation_create(*, actor: Actor, organization: Organization, email: str, role: str) -> tuple[Invitation, str]:
    """Invite `email` to `organization`. The secret for the link is returned once and never stored."""
    actor.require(organization, Capability.ADMIN)
    email = email.strip()
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError({"email": [f"'{email}' is not an email address"]}) from None
    if role not in Role.values:
        raise ValidationError({"role": [f"'{role}' is not one of {', '.join(Role.values)}"]})
    Organization.objects.select_for_update().get(pk=organization.pk)  # one pending invitation per address
    if Membership.objects.filter(organization=organization, user__email__iexact=email).exists():
        raise Conflict(f"{email} already belongs to a member of '{organization.slug}'", field="email")
    if Invitation.objects.pending().filter(organization=organization, email__iexact=email).exists():
        raise Conflict(
            f"{email} already has a pending invitation to '{organization.slug}': revoke it first", field="email"
        )
    secret = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        organization=organization,
        email=email,
        role=role,
        digest=_digest(secret),
        created_by=actor.user,
        expires_at=timezone.now() + settings.INVITATION_LIFETIME,
    )
    audit_record(
        actor=actor,
        action="invitation.created",
        target=invitation,
        organization=organization,
        data={"email": email, "role": role, "expires_at": invitation.expires_at.isoformat()},
    )
    return invitation, secret


@transaction.atomic(durable=True)
def invitation_revoke(*, actor: Actor, invitation: Invitation) -> Invitation:
    actor.require(invitation.organization, Capability.ADMIN)
    invitation = Invitation.objects.select_for_update().select_related("organization").get(pk=invitation.pk)
    if invitation.state != Invitation.State.PENDING:
        raise Conflict(f"the invitation of {invitation.email} is {invitation.state}: only a pending one is revoked")
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    audit_record(
        actor=actor,
        action="invitation.revoked",
        target=invitation,
        organization=invitation.organization,
        data={"email": invitation.email, "role": invitation.role},
    )
    return invitation


def _claim(secret: str, user: User) -> Invitation:
    """Take the invitation for `user`, once: the UPDATE matches only a pending row, so of two
    concurrent accepts exactly one wins."""
    invitation = invitation_lookup(secret)
    reason = unusable_reason(invitation)
    if invitation is None or reason:
        raise InvitationUnusable(reason)
    if invitation.email.casefold() != (user.email or "").casefold():
        raise Forbidden(
            f"This invitation is for {invitation.email}, and you are signed in as '{user.username}' "
            f"({user.email or 'no email address'}). Sign in with that address's account, or sign out "
            "to create an account for it.",
            field="email",
        )
    if Membership.objects.filter(organization=invitation.organization, user=user).exists():
        raise Conflict(f"You are already a member of {invitation.organization.name}.")
    now = timezone.now()
    taken = Invitation.objects.pending().filter(pk=invitation.pk).update(accepted_at=now, accepted_by=user)
    if taken != 1:
        raise InvitationUnusable(f"This invitation to {invitation.organization.name} has just been used or revoked.")
    invitation.accepted_at, invitation.accepted_by = now, user
    return invitation


def _join(invitation: Invitation, user: User, *, new_account: bool) -> Membership:
    try:
        with transaction.atomic():
            membership = Membership.objects.create(
                organization=invitation.organization, user=user, role=invitation.role
            )
    except IntegrityError:  # joined concurrently by another route
        raise Conflict(f"You are already a member of {invitation.organization.name}.") from None
    audit_record(
        actor=Actor.for_user(user),
        action="invitation.accepted",
        target=invitation,
        organization=invitation.organization,
        data={
            "email": invitation.email,
            "username": user.username,
            "role": invitation.role,
            "new_account": new_account,
        },
    )
    return membership


@transaction.atomic(durable=True)
def invitation_accept(*, actor: Actor, secret: str) -> Membership:
    """A signed-in person whose email is the invited one joins with the invited role."""
    if actor.user is None or actor.token is not None:
        raise Forbidden("invitations are accepted from a signed-in session")
    invitation = _claim(secret, actor.user)
    return _join(invitation, actor.user, new_account=False)


@transaction.atomic(durable=True)
def invitation_accept_new_user(*, secret: str, username: str, password: str) -> Membership:
    """Someone new creates an account for the invited email address and joins with it."""
    invitation = invitation_lookup(secret)
    reason = unusable_reason(invitation)
    if invitation is None or reason:
        raise InvitationUnusable(reason)
    username = username.strip()
    user = User(username=username, email=invitation.email)
    problems: dict[str, list[str]] = {}
    try:
        user.full_clean(exclude=["password"], validate_unique=False)
    except ValidationError as exc:
        problems.update({k: v for k, v in exc.message_dict.items() if k == "username"})
    if not problems and User.objects.filter(username__iexact=username).exists():
        problems["username"] = [f"the username '{username}' is taken; choose another"]
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        problems["password"] = list(exc.messages)
    if problems:
        raise ValidationError(problems)
    if User.objects.filter(email__iexact=invitation.email).exists():
        raise Conflict(
            f"An account with {invitation.email} exists: sign in with it to accept this invitation.", field="email"
        )
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:
        raise ValidationError({"username": [f"the username '{username}' is taken; choose another"]}) from None
    invitation = _claim(secret, user)
    return _join(invitation, user, new_account=True)
