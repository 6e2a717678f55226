"""Hub targets and cards: what each kind publishes as, the license the Hub sees, and cards that
huggingface_hub's own parsers read back and that `card_validate` accepts (or, for bad ones, refuses)."""

from __future__ import annotations

from typing import Any

import pytest
from huggingface_hub import DatasetCard, EvalResult, ModelCard
from huggingface_hub.repocard_data import model_index_to_eval_results

from jobs.models import EvalResult as StoredEvalResult
from jobs.models import PipelineRun, Publication, Step
from jobs.publication.card import card_render, card_validate, hub_eval_results, readme_strip_front_matter
from jobs.publication.targets import HubLicense, hub_gated, hub_license, hub_target, version_tag
from registry.actors import Actor
from registry.digests import metadata_digest, version_digests
from registry.models import Artifact, Kind, LineageEdge, Organization, Review, Sharing, Version, VersionFile
from registry.services.reviews import version_override
from tests import factories

pytestmark = pytest.mark.django_db

HUB = "https://hub.example.org"
LLAMA = "meta-llama/Llama-3.1-8B"
REV = "0123456789abcdef0123456789abcdef01234567"
MANIFEST = "ab" * 32


def make_version(organization: Organization, kind: str, *, files: tuple[str, ...] = (), **fields: Any) -> Version:
    artifact = factories.ArtifactFactory(organization=organization, kind=kind, slug=fields.pop("slug", None) or kind)
    fields.setdefault("manifest_sha256", MANIFEST)
    version = factories.VersionFactory(artifact=artifact, state=fields.pop("state", Version.State.APPROVED), **fields)
    for path in files:
        VersionFile.objects.create(version=version, path=path, size=10, sha256="cd" * 32)
    return version


def on_llama(version: Version) -> None:
    """`version` derived from the external Llama base, pinned to REV."""
    LineageEdge.objects.create(
        child=version,
        relation="derived_from",
        external_repo=LLAMA,
        external_repo_type="model",
        external_revision=REV,
        external_license="LicenseRef-Llama-3.1",
    )


def published(version: Version) -> Version:
    """Put `version` on the Hub the way the publisher leaves it: state and a publication row."""
    version.state = Version.State.PUBLISHED
    version.save(update_fields=["state"])
    target = hub_target(version.artifact)
    Publication.objects.create(
        version=version,
        repo_type=target.repo_type,
        repo_id=target.repo_id,
        tag=version_tag(version),
        manifest_sha256=version.manifest_sha256,
        metadata_sha256=metadata_digest(version),
        status=Publication.Status.PUBLISHED,
    )
    return version


def read(text: str, repo_type: str) -> dict[str, Any]:
    """The card's metadata as huggingface_hub reads it, strictly; and the card must validate."""
    assert card_validate(text, repo_type) == []
    card = (ModelCard if repo_type == "model" else DatasetCard)(text, ignore_metadata_errors=False)
    return card.data.to_dict()


def body(text: str) -> str:
    return ModelCard(text).text


