"""Browse and search: facets with counts over what the viewer sees, sorts, full-text search (and the
substring fallback of the embedded SQLite), pages that keep the filters, empty states, and query
counts that do not grow with the page."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from registry import search, selectors
from registry.models import Organization, Version
from registry.search import Filters
from tests.conftest import Member, portal_client
from tests.factories import ArtifactFactory, OrganizationFactory, VersionFactory

pytestmark = pytest.mark.django_db


def listed(html: str) -> list[str]:
    """The org/slug names of the result rows, in order."""
    return re.findall(r'<a href="/artifacts/[0-9a-f-]+/">([a-z0-9-]+/[a-z0-9-]+)</a>', html)


def option(html: str, name: str, value: str) -> str | None:
    """The text of a facet's option, like "Checkpoint (2)"."""
    select = re.search(rf'<select name="{name}">(.*?)</select>', html, re.S)
    assert select, f"no {name} facet"
    found = re.search(rf'<option value="{re.escape(value)}"(?: selected)?>([^<]*)</option>', select[1])
    return found[1] if found else None


def version(org: Organization, slug: str, *, kind: str = "checkpoint", **fields: Any) -> Version:
    artifact = ArtifactFactory(
        organization=org, slug=slug, kind=kind, description=fields.pop("description", ""), sharing="consortium"
    )
    return VersionFactory(artifact=artifact, **fields)


@pytest.fixture
def catalogue(alice: Member, charlie: Member) -> dict[str, Version]:
    """org A (France): a Llama checkpoint and a dataset; org B (Germany): a published Mistral, a
    tiny published model, and a draft nobody else sees."""
    Organization.objects.filter(pk=charlie.organization.pk).update(country="DE")
    return {
        "llama": version(
            alice.organization,
            "llama-tiny",
            state="in_review",
            license="Llama-3.1",
            architecture="LlamaForCausalLM",
            parameters=8_000_000_000,
            description="an instruction-tuned llama",
        ),
        "web": version(alice.organization, "web-text", kind="dataset", state="submitted", license="CC-BY-4.0"),
        "mistral": version(
            charlie.organization,
            "mistral-big",
            state="published",
            architecture="MistralForCausalLM",
            parameters=120_000_000_000,
            readme="Intended use: summarising legal contracts.",
        ),
        "tiny": version(
            charlie.organization,
            "toy",
            state="published",
            architecture="LlamaForCausalLM",
            parameters=4_096,
            metadata={"training_corpus": "fineweb-edu sample", "context_length": 128},
        ),
        "draft": version(
            charlie.organization,
            "secret-draft",
            state="draft",
            architecture="GPT2LMHeadModel",
            parameters=5_000_000,
            readme="contracts everywhere",
            metadata={"note": "unicorn"},
        ),
    }


# Facets


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"kind": "dataset"}, ["org-a/web-text"]),
        ({"org": "org-b"}, ["org-b/toy", "org-b/mistral-big"]),
        ({"country": "de"}, ["org-b/toy", "org-b/mistral-big"]),
        ({"license": "llama-3.1"}, ["org-a/llama-tiny"]),
        ({"state": "published"}, ["org-b/toy", "org-b/mistral-big"]),
        ({"architecture": "LlamaForCausalLM"}, ["org-b/toy", "org-a/llama-tiny"]),
        ({"size": "lt1m"}, ["org-b/toy"]),
        ({"size": "1b-10b"}, ["org-a/llama-tiny"]),
        ({"size": "100b+"}, ["org-b/mistral-big"]),
        ({"architecture": "LlamaForCausalLM", "state": "published"}, ["org-b/toy"]),
    ],
)
def test_each_facet_filters_what_the_viewer_sees(
    alice: Member, catalogue: dict[str, Version], params: dict[str, str], expected: list[str]
) -> None:
    assert listed(portal_client(alice).get("/browse/", params).content.decode()) == expected


