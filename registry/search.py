"""Catalogue search behind `selectors.artifact_list` and `selectors.artifact_facets`: the filters a
version must meet to make its artifact match, full-text search, and facet counts.

Everything here narrows querysets that already start from `visible_to(actor)`, and only versions
the actor sees may make an artifact match a filter or a search term.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVectorExact, SearchVectorField
from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import (
    Case,
    CharField,
    Exists,
    F,
    FloatField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    TextField,
    Value,
    When,
)
from django.db.models.expressions import Expression, Func
from django.db.models.functions import Cast

from registry.actors import Actor
from registry.models import Artifact, Organization, Version
from registry.querysets import ArtifactQuerySet

CONFIG = "english"

# Parameter ranges: key → (label, lowest included, highest excluded). Tiny ones for demo models.
SIZES: dict[str, tuple[str, int, int | None]] = {
    "lt1m": ("under 1M", 0, 10**6),
    "1m-100m": ("1M-100M", 10**6, 10**8),
    "100m-1b": ("100M-1B", 10**8, 10**9),
    "1b-10b": ("1B-10B", 10**9, 10**10),
    "10b-100b": ("10B-100B", 10**10, 10**11),
    "100b+": ("100B and more", 10**11, None),
}

SORTS = {
    "relevance": "relevance",
    "newest": "newest",
    "updated": "recently updated",
    "name": "name",
    "parameters": "parameters",
}

ARTIFACT_FACETS = ("kind", "org", "country")
VERSION_FACETS = ("license", "state", "architecture", "size")


@dataclass(frozen=True)
class Filters:
    """What a search asks for; empty means any."""

    kind: str = ""
    org: str = ""
    country: str = ""
    license: str = ""
    state: str = ""
    architecture: str = ""
    size: str = ""
    text: str = ""

    def without(self, name: str) -> Filters:
        return replace(self, **{name: ""})

    @property
    def chosen(self) -> dict[str, str]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def use_fulltext() -> bool:
    """Postgres full-text search; elsewhere (the embedded SQLite) a case-insensitive substring match."""
    return connection.vendor == "postgresql"


def size_q(key: str, field: str = "parameters") -> Q:
    _, low, high = SIZES[key]
    q = Q(**{f"{field}__gte": low})
    return q & Q(**{f"{field}__lt": high}) if high is not None else q


def version_q(filters: Filters) -> Q:
    """The version-level filters, all on one version; without a state, any but deleted drafts."""
    q = Q(state=filters.state) if filters.state else ~Q(state=Version.State.DELETED)
    if filters.license:
        q &= Q(license__iexact=filters.license)
    if filters.architecture:
        q &= Q(architecture=filters.architecture)
    if filters.size:
        q &= size_q(filters.size)
    return q


def visible_versions(actor: Actor, filters: Filters) -> QuerySet[Version]:
    """Visible versions meeting the version-level filters."""
    return Version.objects.visible_to(actor).filter(version_q(filters))


class StoredDocument(Expression):
    """A full-text document Postgres generates in a column the model does not declare (migrations
    0009 and 0011), read from the query's own table whatever alias the query gives it."""

    output_field = SearchVectorField()

    # A list, as Django's lookups concatenate params as lists (the stubs say tuple).
    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:  # type: ignore[override]
        if compiler.query.model not in (Artifact, Organization, Version):
            raise ValueError(f"{compiler.query.model.__name__} has no stored search document")
        table = compiler.quote_name_unless_alias(compiler.query.get_initial_alias())
        return f'{table}."search_document"', []


def _artifact_document() -> Func:
    """An artifact's document joined with its org's."""
    org = Organization.objects.filter(pk=OuterRef("organization_id")).annotate(document=StoredDocument())
    return Func(
        StoredDocument(),
        Subquery(org.values("document")),
        template="(%(expressions)s)",
        arg_joiner=" || ",
        output_field=SearchVectorField(),
    )


def _query(text: str) -> SearchQuery:
    return SearchQuery(text, search_type="websearch", config=CONFIG)


def _name_q(text: str) -> Q:
    """Names as people type them: a substring of a slug, or `org/name`."""
    q = Q(slug__icontains=text)
    if "/" in text:
        org, _, name = text.partition("/")
        q |= Q(organization__slug__iexact=org.strip(), slug__icontains=name.strip())
    return q