# --- targets -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "repo_type", "tags"),
    [
        (Kind.CHECKPOINT, "model", ("consortium-registry",)),
        (Kind.ADAPTER, "model", ("consortium-registry",)),
        (Kind.DATASET, "dataset", ("consortium-registry",)),
        (Kind.EVAL_SUITE, "dataset", ("consortium-registry", "eval-suite")),
        (Kind.PRETRAINING_RECIPE, "model", ("consortium-registry", "pretraining-recipe")),
        (Kind.POSTTRAINING_RECIPE, "model", ("consortium-registry", "posttraining-recipe")),
        (Kind.RL_ENVIRONMENT, "model", ("consortium-registry", "rl-environment")),
    ],
)
def test_each_kind_has_one_hub_target(org_a: Organization, kind: str, repo_type: str, tags: tuple[str, ...]) -> None:
    artifact = factories.ArtifactFactory(organization=org_a, kind=kind, slug="thing")
    target = hub_target(artifact)
    assert (target.repo_type, target.repo_id, target.tags) == (repo_type, "hub-org-a/thing", tags)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("Apache-2.0", HubLicense("apache-2.0")),
        ("MIT", HubLicense("mit")),
        ("CC-BY-4.0", HubLicense("cc-by-4.0")),
        ("LicenseRef-Llama-3.1", HubLicense("llama3.1")),
        ("LicenseRef-Gemma", HubLicense("gemma")),
        ("LicenseRef-OpenRAIL-PlusPlus-M", HubLicense("openrail++")),
        ("ODbL-1.0", HubLicense("odbl")),
        ("GPL-3.0-only", HubLicense("gpl-3.0")),
        (
            "GPL-3.0-or-later",
            HubLicense("other", "gpl-3-0-or-later", "https://spdx.org/licenses/GPL-3.0-or-later.html"),
        ),
        ("MIT-0", HubLicense("other", "mit-0", "https://spdx.org/licenses/MIT-0.html")),
        ("Apache-2.0 AND MIT", HubLicense("other", "apache-2-0-and-mit", "https://spdx.org/licenses/Apache-2.0.html")),
        ("LicenseRef-OpenRAIL-M", HubLicense("other", "openrail-m")),
        ("LicenseRef-Acme-1.0 AND LicenseRef-Llama-3.1", HubLicense("other", "acme-1-0-and-llama-3-1")),
    ],
)
def test_hub_license(expression: str, expected: HubLicense) -> None:
    assert hub_license(expression) == expected


def test_a_license_without_a_page_links_the_repos_license_file() -> None:
    paths = ["LICENSE", "model.safetensors"]
    assert hub_license("Apache-2.0 AND MIT", paths=paths).license_link == "LICENSE"
    assert hub_license("LicenseRef-OpenRAIL-M", paths=paths).license_link == "LICENSE"
    assert hub_license("LicenseRef-OpenRAIL-M", paths=["docs/LICENSE"]).license_link is None
    # One SPDX license has its own page, whatever the repo holds.
    assert hub_license("MIT-0", paths=paths).license_link == "https://spdx.org/licenses/MIT-0.html"


@pytest.mark.parametrize(
    ("expression", "gated"),
    [
        ("LicenseRef-Llama-3.1", True),
        ("LicenseRef-Llama-2", True),
        ("LicenseRef-Gemma", True),
        ("MIT OR LicenseRef-Llama-3.1", True),
        ("Apache-2.0 AND LicenseRef-Gemma", True),
        ("LicenseRef-OpenRAIL-M", False),
        ("LicenseRef-BigScience-OpenRAIL-M", False),
        ("Apache-2.0", False),
        ("LicenseRef-Acme-1.0", False),
    ],
)
def test_hub_gated(expression: str, gated: bool) -> None:
    assert hub_gated(expression) is gated


# --- cards per kind ----------------------------------------------------------------------------


def test_checkpoint_on_an_external_llama_base(org_a: Organization) -> None:
    version = make_version(
        org_a, Kind.CHECKPOINT, files=("config.json", "model.safetensors"), license="LicenseRef-Llama-3.1"
    )
    on_llama(version)
    text = card_render(version, endpoint=HUB + "/")

    data = read(text, "model")
    assert data["license"] == "llama3.1"
    assert "license_name" not in data
    assert data["base_model"] == LLAMA
    assert data["base_model_relation"] == "finetune"
    assert data["library_name"] == "transformers"
    assert data["tags"] == ["consortium-registry"]
    assert "datasets" not in data
    assert hub_gated(version.license) is True
    assert f"- Derived from: [{LLAMA}]({HUB}/{LLAMA}/tree/{REV})" in body(text)
    assert f"pinned to revision `{REV}`" in text
    assert "declared license LicenseRef-Llama-3.1" in text