def test_facet_counts_keep_the_other_filters_and_drop_their_own(alice: Member, catalogue: dict[str, Version]) -> None:
    page = portal_client(alice).get("/browse/", {"kind": "checkpoint"}).content.decode()
    assert option(page, "kind", "checkpoint") == "Checkpoint (3)"
    assert option(page, "kind", "dataset") == "Dataset (1)", "the facet's own filter is not applied to it"
    assert option(page, "org", "org-a") == "org-a (1)"
    assert option(page, "country", "DE") == "Germany (2)"
    assert option(page, "architecture", "LlamaForCausalLM") == "LlamaForCausalLM (2)"
    assert option(page, "size", "100b+") == "100B and more (1)"
    assert option(page, "state", "in_review") == "In Review (1)"
    assert option(page, "license", "CC-BY-4.0") is None, "the dataset is filtered out by kind"


def test_facet_counts_and_search_never_count_what_the_viewer_cannot_see(
    alice: Member, charlie: Member, catalogue: dict[str, Version]
) -> None:
    page = portal_client(alice).get("/browse/").content.decode()
    assert option(page, "architecture", "GPT2LMHeadModel") is None, "another org's draft is not counted"
    assert option(page, "org", "org-b") == "org-b (2)"
    assert option(page, "state", "draft") is None
    assert option(page, "size", "1m-100m") is None
    assert "secret-draft" not in page
    # The draft's README and metadata never make its artifact match, for the viewer who cannot see it.
    for words in ("unicorn", "contracts everywhere"):
        assert listed(portal_client(alice).get("/browse/", {"q": words}).content.decode()) == []
    assert listed(portal_client(charlie).get("/browse/", {"q": "unicorn"}).content.decode()) == ["org-b/secret-draft"]
    assert "org-b/secret-draft" not in listed(
        portal_client(alice).get("/browse/", {"size": "1m-100m"}).content.decode()
    )


def test_an_invisible_version_never_makes_a_visible_artifact_match(alice: Member, charlie: Member) -> None:
    published = version(charlie.organization, "model", state="published", readme="plain")
    VersionFactory(
        artifact=published.artifact, number="9.0.0", state="draft", readme="zebra", architecture="Zebra", parameters=7
    )
    actor = alice.actor
    for found in (
        selectors.artifact_list(actor=actor, text="zebra"),
        selectors.artifact_list(actor=actor, architecture="Zebra"),
        selectors.artifact_list(actor=actor, size="lt1m"),
        selectors.artifact_list(actor=actor, state="draft"),
    ):
        assert list(found) == []
    facets = selectors.artifact_facets(actor=actor, filters=Filters())
    assert (facets["architecture"], facets["size"], facets["state"]) == ([], [], [("published", 1)])
    assert [a.slug for a in selectors.artifact_list(actor=charlie.actor, text="zebra")] == ["model"]


# Search


def postgres_only() -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("full-text search is Postgres-only (make test runs on SQLite without DATABASE_URL)")


@pytest.mark.parametrize("fulltext", [True, False], ids=["postgres-fulltext", "substring-fallback"])
def test_search_finds_names_descriptions_readmes_and_declared_metadata(
    alice: Member, catalogue: dict[str, Version], monkeypatch: pytest.MonkeyPatch, fulltext: bool
) -> None:
    if fulltext:
        postgres_only()
    monkeypatch.setattr(search, "use_fulltext", lambda: fulltext)
    client = portal_client(alice)
    cases = {
        "llama": ["org-a/llama-tiny"],  # name
        "instruction": ["org-a/llama-tiny"],  # description
        "contracts": ["org-b/mistral-big"],  # README
        "fineweb": ["org-b/toy"],  # declared metadata
        "org-b/toy": ["org-b/toy"],  # org/name as people type it
        "nothing-like-this": [],
    }
    for words, expected in cases.items():
        assert listed(client.get("/browse/", {"q": words}).content.decode()) == expected, words


def test_full_text_search_stems_words_and_takes_web_style_queries(alice: Member, catalogue: dict[str, Version]) -> None:
    postgres_only()
    client = portal_client(alice)
    assert listed(client.get("/browse/", {"q": "contract"}).content.decode()) == ["org-b/mistral-big"]
    assert listed(client.get("/browse/", {"q": "summarising -legal"}).content.decode()) == []
    assert listed(client.get("/browse/", {"q": '"legal contracts"'}).content.decode()) == ["org-b/mistral-big"]


