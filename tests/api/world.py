"""A consortium with objects in every state and sharing level, and the DESIGN.md oracle.

The oracle restates DESIGN.md's "who sees what" table in plain Python over the objects built here,
independently of `visible_to` (which does it in SQL), so the matrix tests compare the two.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from registry.models import Artifact, LineageEdge, Membership, Organization, Sharing, User, Version
from registry.permissions import Role
from registry.services.tokens import token_issue
from tests.factories import ArtifactFactory, OrganizationFactory, UserFactory, VersionFactory, member

State = Version.State


@dataclass(frozen=True)
class ActorSpec:
    """How a matrix actor authenticates, and what DESIGN.md says it may see and do."""

    name: str
    username: str | None = None  # None: anonymous
    token_org: str | None = None  # authenticate with a token of this org (else a session)
    scopes: tuple[str, ...] = ()
    orgs: dict[str, str] = field(default_factory=dict)  # org slug → role the actor acts with
    reviewer: bool = False
    steward: bool = False

    @property
    def can_read(self) -> bool:
        return self.token_org is None or "read" in self.scopes

    def role(self, org: str) -> str | None:
        return self.orgs.get(org)


# Org A is the subject. alice owns A; bob views A; charlie owns B; dora is in A and B; rita reviews
# from org C; stella is a steward. Org D holds only unshared work.
ACTORS = [
    ActorSpec("anonymous"),
    ActorSpec("alice (A owner, session)", "alice", orgs={"org-a": Role.OWNER}),
    ActorSpec("bob (A viewer, read token)", "bob", token_org="org-a", scopes=("read",), orgs={"org-a": Role.VIEWER}),
    ActorSpec("charlie (other-org member)", "charlie", orgs={"org-b": Role.OWNER}),
    ActorSpec(
        "alice push-only token (wrong scope for reads)",
        "alice",
        token_org="org-a",
        scopes=("push",),
        orgs={"org-a": Role.OWNER},
    ),
    ActorSpec(
        "alice read-only token (wrong scope for writes)",
        "alice",
        token_org="org-a",
        scopes=("read",),
        orgs={"org-a": Role.OWNER},
    ),
    ActorSpec(
        "dora's org A token (dora is also in B)",
        "dora",
        token_org="org-a",
        scopes=("read", "push"),
        orgs={"org-a": Role.OWNER},
    ),
    ActorSpec(
        "dora's org B token (dora is also in A)",
        "dora",
        token_org="org-b",
        scopes=("read", "push"),
        orgs={"org-b": Role.OWNER},
    ),
    ActorSpec(
        "alice webhooks token",
        "alice",
        token_org="org-a",
        scopes=("read", "webhooks"),
        orgs={"org-a": Role.OWNER},
    ),
    ActorSpec("rita (reviewer of another org, session)", "rita", orgs={"org-c": Role.CONTRIBUTOR}, reviewer=True),
    ActorSpec(
        "rita's review token",
        "rita",
        token_org="org-c",
        scopes=("read", "review"),
        orgs={"org-c": Role.CONTRIBUTOR},
        reviewer=True,
    ),
    ActorSpec("stella (steward)", "stella", steward=True),
]


@dataclass
class World:
    orgs: dict[str, Organization]
    users: dict[str, User]
    versions: list[Version]
    review_parents: set[int]  # version pks that are lineage parents of an in_review version

    def org_of(self, version: Version) -> str:
        return version.artifact.organization.slug

    def sees_version(self, spec: ActorSpec, version: Version) -> bool:
        if spec.steward:
            return True
        state, org, sharing = version.state, self.org_of(version), version.artifact.sharing
        if state == State.PUBLISHED or org in spec.orgs:
            return True
        if spec.orgs and sharing == Sharing.CONSORTIUM and state not in (State.DRAFT, State.DELETED):
            return True
        return spec.reviewer and (state == State.IN_REVIEW or version.pk in self.review_parents)

    def sees_artifact(self, spec: ActorSpec, artifact: Artifact) -> bool:
        return (
            spec.steward
            or artifact.organization.slug in spec.orgs
            or any(self.sees_version(spec, v) for v in self.versions if v.artifact_id == artifact.pk)
        )

    def sees_org(self, spec: ActorSpec, slug: str) -> bool:
        return (
            spec.steward
            or slug in spec.orgs
            or any(self.sees_version(spec, v) for v in self.versions if self.org_of(v) == slug)
        )

    def artifacts(self) -> list[Artifact]:
        return list({v.artifact_id: v.artifact for v in self.versions}.values())

    def secret_for(self, spec: ActorSpec) -> str | None:
        if spec.token_org is None:
            return None
        user = self.users[spec.username]
        from registry.actors import Actor

        _, secret = token_issue(
            actor=Actor.for_user(user),
            organization=self.orgs[spec.token_org],
            name=spec.name[:100],
            scopes=list(spec.scopes),
        )
        return secret


def build_world() -> World:
    orgs = {slug: OrganizationFactory(slug=slug) for slug in ("org-a", "org-b", "org-c", "org-d")}
    users = {
        "alice": member(orgs["org-a"], Role.OWNER, username="alice"),
        "bob": member(orgs["org-a"], Role.VIEWER, username="bob"),
        "charlie": member(orgs["org-b"], Role.OWNER, username="charlie"),
        "dora": member(orgs["org-a"], Role.OWNER, username="dora"),
        "rita": member(orgs["org-c"], Role.CONTRIBUTOR, username="rita", is_reviewer=True),
        "stella": UserFactory(username="stella", is_steward=True),
        "dan": member(orgs["org-d"], Role.OWNER, username="dan"),
    }
    Membership.objects.create(user=users["dora"], organization=orgs["org-b"], role=Role.OWNER)
    versions: list[Version] = []
    for slug in ("org-a", "org-b"):
        for sharing in Sharing.values:
            for state in State.values:
                artifact = ArtifactFactory(
                    organization=orgs[slug],
                    sharing=sharing,
                    slug=f"{sharing}-{state}".replace("_", "-"),
                    created_by=users["charlie" if slug == "org-b" else "alice"],
                )
                versions.append(VersionFactory(artifact=artifact, state=state, number="1.0.0"))
    for sharing in Sharing.values:
        artifact = ArtifactFactory(
            organization=orgs["org-d"], sharing=sharing, slug=f"d-{sharing}", created_by=users["dan"]
        )
        versions.append(VersionFactory(artifact=artifact, state=State.DRAFT, number="0.1"))
    # B's work under review derives from an org-only approved checkpoint of A: reviewers may read that parent.
    parent = next(
        v
        for v in versions
        if v.artifact.organization.slug == "org-a" and v.artifact.sharing == Sharing.ORG and v.state == State.APPROVED
    )
    child = next(
        v
        for v in versions
        if v.artifact.organization.slug == "org-b" and v.artifact.sharing == Sharing.ORG and v.state == State.IN_REVIEW
    )
    LineageEdge.objects.create(child=child, relation="derived_from", parent=parent, child_in_review=True)
    # And a published child of A's org-only draft: lineage must not reveal the draft to others.
    hidden = next(
        v
        for v in versions
        if v.artifact.organization.slug == "org-a" and v.artifact.sharing == Sharing.ORG and v.state == State.SUBMITTED
    )
    published_b = next(v for v in versions if v.artifact.organization.slug == "org-b" and v.state == State.PUBLISHED)
    LineageEdge.objects.create(child=published_b, relation="derived_from", parent=hidden)
    # Tokens people made from their sessions, so token lists have something to show or hide.
    from registry.actors import Actor

    for username, org in (("bob", "org-a"), ("alice", "org-a"), ("rita", "org-c")):
        token_issue(actor=Actor.for_user(users[username]), organization=orgs[org], name="own", scopes=["read"])
    return World(orgs=orgs, users=users, versions=versions, review_parents={parent.pk})
