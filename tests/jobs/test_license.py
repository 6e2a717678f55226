"""The license check: declared expressions, the model-license table, and what lineage passes on."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError
from license_expression import get_spdx_licensing

from jobs.checks.base import CheckContext
from registry.licenses import license_choices, license_parse, spdx_normalize
from registry.model_licenses import LICENSES, Category, Commercial, Obligation, canonical_id, license_attributes
from registry.models import Version
from tests import factories
from tests.jobs.conftest import StoredVersion, run_check

FILES = {"README.md": b"x"}
LLAMA_SHA = "a" * 40
LLAMA_31 = "LicenseRef-Llama-3.1"


def codes(ctx: CheckContext) -> list[str]:
    return [reason.code for reason in ctx.reasons]


def hub_base(
    child: Version, license: str, relation: str = "derived_from", repo: str = "meta-llama/Llama-3.1-8B"
) -> None:
    factories.LineageEdgeFactory(
        child=child,
        relation=relation,
        parent=None,
        external_repo=repo,
        external_repo_type="model",
        external_revision=LLAMA_SHA,
        external_license=license,
    )


def registry_parent(
    stored_version: StoredVersion, child: Version, kind: str, license: str, relation: str, slug: str
) -> Version:
    organization = factories.OrganizationFactory(slug="aurora", name="Aurora Research Lab", country="FR")
    parent = stored_version(kind, FILES, license=license, organization=organization, number="1.0")
    parent.artifact.slug = slug
    parent.artifact.save(update_fields=["slug"])
    factories.LineageEdgeFactory(child=child, parent=parent, relation=relation)
    return parent


# The table and its lookups


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [
        ("llama3.1", LLAMA_31),
        ("LLAMA3.1", LLAMA_31),
        ("LicenseRef-scancode-llama-3.1-license-2024", LLAMA_31),
        ("llama2", "LicenseRef-Llama-2"),
        ("llama3", "LicenseRef-Llama-3"),
        ("llama3.2", "LicenseRef-Llama-3.2"),
        ("llama3.3", "LicenseRef-Llama-3.3"),
        ("llama4", "LicenseRef-Llama-4"),
        ("gemma", "LicenseRef-Gemma"),
        ("openrail", "LicenseRef-OpenRAIL"),
        ("openrail++", "LicenseRef-OpenRAIL-PlusPlus-M"),
        ("bigscience-openrail-m", "LicenseRef-BigScience-OpenRAIL-M"),
        ("creativeml-openrail-m", "LicenseRef-CreativeML-OpenRAIL-M"),
        ("bigcode-openrail-m", "LicenseRef-BigCode-OpenRAIL-M"),
        ("openmdw-1.0", "LicenseRef-OpenMDW-1.0"),
        ("apache-2.0", "Apache-2.0"),
        ("odc-by", "ODC-By-1.0"),
        ("cc-by-nc-4.0", "CC-BY-NC-4.0"),
        ("gpl-3.0", "GPL-3.0-only"),
    ],
)
def test_hub_and_scancode_names_resolve_to_the_tables_ids(alias: str, canonical: str) -> None:
    parsed, problem = license_parse(alias)
    assert problem == ""
    assert str(parsed) == canonical


def test_model_licenses_are_license_refs_because_none_is_on_the_spdx_list() -> None:
    spdx = get_spdx_licensing().known_symbols
    model = [entry for entry in LICENSES.values() if entry.category is Category.USE_RESTRICTED]
    assert len(model) >= 13
    for entry in model:
        assert entry.id.startswith("LicenseRef-")
        assert entry.id not in spdx
        assert entry.id.removeprefix("LicenseRef-") not in spdx, f"{entry.id} is on the SPDX list now"


def test_the_tables_attributes() -> None:
    llama = license_attributes("llama3.1")
    assert (llama.commercial, llama.category, llama.pass_through) == (
        Commercial.CONDITIONAL,
        Category.USE_RESTRICTED,
        True,
    )
    assert {Obligation.NAMING, Obligation.USE_RESTRICTIONS, Obligation.ATTRIBUTION} <= llama.obligations
    assert Obligation.NAMING not in license_attributes("llama2").obligations
    assert license_attributes("gemma").commercial is Commercial.YES
    assert license_attributes("gemma").pass_through
    assert license_attributes("LicenseRef-OpenMDW-1.0").category is Category.PERMISSIVE
    assert not license_attributes("LicenseRef-OpenMDW-1.0").pass_through
    assert not license_attributes("MIT").pass_through
    assert license_attributes("GPL-3.0-only").category is Category.COPYLEFT
    # Creative Commons: attributes follow from the id, ports included.
    assert license_attributes("CC-BY-NC-4.0").commercial is Commercial.NO
    assert not license_attributes("CC-BY-NC-4.0").pass_through
    assert license_attributes("CC-BY-SA-4.0").pass_through
    assert license_attributes("CC-BY-NC-SA-3.0-DE").commercial is Commercial.NO
    assert Obligation.NO_DERIVATIVES in license_attributes("CC-BY-ND-4.0").obligations
    # A valid SPDX id the table lacks: terms unknown, read conservatively.
    vim = license_attributes("Vim")
    assert (vim.known, vim.commercial, vim.pass_through) == (False, Commercial.UNKNOWN, True)
    assert canonical_id("no-such-license") is None


def test_an_or_expression_is_a_choice_and_and_applies_the_most_restrictive_term() -> None:
    parsed, _ = license_parse("MIT OR (CC-BY-NC-4.0 AND llama3.1)")
    assert parsed is not None
    choices = license_choices(parsed)
    assert choices is not None
    assert [(sorted(c.ids), c.commercial) for c in choices] == [
        (["MIT"], Commercial.YES),
        (["CC-BY-NC-4.0", LLAMA_31], Commercial.NO),
    ]


def test_push_accepts_the_tables_refs_in_any_case_and_hints_at_hub_names() -> None:
    assert spdx_normalize("licenseref-llama-3.1 and mit") == f"{LLAMA_31} AND MIT"
    assert spdx_normalize("LicenseRef-anything-else") == "LicenseRef-anything-else"
    with pytest.raises(ValidationError) as raised:
        spdx_normalize("llama3.1")
    message = raised.value.message_dict["license"][0]
    assert "unknown SPDX license id(s) ['llama3.1']" in message
    assert f"'llama3.1' is '{LLAMA_31}'" in message


# The check


@pytest.mark.django_db
def test_a_permissive_checkpoint_without_lineage_passes_with_its_evidence(stored_version: StoredVersion) -> None:
    organization = factories.OrganizationFactory(slug="borealis", name="Borealis AI", country="CA")
    ctx = run_check("license", stored_version("checkpoint", FILES, license="Apache-2.0", organization=organization))
    assert ctx.passed, ctx.reasons
    assert ctx.details["license"]["expression"] == "Apache-2.0"
    assert ctx.details["license"]["commercial"] == "yes"
    assert ctx.details["license"]["obligations"] == ["attribution"]
    assert ctx.details["license"]["licenses"]["Apache-2.0"]["category"] == "permissive"
    assert ctx.details["producer"] == {
        "slug": "borealis",
        "name": "Borealis AI",
        "country": {"code": "CA", "name": "Canada"},
    }
    assert ctx.details["lineage"] == []
    json.dumps(ctx.details)
    assert ctx.summary == "Apache-2.0: commercial use yes; 0 lineage edge(s) respected"


@pytest.mark.django_db
def test_trained_on_non_commercial_data_cannot_be_declared_commercial(stored_version: StoredVersion) -> None:
    version = stored_version("checkpoint", FILES, license="Apache-2.0")
    registry_parent(stored_version, version, "dataset", "CC-BY-NC-4.0", "trained_on", "web-nc")
    ctx = run_check("license", version)
    assert [str(r) for r in ctx.reasons] == [
        "trained_on aurora/web-nc v1.0 (CC-BY-NC-4.0) is non-commercial: "
        "this version's license Apache-2.0 permits commercial use"
    ]
    assert codes(ctx) == ["non_commercial_parent"]
    assert len(ctx.summary) < 300
    [edge] = ctx.details["lineage"]
    assert edge["relation"] == "trained_on"
    assert edge["target"] == "aurora/web-nc@1.0"
    assert edge["license"]["expression"] == "CC-BY-NC-4.0"
    assert edge["license"]["commercial"] == "no"


@pytest.mark.django_db
def test_trained_on_non_commercial_data_and_declared_non_commercial_passes(stored_version: StoredVersion) -> None:
    version = stored_version("checkpoint", FILES, license="CC-BY-NC-4.0")
    registry_parent(stored_version, version, "dataset", "CC-BY-NC-4.0", "trained_on", "web-nc")
    ctx = run_check("license", version)
    assert ctx.passed, ctx.reasons
    assert ctx.details["license"]["commercial"] == "no"


@pytest.mark.django_db
def test_a_recipe_or_eval_suite_under_a_non_commercial_license_passes_nothing_on(
    stored_version: StoredVersion,
) -> None:
    version = stored_version("checkpoint", FILES, license="MIT")
    registry_parent(stored_version, version, "pretraining_recipe", "CC-BY-NC-4.0", "produced_by", "recipe")
    ctx = run_check("license", version)
    assert ctx.passed, ctx.reasons
    assert [e["relation"] for e in ctx.details["lineage"]] == ["produced_by"]


@pytest.mark.django_db
def test_an_adapter_of_a_llama_base_must_carry_the_llama_license(stored_version: StoredVersion) -> None:
    version = stored_version("adapter", FILES, license="MIT")
    registry_parent(stored_version, version, "checkpoint", LLAMA_31, "derived_from", "llama-8b")
    ctx = run_check("license", version)
    assert codes(ctx) == ["license_not_carried"]
    assert str(ctx.reasons[0]) == (
        f"derived_from aurora/llama-8b v1.0 ({LLAMA_31}) passes its terms on to derivatives "
        f"(naming, use_restrictions): this version's license MIT must include {LLAMA_31}, "
        f"as in '{LLAMA_31} AND MIT'"
    )


@pytest.mark.django_db
@pytest.mark.parametrize("license", [f"{LLAMA_31} AND MIT", LLAMA_31, "LicenseRef-scancode-llama-3.1-license-2024"])
def test_an_adapter_carrying_the_llama_license_passes(stored_version: StoredVersion, license: str) -> None:
    version = stored_version("adapter", FILES, license=license)
    hub_base(version, "llama3.1")
    ctx = run_check("license", version)
    assert ctx.passed, ctx.reasons
    assert ctx.details["license"]["commercial"] == "conditional"
    [edge] = ctx.details["lineage"]
    assert edge["target"] == f"hub:meta-llama/Llama-3.1-8B@{LLAMA_SHA[:12]}"
    assert edge["external"] is True
    assert (edge["license"]["declared"], edge["license"]["expression"]) == ("llama3.1", LLAMA_31)


@pytest.mark.django_db
def test_a_hub_gemma_base_passes_its_obligations_on(stored_version: StoredVersion) -> None:
    version = stored_version("checkpoint", FILES, license="Apache-2.0")
    hub_base(version, "gemma", repo="google/gemma-2-2b")
    ctx = run_check("license", version)
    assert codes(ctx) == ["license_not_carried"]
    assert str(ctx.reasons[0]).startswith(
        f"derived_from hub:google/gemma-2-2b@{LLAMA_SHA[:12]} (LicenseRef-Gemma) passes its terms on to derivatives "
        "(use_restrictions): this version's license Apache-2.0 must include LicenseRef-Gemma"
    )
    [edge] = ctx.details["lineage"]
    assert edge["license"]["obligations"] == ["attribution", "use_restrictions"]
    assert edge["license"]["choices"][0]["pass_through"] == ["LicenseRef-Gemma"]

    carried = stored_version("checkpoint", FILES, license="Apache-2.0 AND LicenseRef-Gemma")
    hub_base(carried, "gemma", repo="google/gemma-2-2b")
    assert run_check("license", carried).passed


@pytest.mark.django_db
def test_share_alike_passes_on_through_derived_from_only(stored_version: StoredVersion) -> None:
    version = stored_version("checkpoint", FILES, license="MIT")
    hub_base(version, "cc-by-sa-4.0")
    hub_base(version, "cc-by-sa-4.0", relation="trained_on", repo="a/wiki")
    ctx = run_check("license", version)
    assert codes(ctx) == ["license_not_carried"]
    assert str(ctx.reasons[0]).startswith("derived_from hub:meta-llama/Llama-3.1-8B")
    assert ctx.details["notices"] == [
        f"trained_on hub:a/wiki@{LLAMA_SHA[:12]} (CC-BY-SA-4.0): its terms may reach models trained on it; "
        "check this version's name and license"
    ]


@pytest.mark.django_db
def test_a_no_derivatives_base_cannot_be_a_base(stored_version: StoredVersion) -> None:
    version = stored_version("checkpoint", FILES, license="CC-BY-ND-4.0")
    hub_base(version, "cc-by-nd-4.0")
    assert codes(run_check("license", version)) == ["no_derivatives_parent"]


@pytest.mark.django_db
def test_an_external_edge_without_a_license_fails_naming_the_edge(stored_version: StoredVersion) -> None:
    version = stored_version("checkpoint", FILES, license="MIT")
    hub_base(version, "")
    ctx = run_check("license", version)
    assert [str(r) for r in ctx.reasons] == [
        f"derived_from hub:meta-llama/Llama-3.1-8B@{LLAMA_SHA[:12]} declares no license: "
        "give the license the parent is under"
    ]
    assert ctx.details["lineage"][0]["license"] == {"declared": "", "valid": False}


@pytest.mark.django_db
def test_an_or_expression_lets_the_parent_choose_but_binds_every_choice_of_the_child(
    stored_version: StoredVersion,
) -> None:
    # The base may be taken under MIT: nothing passes on.
    free = stored_version("checkpoint", FILES, license="Apache-2.0")
    hub_base(free, "MIT OR llama3.1")
    assert run_check("license", free).passed

    # A non-commercial dataset: the child's Apache-2.0 side would permit commercial use.
    both = stored_version("checkpoint", FILES, license="CC-BY-NC-4.0 OR Apache-2.0")
    hub_base(both, "cc-by-nc-4.0", relation="trained_on", repo="a/data")
    ctx = run_check("license", both)
    assert [str(r) for r in ctx.reasons] == [
        f"trained_on hub:a/data@{LLAMA_SHA[:12]} (CC-BY-NC-4.0) is non-commercial: this version's license "
        "CC-BY-NC-4.0 OR Apache-2.0 taken as Apache-2.0 permits commercial use"
    ]

    # A Llama base: the MIT side of the child's OR drops the Llama terms.
    split = stored_version("adapter", FILES, license=f"MIT OR ({LLAMA_31} AND Apache-2.0)")
    hub_base(split, "llama3.1")
    ctx = run_check("license", split)
    assert codes(ctx) == ["license_not_carried"]
    assert f"as in '{LLAMA_31} AND (MIT OR ({LLAMA_31} AND Apache-2.0))'" in str(ctx.reasons[0])


@pytest.mark.django_db
def test_a_llama_base_counts_as_permitting_commercial_use(stored_version: StoredVersion) -> None:
    version = stored_version("adapter", FILES, license=f"{LLAMA_31} AND MIT")
    hub_base(version, "llama3.1")
    hub_base(version, "cc-by-nc-4.0", relation="trained_on", repo="a/data")
    assert codes(run_check("license", version)) == ["non_commercial_parent"]


@pytest.mark.django_db
def test_unknown_licenses_fail_in_the_version_and_in_its_lineage(stored_version: StoredVersion) -> None:
    version = stored_version("checkpoint", FILES, license="LicenseRef-x AND MIT")
    hub_base(version, "other")
    hub_base(version, "MIT AND", relation="trained_on", repo="a/data")
    ctx = run_check("license", version)
    assert [str(r) for r in ctx.reasons] == [
        "this version's license: unknown license LicenseRef-x: not in the registry's license table",
        f"derived_from hub:meta-llama/Llama-3.1-8B@{LLAMA_SHA[:12]}: unknown license other: not an SPDX license id",
        f"trained_on hub:a/data@{LLAMA_SHA[:12]}: 'MIT AND' is not a valid SPDX expression: "
        "AND requires two or more licenses as in: MIT AND BSD",
    ]
    assert codes(ctx) == ["unknown_license", "unknown_license", "invalid_license"]
    assert ctx.details["license"] == {"declared": "LicenseRef-x AND MIT", "valid": False}
    assert ctx.summary.startswith("3 license problem(s): this version's license: unknown license LicenseRef-x")


@pytest.mark.django_db
def test_an_unknown_spdx_id_is_accepted_and_a_derivative_must_carry_it(stored_version: StoredVersion) -> None:
    version = stored_version("checkpoint", FILES, license="Vim")
    assert run_check("license", version).details["license"]["commercial"] == "unknown"

    child = stored_version("checkpoint", FILES, license="MIT")
    hub_base(child, "Vim")
    ctx = run_check("license", child)
    assert codes(ctx) == ["license_not_carried"]
    assert "(terms unknown to the registry)" in str(ctx.reasons[0])


@pytest.mark.django_db
def test_an_eu_producer_of_a_llama_32_derivative_gets_a_notice(stored_version: StoredVersion) -> None:
    organization = factories.OrganizationFactory(slug="eu-lab", name="EU Lab", country="DE")
    version = stored_version("adapter", FILES, license="LicenseRef-Llama-3.2", organization=organization)
    hub_base(version, "llama3.2", repo="meta-llama/Llama-3.2-11B-Vision")
    ctx = run_check("license", version)
    assert ctx.passed, ctx.reasons
    assert ctx.details["producer"]["country"] == {"code": "DE", "name": "Germany"}
    [notice] = ctx.details["notices"]
    assert "withholds rights to multimodal models from EU-domiciled licensees, and eu-lab is in Germany" in notice