def test_full_text_search_reads_the_org_with_the_artifact(alice: Member, charlie: Member) -> None:
    """Words may come from the org's name and the artifact's description at once."""
    postgres_only()
    Organization.objects.filter(pk=charlie.organization.pk).update(name="Borealis Research")
    version(charlie.organization, "adapter", description="a summarising adapter", state="published")
    version(alice.organization, "other", description="a summarising adapter", state="published")
    client = portal_client(alice)
    assert listed(client.get("/browse/", {"q": "borealis"}).content.decode()) == ["org-b/adapter"]
    assert listed(client.get("/browse/", {"q": "borealis summarising"}).content.decode()) == ["org-b/adapter"]
    assert listed(client.get("/browse/", {"q": "borealis legal"}).content.decode()) == []


def test_search_ranks_name_matches_first(alice: Member) -> None:
    version(alice.organization, "other", readme="a note about llama models in passing")
    version(alice.organization, "llama-base", readme="weights")
    assert listed(portal_client(alice).get("/browse/", {"q": "llama"}).content.decode()) == [
        "org-a/llama-base",
        "org-a/other",
    ]


# Sorting


def test_sorts(alice: Member) -> None:
    now = timezone.now()
    a = version(alice.organization, "alpha", parameters=10, state_changed_at=now - timedelta(days=3))
    b = version(alice.organization, "bravo", parameters=None, state_changed_at=now - timedelta(days=1))
    c = version(alice.organization, "charlie-model", parameters=1000, state_changed_at=now - timedelta(days=2))
    client = portal_client(alice)
    assert a.artifact.pk < b.artifact.pk < c.artifact.pk
    orders = {
        "": ["org-a/charlie-model", "org-a/bravo", "org-a/alpha"],  # newest first
        "newest": ["org-a/charlie-model", "org-a/bravo", "org-a/alpha"],
        "updated": ["org-a/bravo", "org-a/charlie-model", "org-a/alpha"],
        "name": ["org-a/alpha", "org-a/bravo", "org-a/charlie-model"],
        "parameters": ["org-a/charlie-model", "org-a/alpha", "org-a/bravo"],  # unknown sizes last
    }
    for sort, expected in orders.items():
        assert listed(client.get("/browse/", {"sort": sort}).content.decode()) == expected, sort


# Pages


def test_pages_keep_the_filters(alice: Member) -> None:
    for i in range(30):
        version(alice.organization, f"model-{i:02d}", kind="checkpoint", license="MIT")
    version(alice.organization, "a-dataset", kind="dataset", license="MIT")
    client = portal_client(alice)
    first = client.get("/browse/", {"kind": "checkpoint", "license": "MIT", "sort": "name"}).content.decode()
    assert len(listed(first)) == 25
    assert "30 artifacts" in first
    link = re.search(r'<a href="\?([^"]+)" rel="next">', first)
    assert link, "a next link"
    query = link[1].replace("&amp;", "&")
    assert query == "kind=checkpoint&license=MIT&sort=name&page=2"
    second = client.get(f"/browse/?{query}").content.decode()
    assert listed(second) == [f"org-a/model-{i:02d}" for i in range(25, 30)]
    assert "page 2 of 2" in second
    assert 'rel="prev"' in second


# Empty states and bad input


def test_no_result_suggests_clearing_the_filters(alice: Member, catalogue: dict[str, Version]) -> None:
    page = portal_client(alice).get("/browse/", {"q": "nothing-like-this", "kind": "dataset"}).content.decode()
    assert "Nothing matches “nothing-like-this”" in page
    assert 'href="/browse/">clear all filters</a>' in page


