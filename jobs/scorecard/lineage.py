"""The lineage a scorecard reads, as the actor sees it: the version's own declared parents, and
the datasets and recipes further up (through bases, recipes and datasets) whose declarations can
concern its scores. A registry parent the actor cannot see is neither used nor counted."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Exists, OuterRef

from registry import selectors
from registry.actors import Actor
from registry.declared_metadata import CONTAMINATION_KINDS
from registry.models import LineageEdge, Relation, Version

UPSTREAM_HOPS = 4  # edges followed up from the scored version
UPSTREAM_MAX = 200  # versions read, at most (a lineage wider than this is cut, never guessed at)
UPSTREAM_RELATIONS = (Relation.DERIVED_FROM, Relation.PRODUCED_BY, Relation.TRAINED_ON)


@dataclass(frozen=True)
class Parents:
    """The version's declared parents the actor may know of, by relation, in a stable order."""

    edges: list[LineageEdge]

    def of(self, relation: str) -> list[LineageEdge]:
        return [e for e in self.edges if e.relation == relation]


def parents_of(*, actor: Actor, version: Version) -> Parents:
    """Declared edges only: the registry's own `evaluated_with` records are measurements, not lineage."""
    found = selectors.lineage_parents(actor=actor, version=version)
    return Parents([edge for edge in found if not edge.measured])


def upstream_declarers(*, actor: Actor, parents: Parents) -> list[Version]:
    """Visible datasets and recipes up to UPSTREAM_HOPS edges above the version whose `parents` these
    are, nearest first: the versions whose contamination declarations apply to its scores. The first
    hop is `parents`; one query per further hop, none when no registry parent is visible."""
    child = parents.edges[0].child_id if parents.edges else None
    seen: dict[int, Version] = {}
    for edge in parents.edges:
        if (
            edge.relation in UPSTREAM_RELATIONS
            and edge.parent is not None
            and edge.parent.state != Version.State.DELETED
        ):
            seen.setdefault(edge.parent.pk, edge.parent)
    frontier = set(seen)
    visible = Version.objects.visible_to(actor)
    for _ in range(UPSTREAM_HOPS - 1):
        if not frontier or len(seen) >= UPSTREAM_MAX:
            break
        edges = (
            LineageEdge.objects.filter(child_id__in=frontier, relation__in=UPSTREAM_RELATIONS, parent__isnull=False)
            .filter(Exists(visible.filter(pk=OuterRef("parent_id"))))
            .exclude(parent__state=Version.State.DELETED)
            .exclude(parent_id__in=[child, *seen])
            .select_related("parent__artifact__organization")
            .order_by("parent_id")[: UPSTREAM_MAX - len(seen)]
        )
        frontier = set()
        for edge in edges:
            parent = edge.parent
            if parent is not None and parent.pk not in seen:
                seen[parent.pk] = parent
                frontier.add(parent.pk)
    return [v for v in seen.values() if v.artifact.kind in CONTAMINATION_KINDS]