def test_adapter_over_a_published_internal_base(org_a: Organization) -> None:
    base = published(make_version(org_a, Kind.CHECKPOINT, slug="base-7b", number="2.0.0"))
    adapter = make_version(org_a, Kind.ADAPTER, files=("adapter_config.json", "adapter_model.safetensors"))
    LineageEdge.objects.create(child=adapter, relation="derived_from", parent=base)

    text = card_render(adapter, endpoint=HUB)

    data = read(text, "model")
    assert data["base_model"] == "hub-org-a/base-7b"
    assert data["base_model_relation"] == "adapter"
    assert data["library_name"] == "peft"
    assert f"({HUB}/hub-org-a/base-7b/tree/v2.0.0)" in text
    assert f"registry version `{base.public_id}`" in text


def test_a_base_not_on_the_hub_is_named_in_provenance_only(org_a: Organization) -> None:
    base = make_version(org_a, Kind.CHECKPOINT, slug="base-7b", number="2.0.0", state=Version.State.IN_REVIEW)
    adapter = make_version(org_a, Kind.ADAPTER)
    LineageEdge.objects.create(child=adapter, relation="derived_from", parent=base)

    text = card_render(adapter, endpoint=HUB)

    data = read(text, "model")
    assert "base_model" not in data
    assert "base_model_relation" not in data
    assert "library_name" not in data  # no adapter_config.json: nothing backs `peft`
    assert f"org-a/base-7b v2.0.0 (registry version `{base.public_id}`; not published on the Hub" in text
    assert "/tree/" not in text


def test_another_members_unpublished_parent_is_not_named_on_the_public_card(
    org_a: Organization, org_b: Organization
) -> None:
    base = make_version(org_b, Kind.CHECKPOINT, slug="secret-base", state=Version.State.APPROVED)
    adapter = make_version(org_a, Kind.ADAPTER)
    LineageEdge.objects.create(child=adapter, relation="derived_from", parent=base)

    text = card_render(adapter, endpoint=HUB)

    read(text, "model")
    assert "secret-base" not in text
    assert "org-b" not in text
    assert str(base.public_id) not in text
    assert "an unpublished version of another consortium member (shared inside the consortium" in text


def test_a_stewards_override_is_named_as_such(org_a: Organization) -> None:
    version = make_version(org_a, Kind.CHECKPOINT, state=Version.State.IN_REVIEW)
    stella = factories.UserFactory(username="stella", is_steward=True)
    version_override(actor=Actor.for_user(stella), version=version, action="approve", reason="urgent fix")

    assert "Approved by a consortium steward's override" in body(card_render(version, endpoint=HUB))


def test_checkpoint_names_the_datasets_it_was_trained_on_that_are_on_the_hub(org_a: Organization) -> None:
    data_published = published(make_version(org_a, Kind.DATASET, slug="web-text", number="1.0.0"))
    data_private = make_version(org_a, Kind.DATASET, slug="private-text", state=Version.State.APPROVED)
    version = make_version(org_a, Kind.CHECKPOINT)
    LineageEdge.objects.create(child=version, relation="trained_on", parent=data_published)
    LineageEdge.objects.create(child=version, relation="trained_on", parent=data_private)
    LineageEdge.objects.create(
        child=version,
        relation="trained_on",
        external_repo="allenai/c4",
        external_repo_type="dataset",
        external_revision=REV,
        external_license="ODC-By-1.0",
    )

    text = card_render(version, endpoint=HUB)

    assert sorted(read(text, "model")["datasets"]) == ["allenai/c4", "hub-org-a/web-text"]
    assert f"({HUB}/datasets/hub-org-a/web-text/tree/v1.0.0)" in text
    assert f"({HUB}/datasets/allenai/c4/tree/{REV})" in text
    assert "org-a/private-text" in text