def test_nothing_visible_says_how_to_start(alice: Member, charlie: Member) -> None:
    version(charlie.organization, "unshared", state="draft")
    anonymous = Client().get("/browse/").content.decode()
    assert "Nothing has been published yet" in anonymous
    assert 'href="/accounts/login/">Sign in</a>' in anonymous
    member = portal_client(alice).get("/browse/", {"kind": "dataset"}).content.decode()
    assert "Nothing to see yet" in member
    assert "consortium push" in member


def test_bad_filters_are_named_and_ignored(alice: Member, catalogue: dict[str, Version]) -> None:
    page = portal_client(alice).get("/browse/", {"kind": "model", "size": "huge", "sort": "best", "country": "xx"})
    html = page.content.decode()
    assert page.status_code == 200
    assert "Unknown kind “model”: choose one of" in html
    assert "Unknown size “huge”" in html
    assert "Unknown sort “best”: choose one of" in html
    assert "Unknown country “xx”" in html
    assert len(listed(html)) == 4, "the rest of the search still runs"


# Queries


def _browse_queries(client: Client, django_assert_max_num_queries: Any, params: dict[str, str]) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        assert client.get("/browse/", params).status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("params", [{}, {"q": "model", "architecture": "LlamaForCausalLM", "sort": "updated"}])
def test_browse_queries_do_not_grow_with_the_artifacts_shown(
    alice: Member, charlie: Member, django_assert_max_num_queries: Any, params: dict[str, str]
) -> None:
    client = portal_client(alice)

    def add(n: int) -> None:
        for _ in range(n):
            org = OrganizationFactory()
            v = version(org, f"model-{org.slug}", state="published", architecture="LlamaForCausalLM", parameters=7)
            VersionFactory(artifact=v.artifact, state="published", architecture="LlamaForCausalLM")

    add(3)
    few = _browse_queries(client, django_assert_max_num_queries, params)
    add(27)
    many = _browse_queries(client, django_assert_max_num_queries, params)
    assert few == many
    with django_assert_max_num_queries(18):
        client.get("/browse/", params)


def test_the_artifact_page_queries_do_not_grow_with_its_versions(
    alice: Member, django_assert_max_num_queries: Any
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    artifact = ArtifactFactory(organization=alice.organization, slug="many")
    client = portal_client(alice)
    counts = []
    for n in (3, 30):
        while artifact.versions.count() < n:
            VersionFactory(artifact=artifact, state="published", parameters=1000)
        with CaptureQueriesContext(connection) as ctx:
            page = client.get(f"/artifacts/{artifact.public_id}/")
        assert page.status_code == 200
        assert page.content.decode().count('<span title="1000">1K</span>') == n
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]
    with django_assert_max_num_queries(8):
        client.get(f"/artifacts/{artifact.public_id}/")


def test_facets_are_two_queries_whatever_their_number(
    alice: Member, catalogue: dict[str, Version], django_assert_num_queries: Any
) -> None:
    actor = alice.actor
    # one pass over the artifacts, one over the versions, and the text search
    with django_assert_num_queries(2 + 1):
        facets = selectors.artifact_facets(actor=actor, filters=Filters(text="llama", kind="checkpoint"))
    assert facets["kind"] == [("checkpoint", 1)]


def test_one_actors_text_matches_never_stand_for_anothers_visibility(
    alice: Member, charlie: Member, catalogue: dict[str, Version]
) -> None:
    """What a search found for one actor replaces the visibility test, so it is refused for another."""
    found = selectors.artifact_text_matches(actor=charlie.actor, text="draft")
    with pytest.raises(ValueError, match="only theirs"):
        selectors.artifact_list(actor=alice.actor, text="draft", matched=found)


def test_searching_versions_uses_the_full_text_index(alice: Member, catalogue: dict[str, Version]) -> None:
    """Searching READMEs and metadata reads the indexed column of migration 0009, not every README."""
    postgres_only()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    actor = alice.actor
    with CaptureQueriesContext(connection) as ctx:
        assert search.text_matches(actor, "contracts").ids == [catalogue["mistral"].artifact_id]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a handful of rows would be scanned otherwise
        cursor.execute("EXPLAIN " + ctx.captured_queries[-1]["sql"])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "version_search" in plan
