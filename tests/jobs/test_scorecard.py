"""The adoption scorecard: missing evidence said as missing, peers by size among what the reader
sees, license classes, contamination declarations flagging the scores they name, and the card's
section as the public sees it. Rows come from factories, not from real evals."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError

from jobs.models import EvalResult
from jobs.publication.card import card_render
from jobs.scorecard import scorecard
from jobs.scorecard.openness import openness
from jobs.scorecard.performance import lower_is_better
from registry.declared_metadata import declared_metadata_errors
from registry.models import Kind, LineageEdge, Organization, Sharing, Version
from registry.services.versions import version_create
from tests import factories
from tests.api.measured import measured_version, suite_version, with_finetune
from tests.conftest import Member

pytestmark = pytest.mark.django_db

State = Version.State
LLAMA_REV = "0123456789abcdef0123456789abcdef01234567"


def model(
    org: Organization, slug: str, *, parameters: int | None, state: str = State.PUBLISHED, **fields: Any
) -> Version:
    kind = fields.pop("kind", Kind.CHECKPOINT)
    sharing = fields.pop("sharing", Sharing.ORG)
    artifact = factories.ArtifactFactory(organization=org, slug=slug, kind=kind, sharing=sharing)
    return factories.VersionFactory(artifact=artifact, number="1.0", state=state, parameters=parameters, **fields)


def score(version: Version, suite: Version, task: str, metric: str, value: float) -> None:
    EvalResult.objects.create(
        version=version, suite=suite, task=task, metric=metric, filter="none", value=value, harness_version="0.4.9"
    )


def edge(child: Version, relation: str, parent: Version) -> None:
    factories.LineageEdgeFactory(child=child, relation=relation, parent=parent)


def test_a_bare_checkpoint_shows_every_missing_piece_as_missing(alice: Member) -> None:
    version = model(alice.organization, "bare", parameters=None, state=State.IN_REVIEW)
    card = scorecard(actor=alice.actor, version=version)
    status = {f.key: str(f.status) for f in card.factors}
    assert status == {
        "performance": "missing",
        "provenance": "poor",  # a country, but no recipe, no data, no jurisdictions
        "license": "fair",  # Apache-2.0 weights; code and data missing
        "tooling": "missing",
        "finetune": "missing",
        "readiness": "poor",
    }
    assert card.factor("performance").missing == ["eval scores you can see"]
    assert card.factor("provenance").missing == [
        "the recipe that produced it (produced_by)",
        "the data it was trained on (trained_on)",
    ]
    assert card.factor("provenance").figures["lineage"][2] == {
        "relation": "derived_from",
        "state": "not expected",  # a checkpoint with no posttraining recipe: pretrained, not guessed a base
        "registry": [],
        "hub": [],
    }
    license_ = card.factor("license")
    assert license_.headline == "weights open, code missing, data missing: open model (weights)"
    assert "the code's license: no recipe you can see produced it" in license_.missing
    assert card.factor("tooling").headline == "not measured"
    assert card.factor("readiness").headline == (
        "0 of 5 factors good; fair: license; poor: provenance; missing: performance for its size, "
        "tooling at release, fine-tunability"
    )
    assert card.contamination == []


def test_probes_figures_and_a_skipped_probe_says_why(alice: Member) -> None:
    measured = measured_version(alice.user, alice.organization)
    card = scorecard(actor=alice.actor, version=measured.version)
    tooling = card.factor("tooling")
    assert (str(tooling.status), tooling.figures["passed"], tooling.figures["failed"]) == ("poor", 1, 1)
    assert tooling.headline == "1 of 2 compatibility checks passed; failed: generate"
    assert [e.ref for e in tooling.evidence] == ["compatibility"]
    finetune = card.factor("finetune")
    assert (str(finetune.status), finetune.headline) == ("missing", "not measured (size)")
    assert card.factor("performance").headline == "size unknown: not compared"  # parameters not counted

    with_finetune(measured.version)
    finetune = scorecard(actor=alice.actor, version=measured.version).factor("finetune")
    assert (str(finetune.status), finetune.headline) == ("good", "held-out loss 3.210 → 2.900 (-9.7%), stable")

    adapter = model(alice.organization, "lora", parameters=None, kind=Kind.ADAPTER)
    edge(adapter, "derived_from", measured.version)
    finetune = scorecard(actor=alice.actor, version=adapter).factor("finetune")
    assert finetune.headline == "its base: held-out loss 3.210 → 2.900 (-9.7%), stable"
    assert [e.ref for e in finetune.evidence] == [str(measured.version.public_id)]


def test_peers_are_visible_models_of_similar_size_on_the_same_suite_task_and_metric(
    alice: Member, charlie: Member, org_b: Organization
) -> None:
    suite = suite_version(org_b, sharing=Sharing.CONSORTIUM, state=State.PUBLISHED)
    other_suite = suite_version(org_b, sharing=Sharing.CONSORTIUM, state=State.PUBLISHED, slug="other-evals")
    ours = model(alice.organization, "ours", parameters=1000)
    score(ours, suite, "cloze", "acc", 0.6)
    score(ours, suite, "wiki", "word_perplexity", 20.0)
    for slug, parameters, acc, ppl in [
        ("small", 500, 0.4, 30.0),  # 0.5x: in the band
        ("large", 2000, 0.8, 10.0),  # 2x: in the band
        ("huge", 2001, 0.1, 99.0),  # beyond 2x: not a peer
    ]:
        peer = model(org_b, slug, parameters=parameters)
        score(peer, suite, "cloze", "acc", acc)
        score(peer, suite, "wiki", "word_perplexity", ppl)
    elsewhere = model(org_b, "elsewhere", parameters=1000)
    score(elsewhere, other_suite, "cloze", "acc", 0.1)  # another suite: not compared
    base = model(org_b, "base", parameters=900)
    adapter = model(org_b, "adapter", parameters=8, kind=Kind.ADAPTER)
    edge(adapter, "derived_from", base)
    score(adapter, suite, "cloze", "acc", 0.5)  # an adapter counts by its base's size
    private = model(org_b, "private", parameters=1000, state=State.IN_REVIEW)
    score(private, suite, "cloze", "acc", 0.2)  # org-b's own work in review: charlie sees it, alice does not

    rows = {r["task"]: r for r in scorecard(actor=alice.actor, version=ours).factor("performance").figures["scores"]}
    assert (rows["cloze"]["peers"], rows["cloze"]["percentile"], rows["cloze"]["better"]) == (3, 67, "higher")
    assert (rows["wiki"]["peers"], rows["wiki"]["percentile"], rows["wiki"]["better"]) == (2, 50, "lower")
    assert rows["cloze"]["peer_median"] == 0.5

    performance = scorecard(actor=charlie.actor, version=ours).factor("performance")
    cloze = next(r for r in performance.figures["scores"] if r["task"] == "cloze")
    assert (cloze["peers"], cloze["percentile"]) == (4, 75)
    assert performance.figures["peer_parameters"] == [500, 2000]
    assert str(performance.status) == "fair"  # median of 75 and 50
    assert [lower_is_better(m) for m in ("bits_per_byte", "word_perplexity", "acc_norm")] == [True, True, False]


def test_no_peers_is_said_and_counts_as_missing(alice: Member, org_b: Organization) -> None:
    suite = suite_version(org_b, sharing=Sharing.CONSORTIUM, state=State.PUBLISHED)
    ours = model(alice.organization, "alone", parameters=1000)
    score(ours, suite, "cloze", "acc", 0.6)
    performance = scorecard(actor=alice.actor, version=ours).factor("performance")
    assert (str(performance.status), performance.headline) == ("missing", "no peers of similar size")
    assert performance.figures["scores"][0]["peers"] == 0


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("Apache-2.0", "open"),
        ("GPL-3.0-only", "open"),
        ("CC-BY-4.0", "open"),
        ("CC-BY-NC-4.0", "restricted"),
        ("CC-BY-ND-4.0", "restricted"),
        ("LicenseRef-Llama-3.1", "restricted"),
        ("llama3.1", "restricted"),  # a Hub id, as external lineage carries it
        ("MIT OR LicenseRef-Llama-3.1", "open"),  # the licensee takes the open side
        ("Apache-2.0 AND CC-BY-NC-4.0", "restricted"),  # both apply
        ("LicenseRef-In-House", "unknown"),
        ("", "unknown"),
    ],
)
def test_license_classes(expression: str, expected: str) -> None:
    assert openness(expression) == expected


def test_license_components_weights_base_code_and_data(alice: Member) -> None:
    org = alice.organization
    recipe = model(org, "recipe", parameters=None, kind=Kind.POSTTRAINING_RECIPE, license="MIT")
    data = model(org, "chat-data", parameters=None, kind=Kind.DATASET, license="CC-BY-NC-4.0")
    adapter = model(org, "chat-lora", parameters=None, kind=Kind.ADAPTER, license="LicenseRef-Llama-3.1")
    edge(adapter, "produced_by", recipe)
    edge(adapter, "trained_on", data)
    LineageEdge.objects.create(
        child=adapter,
        relation="derived_from",
        external_repo="meta-llama/Llama-3.1-8B",
        external_repo_type="model",
        external_revision=LLAMA_REV,
        external_license="llama3.1",
    )
    card = scorecard(actor=alice.actor, version=adapter)
    license_ = card.factor("license")
    assert [(c["component"], c["class"]) for c in license_.figures["components"]] == [
        ("weights", "restricted"),
        ("code", "open"),
        ("data", "restricted"),
    ]
    assert str(license_.status) == "poor"
    assert license_.figures["components"][0]["sources"][1] == {
        "name": "meta-llama/Llama-3.1-8B",
        "license": "llama3.1",
        "class": "restricted",
    }
    provenance = card.factor("provenance")
    assert [row["state"] for row in provenance.figures["lineage"]] == ["registry", "registry", "hub"]
    assert provenance.missing == [f"the jurisdictions of {org.slug}/chat-data@1.0 in its metadata.jurisdictions"]
    assert {"kind": "hub", "label": "meta-llama/Llama-3.1-8B (Hub model)", "ref": "meta-llama/Llama-3.1-8B",
            "revision": LLAMA_REV, "repo_type": "model"} in [e.as_json() for e in provenance.evidence]  # fmt: skip
    assert card.factor("finetune").missing == [
        "the base's fine-tune probe: the adapter's base is not a checkpoint in the registry"
    ]


def test_contamination_flags_the_named_suites_scores_through_visible_lineage_only(
    alice: Member, org_b: Organization, steward: Member
) -> None:
    org = alice.organization
    declared = {"suite": "borealis/pico-evals", "tasks": ["pico_cloze"], "overlap": "  cloze passages\n from the web "}
    crawl = model(org, "crawl", parameters=None, kind=Kind.DATASET, metadata={"contamination": [declared]})
    other_number = {"suite": "borealis/pico-evals@9.9", "overlap": "a later suite version"}
    recipe = model(
        org, "sft", parameters=None, kind=Kind.POSTTRAINING_RECIPE, metadata={"contamination": [other_number]}
    )
    hidden = model(
        org_b, "secret-mix", parameters=None, kind=Kind.DATASET, state=State.IN_REVIEW,
        metadata={"contamination": [{"suite": "borealis/pico-evals", "overlap": "everything"}]},
    )  # fmt: skip
    base = model(org, "base", parameters=None)
    edge(base, "trained_on", crawl)  # two hops up: the base's data
    measured = measured_version(alice.user, org, state=State.PUBLISHED)  # scored on borealis/pico-evals 2.0
    edge(measured.version, "derived_from", base)
    edge(measured.version, "produced_by", recipe)
    edge(measured.version, "trained_on", hidden)  # org-b's work in review: alice cannot see it

    card = scorecard(actor=alice.actor, version=measured.version)
    assert [(f.task, f.declared_by.pk, f.overlap) for f in card.contamination] == [
        ("pico_cloze", crawl.pk, "cloze passages from the web")
    ]
    rows = {r["task"]: r["contaminated"] for r in card.factor("performance").figures["scores"]}
    assert rows == {"pico_cloze": True, "pico_perplexity": False}
    assert card.as_json()["contamination"][0]["declared_by"]["name"] == f"{org.slug}/crawl"

    seen_by_steward = scorecard(actor=steward.actor, version=measured.version)
    assert sorted((f.task, f.declared_by.artifact.slug) for f in seen_by_steward.contamination) == [
        ("pico_cloze", "crawl"),
        ("pico_cloze", "secret-mix"),
        ("pico_perplexity", "secret-mix"),
    ]


def test_declarations_are_checked_at_creation_naming_the_field(alice: Member) -> None:
    good = {"contamination": [{"suite": "org-b/evals@1.0", "tasks": ["a"], "overlap": "test split"}]}
    assert declared_metadata_errors(Kind.DATASET, {**good, "jurisdictions": ["FR", "EU"]}) == {}
    assert declared_metadata_errors(Kind.POSTTRAINING_RECIPE, good) == {}
    bad = {"contamination": [{"suite": "evals", "tasks": "a", "overlap": "", "extra": 1}], "jurisdictions": []}
    assert declared_metadata_errors(Kind.DATASET, bad) == {
        "metadata.contamination[0]": ["unknown field(s) ['extra']; a declaration has suite, tasks and overlap"],
        "metadata.contamination[0].suite": ["must name an eval suite as 'org/suite' or 'org/suite@number'"],
        "metadata.contamination[0].tasks": ["must be a list of at most 200 task names (empty: every task)"],
        "metadata.contamination[0].overlap": ["say what overlaps, in at most 500 characters"],
        "metadata.jurisdictions": [
            "must be a list of 1 to 50 names (ISO country codes like 'FR', or regions like 'EU')"
        ],
    }
    artifact = factories.ArtifactFactory(organization=alice.organization, kind=Kind.CHECKPOINT)
    with pytest.raises(ValidationError) as caught:
        version_create(actor=alice.actor, artifact=artifact, number="1.0", license="MIT", metadata=good)
    assert caught.value.message_dict == {
        "metadata.contamination": [
            "contamination is declared on datasets and recipes (pretraining, posttraining), not on a checkpoint"
        ]
    }


def test_the_hub_card_shows_the_scorecard_the_public_sees(alice: Member, org_b: Organization, settings: Any) -> None:
    settings.PUBLIC_URL = "https://registry.example.org"
    private_suite = suite_version(alice.organization, sharing=Sharing.ORG, state=State.APPROVED, slug="in-house")
    measured = measured_version(alice.user, alice.organization, state=State.APPROVED)
    score(measured.version, private_suite, "secret_task", "acc", 0.9)
    data = model(
        alice.organization, "web", parameters=None, kind=Kind.DATASET, metadata={"jurisdictions": ["FR"]},
        state=State.APPROVED,  # not published: the public does not see it
    )  # fmt: skip
    edge(measured.version, "trained_on", data)

    text = card_render(measured.version, endpoint="https://hub.example.org")
    section = text.split("## Adoption scorecard", 1)[1].split("## Provenance", 1)[0]
    assert "| Tooling at release | poor | 1 of 2 compatibility checks passed; failed: generate |" in section
    assert "| Fine-tunability | missing | not measured \\(size\\) |" in section
    assert f"(https://registry.example.org/versions/{measured.version.public_id}/#measure-compatibility-heading)" in (
        section
    )
    assert "- Provenance: the data it was trained on \\(trained\\_on\\)" in section  # the unpublished dataset
    assert [word for word in ("web", "in-house", "secret_task") if word in section] == []
    assert card_render(measured.version, endpoint="https://hub.example.org") == text  # deterministic