def test_dataset_gets_a_dataset_card(org_a: Organization) -> None:
    version = make_version(org_a, Kind.DATASET, license="CC-BY-4.0")
    text = card_render(version, endpoint=HUB)

    data = read(text, "dataset")
    assert data["license"] == "cc-by-4.0"
    assert data["tags"] == ["consortium-registry"]
    assert "base_model" not in data
    with pytest.raises(ValueError, match="model cards"):
        card_render(version, endpoint=HUB, evals=[_eval()])


def test_eval_suite_is_a_tagged_dataset_repo(org_a: Organization) -> None:
    text = card_render(make_version(org_a, Kind.EVAL_SUITE, license="MIT"), endpoint=HUB)
    assert read(text, "dataset")["tags"] == ["consortium-registry", "eval-suite"]


def test_recipe_is_a_model_repo_tagged_with_its_kind(org_a: Organization) -> None:
    version = make_version(org_a, Kind.PRETRAINING_RECIPE, files=("config.json", "recipe.yaml"))
    text = card_render(version, endpoint=HUB)

    data = read(text, "model")
    assert data["tags"] == ["consortium-registry", "pretraining-recipe"]
    assert "library_name" not in data  # a recipe's config.json is no transformers model
    assert "base_model" not in data


def test_compound_license_is_other_with_a_name(org_a: Organization) -> None:
    version = make_version(org_a, Kind.CHECKPOINT, license="Apache-2.0 AND MIT", files=("LICENSE", "x.safetensors"))
    data = read(card_render(version, endpoint=HUB), "model")
    assert (data["license"], data["license_name"], data["license_link"]) == ("other", "apache-2-0-and-mit", "LICENSE")


def _eval(metric: str = "acc", value: float = 0.61) -> EvalResult:
    return EvalResult(
        task_type="text-generation",
        dataset_type="hub-org-a/arith",
        dataset_name="Arithmetic (tiny)",
        metric_type=metric,
        metric_value=value,
        dataset_split="test",
        dataset_revision="v1.0.0",
    )


def test_eval_results_round_trip_through_the_model_index(org_a: Organization) -> None:
    evals = [_eval("acc", 0.61), _eval("exact_match", 0.25)]
    version = make_version(org_a, Kind.CHECKPOINT)
    text = card_render(version, endpoint=HUB, evals=evals)

    data = read(text, "model")
    name, results = model_index_to_eval_results(data["model-index"])
    assert name == "checkpoint"
    assert results == evals
    assert "| text-generation | Arithmetic \\(tiny\\) | acc | 0.61 |" in text


def test_the_registrys_scores_become_the_model_index_naming_each_suite_where_it_lives(org_a: Organization) -> None:
    version = make_version(org_a, Kind.CHECKPOINT)
    on_hub = make_version(org_a, Kind.EVAL_SUITE, slug="arith", number="2.0.0", state=Version.State.PUBLISHED)
    Publication.objects.create(
        version=on_hub,
        status=Publication.Status.PUBLISHED,
        repo_type="dataset",
        repo_id="hub-org-a/arith",
        tag="v2.0.0",
        manifest_sha256=MANIFEST,
        metadata_sha256=MANIFEST,
    )
    local = make_version(org_a, Kind.EVAL_SUITE, slug="weather", number="1.0.0")
    Artifact.objects.filter(pk=local.artifact_id).update(sharing=Sharing.CONSORTIUM)
    private = make_version(org_a, Kind.EVAL_SUITE, slug="in-house", number="1.0.0")
    rows = [
        (on_hub, "arith_add", "acc", "none", 0.5),
        (on_hub, "arith_sub", "acc", "none", 0.375),  # a second task of the same suite stays its own entry
        (local, "weather_cloze", "exact_match", "strict-match", 0.25),
        (local, "weather_cloze", "bits_per_byte", "none", None),  # no finite value: not a claim to make
        (private, "in_house_secret", "acc", "none", 0.9),  # its org shares it with nobody: not named in public
    ]
    for suite, task, metric, filter_, value in rows:
        StoredEvalResult.objects.create(
            version=version,
            suite=suite,
            task=task,
            metric=metric,
            filter=filter_,
            value=value,
            harness_version="0.4.13",
        )

    evals = hub_eval_results(version)

    assert [(e.dataset_type, e.dataset_revision, e.dataset_name, e.metric_name, e.metric_value) for e in evals] == [
        ("hub-org-a/arith", "v2.0.0", "arith_add", "acc", 0.5),
        ("hub-org-a/arith", "v2.0.0", "arith_sub", "acc", 0.375),
        (f"{org_a.slug}/weather", "1.0.0", "weather_cloze", "exact_match (strict-match)", 0.25),
    ]
    assert {e.source_name for e in evals} == {"Consortium registry (lm-evaluation-harness 0.4.13)"}
    assert all(e.source_url.endswith(f"/versions/{version.public_id}/") for e in evals)
    _, parsed = model_index_to_eval_results(
        read(card_render(version, endpoint=HUB, evals=evals), "model")["model-index"]
    )
    assert parsed == evals