def _in_a_version(actor: Actor, text: str) -> Exists:
    """A version of the artifact that the actor sees matches `text` in its README or declared
    metadata. Correlated per artifact, so Postgres may stop at an artifact's first matching version
    when the words are common, or read the GIN index of migration 0009 once when they are rare."""
    versions = visible_versions(actor, Filters())
    if use_fulltext():
        versions = versions.filter(SearchVectorExact(StoredDocument(), _query(text)))
    else:
        versions = versions.annotate(metadata_text=Cast("metadata", TextField())).filter(
            Q(readme__icontains=text) | Q(metadata_text__icontains=text)
        )
    return Exists(versions.filter(artifact_id=OuterRef("pk")))


@dataclass(frozen=True)
class TextMatches:
    """The artifacts a text matches, as `text_matches` found them for one actor: all of them visible
    to that actor, so a search by the same actor uses them in place of the visibility test."""

    actor: Actor
    ids: list[int]


def text_matches(actor: Actor, text: str) -> TextMatches:
    """The artifacts the actor sees that match `text` in their names or description, or in a version
    the actor sees: one query, asked once per page and reused by the list and every facet."""
    if use_fulltext():
        own = _name_q(text) | Q(SearchVectorExact(_artifact_document(), _query(text)))
    else:
        own = _name_q(text) | Q(organization__slug__icontains=text) | Q(description__icontains=text)
    found = Artifact.objects.visible_to(actor).filter(own | Q(_in_a_version(actor, text)))
    return TextMatches(actor, list(found.order_by("pk").values_list("pk", flat=True)))


def _text_matches(actor: Actor, filters: Filters, matched: TextMatches | None) -> TextMatches | None:
    """What the filters' text matches: `matched` when the caller already asked, for this actor."""
    if not filters.text:
        return None
    if matched is None:
        return text_matches(actor, filters.text)
    if matched.actor is not actor:
        raise ValueError("text matches stand for the visibility of the actor who searched, and only theirs")
    return matched


def ranked(qs: QuerySet[Artifact], text: str) -> QuerySet[Artifact]:
    """Most relevant first: a name containing the text, then (Postgres) the rank of the names and
    description; artifacts found only through a version's README or metadata come after."""
    name = Case(When(_name_q(text), then=Value(1.0)), default=Value(0.0), output_field=FloatField())
    if not use_fulltext():
        return qs.annotate(rank=name).order_by(F("rank").desc(), "-id")
    rank = SearchRank(_artifact_document(), _query(text)) + name
    return qs.annotate(rank=rank).order_by(F("rank").desc(), "-id")


def artifact_q(filters: Filters, prefix: str = "") -> Q:
    """The artifact-level filters, on an artifact or (with prefix "artifact__") on a version's."""
    q = Q()
    if filters.kind:
        q &= Q(**{f"{prefix}kind": filters.kind})
    if filters.org:
        q &= Q(**{f"{prefix}organization__slug": filters.org})
    if filters.country:
        q &= Q(**{f"{prefix}organization__country": filters.country.upper()})
    return q


def artifact_search(
    actor: Actor, filters: Filters, *, artifacts: ArtifactQuerySet, matched: TextMatches | None = None
) -> QuerySet[Artifact]:
    """`artifacts` (the caller's base query, not yet narrowed to what the actor sees) narrowed to what
    the actor sees and by every filter. With a text, the artifacts it matches (`matched`: what
    `text_matches` found, when the caller already asked) stand in for the visibility test, which
    `text_matches` applied."""
    found = _text_matches(actor, filters, matched)
    qs = artifacts.filter(pk__in=found.ids) if found is not None else artifacts.visible_to(actor)
    qs = qs.filter(artifact_q(filters))
    if filters.license or filters.state or filters.architecture or filters.size:
        qs = qs.filter(Exists(visible_versions(actor, filters).filter(artifact_id=OuterRef("pk"))))
    return qs


