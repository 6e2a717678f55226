"""Registry references (`org/artifact@version`) in recipes and manifests, resolved as the pushing
org would see them.

The resolver acts as a plain member of the version's org: `Actor(user=None, roles={org: viewer})`.
`visible_to` then grants that org's own versions plus other orgs' published and consortium-shared
ones, which is exactly what the pusher may build on. It deliberately has no reviewer or steward
flag (those widen visibility to work under review, which nobody may build on) and no user (the
check runs as the registry, on the org's behalf; `visible_to` reads memberships, never the user).
Drafts and deleted versions are excluded: their files may still change or be gone.
"""

from __future__ import annotations

from jobs.checks.base import CheckContext
from jobs.checks.schemas.common import REGISTRY_REF
from registry.actors import Actor
from registry.models import Kind, Version
from registry.permissions import Role

UNSETTLED = (Version.State.DRAFT, Version.State.DELETED)


def member_of(org_id: int) -> Actor:
    return Actor(user=None, roles={org_id: Role.VIEWER})


# A kind a reference may name by its family: a reused run is a recipe of either stage.
KINDS_MEANT: dict[str, tuple[str, ...]] = {"recipe": (Kind.PRETRAINING_RECIPE, Kind.POSTTRAINING_RECIPE)}


def resolve(version: Version, ref: str, kind: str) -> tuple[Version | None, str]:
    """(the version `ref` names, "") or (None, why not). A version the org cannot see is reported
    exactly like a missing one, so a reference never reveals another org's private work."""
    match = REGISTRY_REF.fullmatch(ref)
    if match is None:
        return None, f"'{ref}' is not a reference like org/artifact@1.0.0"
    found = (
        Version.objects.visible_to(member_of(version.artifact.organization_id))
        .exclude(state__in=UNSETTLED)
        .filter(artifact__organization__slug=match["org"], artifact__slug=match["artifact"], number=match["number"])
        .select_related("artifact")
        .first()
    )
    if found is None:
        return None, f"'{ref}' does not resolve: no such {kind} version that members of this org can see"
    if found.artifact.kind not in KINDS_MEANT.get(kind, (kind,)):
        return None, f"'{ref}' is a {found.artifact.kind}, expected a {kind}"
    return found, ""


def resolve_all(
    ctx: CheckContext, path: str, refs: list[tuple[str, str, str]], *, found_by_field: dict[str, Version] | None = None
) -> list[dict[str, str]]:
    """Resolve (field, ref, kind) triples, failing each unresolved one; returns what resolved (and
    puts each resolved version in `found_by_field`, keyed by its field, when given)."""
    resolved: list[dict[str, str]] = []
    for field, ref, kind in refs:
        if not REGISTRY_REF.fullmatch(ref):
            continue  # malformed: the schema already said so
        found, why = resolve(ctx.version, ref, kind)
        if found is None:
            ctx.fail("unresolved_ref", f"{field}: {why}", path=path)
        else:
            resolved.append({"field": field, "ref": ref, "kind": kind, "state": found.state})
            if found_by_field is not None:
                found_by_field[field] = found
    return resolved