# --- provenance --------------------------------------------------------------------------------


@pytest.fixture
def reviewed(org_a: Organization, settings: Any) -> Version:
    """A checkpoint with lineage, checks (one passed, one failed), reviews and declared compute."""
    settings.PUBLIC_URL = "https://registry.example.org"
    version = make_version(
        org_a,
        Kind.CHECKPOINT,
        license="LicenseRef-Llama-3.1",
        compute={"gpu_hours": 1200.0, "hardware": "64 x H100 | NVLink"},
        readme="## Intended use\n\nResearch on arithmetic.\n",
    )
    on_llama(version)
    run = PipelineRun.objects.create(version=version)
    Step.objects.create(run=run, name="integrity", position=0, status="passed", summary="2 files, sha256 verified")
    Step.objects.create(run=run, name="safety", position=1, status="failed", summary="SAFETY-FAILED-SUMMARY")
    Step.objects.create(run=run, name="format", position=2, status="passed", summary="safetensors | header ok")
    manifest_now, digest = version_digests(version)
    for org_name, decision, manifest in [
        ("Org B", "approve", manifest_now),
        ("Org C", "request_changes", manifest_now),
        ("Org D", "approve", "ef" * 32),  # approved an earlier manifest: does not count
    ]:
        org = factories.OrganizationFactory(slug=org_name.lower().replace(" ", "-"), name=org_name, country="DE")
        Review.objects.create(
            version=version,
            reviewer=factories.UserFactory(username=f"reviewer-{org.slug}"),
            organization=org,
            decision=decision,
            manifest_sha256=manifest,
            metadata_sha256=digest,
        )
    return version


def test_provenance_says_who_made_it_and_what_was_checked(reviewed: Version) -> None:
    text = card_render(reviewed, endpoint=HUB)
    assert card_validate(text, "model") == []
    provenance = text.split("## Provenance", 1)[1]

    assert "**Produced by:** Org A (France)" in provenance
    url = f"https://registry.example.org/api/v1/versions/{reviewed.public_id}/"
    assert f"[`{reviewed.public_id}`]({url}) (v{reviewed.number})" in provenance
    assert f"manifest digest `sha256:{MANIFEST}`" in provenance
    assert f"({HUB}/{LLAMA}/tree/{REV})" in provenance
    assert "| integrity | 2 files, sha256 verified |" in provenance
    assert "| format | safetensors \\| header ok |" in provenance
    assert "| safety | failed; waived by a consortium steward |" in provenance
    assert "SAFETY-FAILED-SUMMARY" not in provenance
    assert "Approved by reviewers of: Org B." in provenance
    assert "Org C" not in provenance
    assert "Org D" not in provenance
    assert "reviewer-" not in text  # no person is named
    assert "- GPU hours: 1200" in provenance
    assert "- Hardware: 64 x H100 \\| NVLink" in provenance
    assert "FLOPs" not in provenance  # not declared, not shown
    assert "## Intended use\n\nResearch on arithmetic." in text