def sorted_by(qs: QuerySet[Artifact], actor: Actor, sort: str, text: str = "") -> QuerySet[Artifact]:
    mine = Version.objects.visible_to(actor).exclude(state=Version.State.DELETED).filter(artifact_id=OuterRef("pk"))
    if sort == "relevance" and text:
        return ranked(qs, text)
    if sort == "updated":
        latest = mine.order_by("-state_changed_at").values("state_changed_at")[:1]
        return qs.annotate(updated=Subquery(latest)).order_by(F("updated").desc(nulls_last=True), "-id")
    if sort == "name":
        return qs.order_by("organization__slug", "slug")
    if sort == "parameters":
        largest = mine.filter(parameters__isnull=False).order_by("-parameters").values("parameters")[:1]
        return qs.annotate(size=Subquery(largest)).order_by(F("size").desc(nulls_last=True), "-id")
    return qs.order_by("-created_at", "-id")


def _size_bucket() -> Case:
    return Case(
        *(When(size_q(key), then=Value(key)) for key in SIZES),
        default=Value(""),
        output_field=CharField(),
    )


def facet_counts(
    actor: Actor, filters: Filters, *, matched: TextMatches | None = None
) -> dict[str, list[tuple[str, int]]]:
    """For each facet, its values with how many artifacts match with that value chosen (every other
    filter kept, the facet's own dropped), counted over what the actor sees. Two queries: one pass
    over the visible artifacts for the artifact-level facets, one over the visible versions for the
    version-level ones (and the text search, unless the caller already asked)."""
    matched = _text_matches(actor, filters, matched)
    # The artifact-level facets: every version-level filter and the text kept.
    others = replace(filters, kind="", org="", country="")
    found = artifact_search(actor, others, artifacts=Artifact.objects.all(), matched=matched)
    fields = {"kind": F("kind"), "org": F("organization__slug"), "country": F("organization__country")}
    keys = {name: _kept(artifact_q(filters.without(name)), fields[name]) for name in ARTIFACT_FACETS}
    counts = _counted_in_one_pass(found, "id", keys)
    # The version-level facets: every artifact-level filter and the text kept.
    versions = Version.objects.visible_to(actor).filter(artifact_q(filters, prefix="artifact__"))
    if matched is not None:
        versions = versions.filter(artifact_id__in=matched.ids)
    values = {name: _size_bucket() if name == "size" else F(name) for name in VERSION_FACETS}
    keys = {name: _kept(version_q(filters.without(name)), values[name]) for name in VERSION_FACETS}
    counts |= _counted_in_one_pass(versions, "artifact_id", keys)
    counts["size"].sort(key=lambda row: list(SIZES).index(row[0]))
    return counts


def _kept(q: Q, value: Any) -> Case | Cast:
    """The value on a row meeting `q`, else NULL (the row does not count for that facet)."""
    if not q:
        return Cast(value, CharField())
    return Case(When(q, then=value), default=None, output_field=CharField())


def _counted_in_one_pass(
    rows: QuerySet[Any], artifact: str, keys: dict[str, Case | Cast]
) -> dict[str, list[tuple[str, int]]]:
    """For each facet of `keys` (its value on a row, or NULL when the row does not count for it),
    how many distinct artifacts have each value: one read of `rows`, whatever the number of facets.
    Plain SQL around the ORM's query (the same on SQLite and Postgres); the facet names are the
    constants of this module and every value is a bound parameter of the ORM's query."""
    if unknown := set(keys) - {*ARTIFACT_FACETS, *VERSION_FACETS}:
        raise ValueError(f"not facets: {sorted(unknown)}")  # their names are written into the SQL
    counts: dict[str, list[tuple[str, int]]] = {name: [] for name in keys}
    annotated = rows.annotate(**{f"facet_{name}": key for name, key in keys.items()})
    try:
        inner, params = annotated.values_list(artifact, *(f"facet_{name}" for name in keys)).query.sql_with_params()
    except EmptyResultSet:  # a filter that matches nothing, such as an empty IN
        return counts
    pairs = " UNION ALL ".join(
        f"SELECT DISTINCT '{name}' AS facet, {name} AS value, artifact FROM v"  # noqa: S608
        for name in keys
    )
    sql = (
        f"WITH v (artifact, {', '.join(keys)}) AS MATERIALIZED ({inner}) "  # noqa: S608
        f"SELECT facet, value, COUNT(*) FROM ({pairs}) AS pairs "
        "WHERE value IS NOT NULL AND value <> '' GROUP BY facet, value ORDER BY facet, value"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for facet, value, n in cursor.fetchall():
            counts[facet].append((str(value), n))
    return counts
