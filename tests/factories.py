"""factory_boy factories for the domain models."""

from __future__ import annotations

from typing import Any

import factory

from registry.models import Artifact, Kind, LineageEdge, Membership, Organization, Sharing, User, Version


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    password = factory.django.Password("a-long-test-password")


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"org-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.replace("-", " ").title())
    country = "FR"
    hub_namespace = factory.LazyAttribute(lambda o: f"hub-{o.slug}")


def member(organization: Organization, role: str, **user_fields: Any) -> User:
    user = UserFactory(**user_fields)
    Membership.objects.create(user=user, organization=organization, role=role)
    return user


class ArtifactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Artifact

    organization = factory.SubFactory(OrganizationFactory)
    slug = factory.Sequence(lambda n: f"artifact-{n}")
    kind = Kind.CHECKPOINT
    sharing = Sharing.ORG
    created_by = factory.SubFactory(UserFactory)


class VersionFactory(factory.django.DjangoModelFactory):
    """A version put straight into any state (the state machine is tested on its own)."""

    class Meta:
        model = Version

    artifact = factory.SubFactory(ArtifactFactory)
    number = factory.Sequence(lambda n: f"1.0.{n}")
    license = "Apache-2.0"
    created_by = factory.LazyAttribute(lambda v: v.artifact.created_by)


class LineageEdgeFactory(factory.django.DjangoModelFactory):
    """An edge added to a child in any state, marked as its move into that state would mark it."""

    class Meta:
        model = LineageEdge

    child = factory.SubFactory(VersionFactory)
    relation = "derived_from"
    child_in_review = factory.LazyAttribute(lambda edge: edge.child.state == Version.State.IN_REVIEW)
