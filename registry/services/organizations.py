"""Member orgs and their memberships."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from registry.actors import Actor
from registry.errors import Conflict, Forbidden
from registry.models import ApiToken, Membership, Organization, User
from registry.permissions import Capability, Role
from registry.services.audit import audit_record


@transaction.atomic(durable=True)
def organization_create(
    *, actor: Actor, name: str, slug: str, country: str, hub_namespace: str, owner: User
) -> Organization:
    """Onboard a member lab with its first owner. A steward action."""
    if not actor.is_steward:
        raise Forbidden("only stewards onboard member organizations")
    organization = Organization(name=name, slug=slug, country=country, hub_namespace=hub_namespace)
    organization.full_clean(validate_unique=False)
    for field in ("slug", "hub_namespace"):
        if Organization.objects.filter(**{field: getattr(organization, field)}).exists():
            raise Conflict(f"an organization with {field} '{getattr(organization, field)}' exists", field=field)
    try:
        with transaction.atomic():
            organization.save()
    except IntegrityError:  # created concurrently
        raise Conflict(f"organization '{slug}' exists", field="slug") from None
    Membership.objects.create(user=owner, organization=organization, role=Role.OWNER)
    audit_record(
        actor=actor,
        action="organization.created",
        target=organization,
        organization=organization,
        data={"name": name, "country": country, "hub_namespace": hub_namespace, "owner": owner.username},
    )
    return organization


@transaction.atomic(durable=True)
def membership_add(*, actor: Actor, organization: Organization, user: User, role: str) -> Membership:
    actor.require(organization, Capability.ADMIN)
    if role not in Role.values:
        raise ValidationError({"role": [f"'{role}' is not one of {Role.values}"]})
    try:
        with transaction.atomic():
            membership = Membership.objects.create(organization=organization, user=user, role=role)
    except IntegrityError:
        raise Conflict(f"'{user.username}' is already a member of '{organization.slug}'", field="username") from None
    audit_record(
        actor=actor,
        action="membership.added",
        target=organization,
        organization=organization,
        data={"username": user.username, "role": role},
    )
    return membership


def _lock_for_owner_change(membership: Membership) -> Membership:
    """Lock the org row first: two owners demoting each other at once are then serialized, so the
    second sees the first's change and the org never ends up without an owner."""
    Organization.objects.select_for_update().get(pk=membership.organization_id)
    return Membership.objects.select_for_update().select_related("user", "organization").get(pk=membership.pk)


def _owners_left(organization: Organization, without: Membership) -> int:
    return Membership.objects.filter(organization=organization, role=Role.OWNER).exclude(pk=without.pk).count()


@transaction.atomic(durable=True)
def membership_change_role(*, actor: Actor, membership: Membership, role: str) -> Membership:
    actor.require(membership.organization, Capability.ADMIN)
    if role not in Role.values:
        raise ValidationError({"role": [f"'{role}' is not one of {Role.values}"]})
    membership = _lock_for_owner_change(membership)
    if membership.role == Role.OWNER and role != Role.OWNER and _owners_left(membership.organization, membership) == 0:
        raise Conflict("an organization keeps at least one owner", field="role")
    previous, membership.role = membership.role, role
    membership.save(update_fields=["role"])
    audit_record(
        actor=actor,
        action="membership.role_changed",
        target=membership.organization,
        organization=membership.organization,
        data={"username": membership.user.username, "from": previous, "to": role},
    )
    return membership


@transaction.atomic(durable=True)
def membership_remove(*, actor: Actor, membership: Membership) -> None:
    actor.require(membership.organization, Capability.ADMIN)
    membership = _lock_for_owner_change(membership)
    if membership.role == Role.OWNER and _owners_left(membership.organization, membership) == 0:
        raise Conflict("an organization keeps at least one owner", field="username")
    membership.delete()
    # Their tokens for this org die with the membership, so re-adding the person later revives none.
    tokens = ApiToken.objects.active().filter(organization=membership.organization, created_by=membership.user)
    revoked = tokens.update(revoked_at=timezone.now())
    audit_record(
        actor=actor,
        action="membership.removed",
        target=membership.organization,
        organization=membership.organization,
        data={"username": membership.user.username, "role": membership.role, "tokens_revoked": revoked},
    )
