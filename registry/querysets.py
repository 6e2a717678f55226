"""Who sees what: DESIGN.md's table, implemented here and nowhere else.

Every selector, viewset and portal view starts from one of these `visible_to(actor)` methods.
An object outside them does not exist for the actor: 404, never counted or listed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from registry.permissions import Capability

if TYPE_CHECKING:
    from registry.actors import Actor
    from registry.models import Event


def _never_shared_states() -> list[str]:
    from registry.models import Version

    return [Version.State.DRAFT, Version.State.DELETED]


class VersionQuerySet(models.QuerySet):
    def visible_to(self, actor: Actor) -> VersionQuerySet:
        from registry.models import LineageEdge, Sharing, Version

        if actor.is_steward:
            return self.all()
        seen = Q(state=Version.State.PUBLISHED)
        if actor.org_ids:
            seen |= Q(artifact__organization_id__in=actor.org_ids)
            seen |= Q(artifact__sharing=Sharing.CONSORTIUM) & ~Q(state__in=_never_shared_states())
        if actor.is_reviewer:
            # Work awaiting review, and the lineage parents a reviewer needs to judge it (read from
            # a partial index of the edges whose child is in review, which `transition` keeps).
            awaited = LineageEdge.objects.filter(parent_id=OuterRef("pk"), child_in_review=True)
            seen |= Q(state=Version.State.IN_REVIEW) | Q(Exists(awaited))
        return self.filter(seen)


class ArtifactQuerySet(models.QuerySet):
    def visible_to(self, actor: Actor) -> ArtifactQuerySet:
        from registry.models import Version

        if actor.is_steward:
            return self.all()
        visible_versions = Version.objects.visible_to(actor).filter(artifact_id=OuterRef("pk"))
        return self.filter(Q(organization_id__in=actor.org_ids) | Exists(visible_versions))


class OrganizationQuerySet(models.QuerySet):
    def visible_to(self, actor: Actor) -> OrganizationQuerySet:
        from registry.models import Version

        if actor.is_steward:
            return self.all()
        visible_versions = Version.objects.visible_to(actor).filter(artifact__organization_id=OuterRef("pk"))
        return self.filter(Q(pk__in=actor.org_ids) | Exists(visible_versions))


class MembershipQuerySet(models.QuerySet):
    def visible_to(self, actor: Actor) -> MembershipQuerySet:
        """Members see their orgs' member lists; stewards see all."""
        if actor.is_steward:
            return self.all()
        return self.filter(organization_id__in=[o for o in actor.org_ids if actor.can(o, Capability.READ)])


class ApiTokenQuerySet(models.QuerySet):
    def active(self) -> ApiTokenQuerySet:
        return self.filter(revoked_at__isnull=True, expires_at__gt=timezone.now())

    def visible_to(self, actor: Actor) -> ApiTokenQuerySet:
        """Owners see their org's tokens, others the ones they made; a token sees no tokens."""
        if actor.token is not None or actor.user is None:
            return self.none()
        if actor.is_steward:
            return self.all()
        admin_orgs = [o for o in actor.org_ids if actor.can(o, Capability.ADMIN)]
        return self.filter(
            Q(organization_id__in=admin_orgs) | Q(organization_id__in=actor.org_ids, created_by=actor.user)
        )


class UploadQuerySet(models.QuerySet):
    def visible_to(self, actor: Actor) -> UploadQuerySet:
        """Uploads in flight belong to whoever may push in their org; nobody else sees them."""
        return self.filter(organization_id__in=[o for o in actor.org_ids if actor.can(o, Capability.PUSH)])


class AuditEventQuerySet(models.QuerySet):
    def visible_to(self, actor: Actor) -> AuditEventQuerySet:
        if actor.is_steward:
            return self.all()
        return self.filter(organization_id__in=[o for o in actor.org_ids if actor.can(o, Capability.AUDIT)])

    def update(self, **kwargs: object) -> int:
        raise TypeError("audit events are append-only")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise TypeError("audit events are append-only")


class WebhookQuerySet(models.QuerySet):
    def visible_to(self, actor: Actor) -> WebhookQuerySet:
        """An org's webhooks and their delivery logs are read by those who read its audit log, and by
        whoever may change them (a token with only the `webhooks` scope finds what it changes)."""
        if actor.is_steward:
            return self.all()
        readers = [o for o in actor.org_ids if actor.can(o, Capability.AUDIT) or actor.can(o, Capability.WEBHOOKS)]
        return self.filter(organization_id__in=readers)


class EventQuerySet(models.QuerySet):
    def visible_to(self, actor: Actor) -> EventQuerySet:
        """An event is visible exactly when its version is: the version's visibility is the rule."""
        from registry.models import Version

        if actor.is_steward:
            return self.all()
        return self.filter(Exists(Version.objects.visible_to(actor).filter(pk=OuterRef("version_id"))))

    def orgs_seeing(self, event: Event, organization_ids: set[int]) -> set[int]:
        """The orgs among `organization_ids` whose members see `event` (an org's webhooks read as
        its members do), in at most two queries: the table treats every org but the version's own
        alike (published, or shared with the consortium past its draft), so one such org's answer
        is every such org's."""
        from registry.actors import Actor

        def sees(organization_id: int) -> bool:
            member = Actor.of_system("org-reader", reading_for=organization_id)
            return self.visible_to(member).filter(pk=event.pk).exists()

        own, others = event.organization_id, organization_ids - {event.organization_id}
        seeing = {own} if own in organization_ids and sees(own) else set()
        return seeing | others if others and sees(min(others)) else seeing

    def update(self, **kwargs: object) -> int:
        raise TypeError("events are append-only")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise TypeError("events are append-only")