def test_readme_front_matter_cannot_override_the_card(org_a: Organization) -> None:
    readme = "---\nlicense: mit\nbase_model: evil/model\n---\n# Usage\n\nCall it.\n"
    version = make_version(org_a, Kind.CHECKPOINT, license="Apache-2.0", readme=readme)
    text = card_render(version, endpoint=HUB)

    data = read(text, "model")
    assert data["license"] == "apache-2.0"
    assert "base_model" not in data
    assert "license: mit" not in text
    assert "# Usage\n\nCall it." in text
    assert readme_strip_front_matter(readme) == "# Usage\n\nCall it.\n"


def test_user_text_is_escaped_in_links_and_cells(org_a: Organization) -> None:
    org_a.name = "Lab](https://evil.example) | x\n---\nlicense: mit"
    org_a.save()
    version = make_version(org_a, Kind.CHECKPOINT, compute={"notes": "line one\n---\nlicense: mit"})
    text = card_render(version, endpoint=HUB)

    assert read(text, "model")["license"] == "apache-2.0"
    assert "Lab\\]\\(https://evil.example\\) \\| x --- license: mit" in text
    assert "\n---\nlicense: mit" not in text


# --- validation can fail -----------------------------------------------------------------------

GOOD = "---\nlicense: apache-2.0\ntags:\n- consortium-registry\n---\n# ok\n"


@pytest.mark.parametrize(
    ("text", "repo_type", "error"),
    [
        (
            "---\nlicense: mit\nmodel-index:\n- name: m\n  results:\n  - task: {type: text-generation}\n"
            "    dataset: {name: D, type: d}\n---\n# x\n",
            "model",
            "model-index",
        ),
        ("---\nlicense: apache2\n---\n# x\n", "model", "apache2"),
        ("---\nlicense: mit\ntags: [a, b\n---\n# x\n", "model", "does not parse"),
        ("---\nlicense: other\n---\n# x\n", "model", "license_name"),
        ("---\nlicense: other\nlicense_name: Apache 2.0 + MIT\n---\n# x\n", "model", "license_name"),
        ("---\nlicense: mit\nbase_model: a/b/c\n---\n# x\n", "model", "base_model"),
        ("---\nlicense: mit\nbase_model: a/b\nbase_model_relation: cousin\n---\n# x\n", "model", "cousin"),
        ("---\nlicense: mit\ndatasets: [foo--bar/x]\n---\n# x\n", "dataset", "datasets"),
        ("---\ntags: [x]\n---\n# x\n", "model", "no license"),
        ("---\nlicense: unknown\n---\n# x\n", "dataset", "unknown"),
        ("# no front matter\n", "model", "front matter"),
        ("---\n- a list\n---\n# x\n", "model", "mapping"),
        (GOOD, "space", "repo type"),
    ],
)
def test_card_validate_refuses_bad_cards(text: str, repo_type: str, error: str) -> None:
    assert card_validate(GOOD, "model") == []
    errors = card_validate(text, repo_type)
    assert errors
    assert any(error in message for message in errors), errors


def test_a_waived_check_is_said_as_such_and_the_unreviewed_description_stays_out(org_a: Organization) -> None:
    version = make_version(org_a, Kind.CHECKPOINT)
    version.artifact.description = "edited after the review"
    version.artifact.save(update_fields=["description"])
    run = PipelineRun.objects.create(version=version, status=PipelineRun.Status.FAILED)
    Step.objects.create(run=run, name="integrity", status=Step.Status.PASSED, summary="2 files match", position=0)
    Step.objects.create(run=run, name="safety", status=Step.Status.FAILED, summary="unknown global", position=1)

    text = body(card_render(version, endpoint=HUB))

    assert "| integrity | 2 files match |" in text
    assert "| safety | failed; waived by a consortium steward |" in text
    assert "unknown global" not in text
    assert "edited after the review" not in text
