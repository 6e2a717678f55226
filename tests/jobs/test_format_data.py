"""The format check for datasets, eval suites, recipes and RL environments, on files stored in S3."""

from __future__ import annotations

import copy
import gzip
import json

import pytest
import yaml

from jobs.checks.base import CheckContext
from registry.models import Sharing, Version
from tests import factories
from tests.corpus import Case, datasets, recipes
from tests.jobs.conftest import StoredVersion, run_check

pytestmark = pytest.mark.django_db

CASES = datasets.CASES + recipes.CASES


def assert_passes(ctx: CheckContext) -> None:
    assert [str(r) for r in ctx.reasons] == []
    json.dumps(ctx.details)  # evidence is JSON
    assert 0 < len(ctx.summary) < 300


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_fails_naming_file_and_problem(stored_version: StoredVersion, case: Case) -> None:
    ctx = run_check("format", stored_version(case.kind, case.files, metadata=case.metadata))

    matching = [r for r in ctx.reasons if r.path == case.path and all(w.lower() in str(r).lower() for w in case.words)]
    assert matching, [str(r) for r in ctx.reasons]
    json.dumps(ctx.details)
    assert len(ctx.summary) < 300


def test_clean_dataset_records_schema_rows_and_splits(stored_version: StoredVersion) -> None:
    files, metadata = datasets.clean_dataset()
    ctx = run_check("format", stored_version("dataset", files, metadata=metadata))

    assert_passes(ctx)
    by_path = {f["path"]: f for f in ctx.details["files"]}
    assert by_path["data/train-00000-of-00001.parquet"] == {
        "path": "data/train-00000-of-00001.parquet",
        "format": "parquet",
        "rows": 3,
        "columns": {"text": "string", "score": "double"},
        "ok": True,
    }
    assert by_path["data/validation.jsonl"]["columns"] == {"text": "string", "score": "integer|null"}
    assert by_path["data/test.csv"]["columns"] == {"text": "string", "score": "integer|number"}
    assert {name: s["rows"] for name, s in ctx.details["splits"].items()} == {"train": 3, "validation": 2, "test": 2}
    assert ctx.details["rows"] == 7


def test_split_names_match_files_by_hub_convention(stored_version: StoredVersion) -> None:
    files = {
        "data/train-00000-of-00002.jsonl": datasets.jsonl([{"a": 1}]),
        "data/train-00001-of-00002.jsonl": datasets.jsonl([{"a": 2}, {"a": 3}]),
        "test/part-0.csv": b"a\n4\n",
        "pretrain_notes.csv": b"a\n5\n",
    }
    ctx = run_check("format", stored_version("dataset", files, metadata={"splits": ["train", "test", "validation"]}))

    assert [str(r) for r in ctx.reasons] == ["split 'validation' is declared but no data file is named for it"]
    assert ctx.details["splits"]["train"]["rows"] == 3
    assert ctx.details["splits"]["test"]["files"] == ["test/part-0.csv"]


def test_gzipped_jsonl_is_read_and_every_bad_line_reported(stored_version: StoredVersion) -> None:
    lines = datasets.jsonl([{"a": 1}, {"b": 2}, {"a": 3}]) + b"not json\n"
    ctx = run_check("format", stored_version("dataset", {"x.jsonl.gz": gzip.compress(lines)}))

    assert [(r.path, r.code) for r in ctx.reasons] == [("x.jsonl.gz", "ragged_row"), ("x.jsonl.gz", "invalid_json")]
    assert "line 2" in ctx.reasons[0].message
    assert "line 4" in ctx.reasons[1].message


def test_parquet_is_recognised_by_content_not_name(stored_version: StoredVersion) -> None:
    files = {"shard-0": datasets.parquet({"x": [1, 2]}), "LICENSE": b"Apache-2.0\n"}
    ctx = run_check("format", stored_version("dataset", files))

    assert_passes(ctx)
    assert ctx.details["files"] == [
        {"path": "shard-0", "format": "parquet", "rows": 2, "columns": {"x": "int64"}, "ok": True}
    ]


def test_clean_eval_suite_records_tasks_metrics_and_data(stored_version: StoredVersion) -> None:
    ctx = run_check("format", stored_version("eval_suite", datasets.clean_eval_suite()))

    assert_passes(ctx)
    tasks = {t["task"]: t for t in ctx.details["tasks"]}
    assert tasks["tiny_arith_mc"]["metrics"] == ["acc"]
    assert tasks["tiny_arith_mc"]["splits"] == {"test": 12}
    assert tasks["tiny_arith_gen"]["output_type"] == "generate_until"
    assert tasks["tiny_arith_gen"]["data_files"] == ["data/gen.parquet"]  # from the included template
    assert ctx.details["groups"] == [
        {"group": "tiny_arith", "file": "tasks/group.yaml", "tasks": ["tiny_arith_mc", "tiny_arith_gen"]}
    ]
    assert ctx.details["rows"] == 14


def test_the_demo_eval_suite_passes_its_own_check(stored_version: StoredVersion) -> None:
    """examples/demo/eval-suite, which the eval step's tests and the demo run, is a valid suite."""
    from registry.demo.files import EXAMPLES

    root = EXAMPLES / "eval-suite"
    pushed = [p for p in sorted(root.rglob("*")) if p.is_file() and p.name != "consortium.yaml"]  # as the CLI pushes
    files = {str(p.relative_to(root)): p.read_bytes() for p in pushed}
    ctx = run_check("format", stored_version("eval_suite", files))

    assert_passes(ctx)
    tasks = {t["task"]: t for t in ctx.details["tasks"]}
    assert tasks["pico_weather_cloze"]["splits"] == {"test": 16}
    assert tasks["pico_weather_perplexity"]["metrics"] == ["word_perplexity", "bits_per_byte"]


def test_eval_function_tag_is_parsed_never_imported(stored_version: StoredVersion) -> None:
    files = datasets.clean_eval_suite()
    files["tasks/utils.py"] = b"raise SystemExit('imported!')\n"  # defines no process_docs
    ctx = run_check("format", stored_version("eval_suite", files))

    assert [str(r) for r in ctx.reasons] == [
        "tasks/gen.yaml: process_docs (!function utils.process_docs): tasks/utils.py defines no 'process_docs'"
    ]


def test_eval_suite_with_declared_pinned_hub_dataset_passes(stored_version: StoredVersion) -> None:
    task = datasets.MC_TASK.replace("dataset_path: json", "dataset_path: cais/mmlu").replace(
        "  data_files:\n    test: data/mc.jsonl", f"  revision: {recipes.COMMIT}"
    )
    version = stored_version("eval_suite", {"mmlu.yaml": task.encode()}, metadata={"hub_datasets": ["cais/mmlu"]})
    ctx = run_check("format", version)

    assert_passes(ctx)
    assert ctx.details["tasks"][0]["hub_dataset"] == "cais/mmlu"


@pytest.mark.parametrize("name", sorted(recipes.example_recipes()))
def test_example_recipes_validate(stored_version: StoredVersion, name: str) -> None:
    kind, data = recipes.example_recipes()[name]
    ctx = run_check("format", stored_version(kind, {"recipe.yaml": data}))

    assert_passes(ctx)
    assert ctx.details["outcome"] in ("succeeded", "diverged")


def test_succeeded_recipe_records_its_evidence(stored_version: StoredVersion) -> None:
    ctx = run_check("format", stored_version("pretraining_recipe", recipes.recipe_files(recipes.pretraining_recipe())))

    assert_passes(ctx)
    assert ctx.details["stage"] == "pretraining"
    assert ctx.details["parameters"] == 117_000  # "117K", normalised
    assert ctx.details["total_tokens"] == 6_500_000
    assert ctx.details["mixture"][0] == {"dataset": f"hub:allenai/c4@{recipes.COMMIT}", "weight": 0.75}


def test_abandoned_rl_run_with_notes_is_a_valid_recipe(stored_version: StoredVersion) -> None:
    ctx = run_check("format", stored_version("posttraining_recipe", recipes.recipe_files(recipes.rl_recipe())))

    assert_passes(ctx)
    assert (ctx.details["method"], ctx.details["outcome"]) == ("rl", "abandoned")


def test_every_recipe_problem_is_reported_at_once(stored_version: StoredVersion) -> None:
    recipe = recipes.pretraining_recipe()
    recipe["optimizer"]["lr"] = 0
    recipe["code"]["commit"] = "HEAD"
    recipe["architecture"]["kv_heads"] = 3
    del recipe["total_tokens"]
    ctx = run_check("format", stored_version("pretraining_recipe", recipes.recipe_files(recipe)))

    assert sorted(r.message.split(":")[0] for r in ctx.reasons) == [
        "architecture.kv_heads",
        "code.commit",
        "optimizer.lr",
        "total_tokens",
    ]


def _mixture_from(ref: str) -> dict[str, bytes]:
    recipe = copy.deepcopy(recipes.pretraining_recipe())
    recipe["data_mixture"][0]["dataset"] = ref
    return recipes.recipe_files(recipe)


def test_registry_ref_to_own_orgs_dataset_resolves(stored_version: StoredVersion) -> None:
    dataset = stored_version("dataset", {"a.jsonl": b'{"a": 1}\n'}, state=Version.State.IN_REVIEW)
    ref = f"{dataset.artifact.organization.slug}/{dataset.artifact.slug}@{dataset.number}"
    recipe = stored_version("pretraining_recipe", _mixture_from(ref), organization=dataset.artifact.organization)
    ctx = run_check("format", recipe)

    assert_passes(ctx)
    assert ctx.details["registry_refs"] == [
        {"field": "data_mixture[0].dataset", "ref": ref, "kind": "dataset", "state": "in_review"}
    ]


@pytest.mark.parametrize(
    ("sharing", "state", "resolves"),
    [
        (Sharing.ORG, Version.State.IN_REVIEW, False),  # another org's private work: as if absent
        (Sharing.CONSORTIUM, Version.State.SUBMITTED, True),
        (Sharing.ORG, Version.State.PUBLISHED, True),
        (Sharing.CONSORTIUM, Version.State.DRAFT, False),
    ],
)
def test_registry_ref_to_other_orgs_dataset_resolves_only_when_visible(
    stored_version: StoredVersion, sharing: str, state: str, resolves: bool
) -> None:
    other = factories.ArtifactFactory(kind="dataset", sharing=sharing)
    dataset = factories.VersionFactory(artifact=other, state=state)
    ctx = run_check("format", stored_version("pretraining_recipe", _mixture_from(f"{other}@{dataset.number}")))

    assert ctx.passed is resolves
    if not resolves:
        assert [r.code for r in ctx.reasons] == ["unresolved_ref"]
        assert "no such dataset version" in ctx.reasons[0].message


def test_registry_ref_of_the_wrong_kind_fails(stored_version: StoredVersion) -> None:
    checkpoint = stored_version("checkpoint", {"x.bin": b"x"})
    ref = f"{checkpoint.artifact}@{checkpoint.number}"
    ctx = run_check(
        "format",
        stored_version("pretraining_recipe", _mixture_from(ref), organization=checkpoint.artifact.organization),
    )

    assert [str(r) for r in ctx.reasons] == [
        f"recipe.yaml: data_mixture[0].dataset: '{ref}' is a checkpoint, expected a dataset"
    ]


def test_clean_rl_environment_passes_statically(stored_version: StoredVersion) -> None:
    ctx = run_check("format", stored_version("rl_environment", recipes.clean_environment()))

    assert_passes(ctx)
    assert ctx.details["entry_module"] == "countdown_env/env.py"
    assert ctx.details["reward"]["module"] == "countdown_env/reward.py"
    assert ctx.details["episodes"] == 2
    assert ctx.details["dependencies"] == ["gymnasium==1.0.0", "numpy==2.1.3"]


def test_rl_environment_reward_outside_declared_range_fails(stored_version: StoredVersion) -> None:
    files = recipes.clean_environment()
    files["examples/episodes.jsonl"] = b'{"observation": "o", "action": "a", "reward": 3}\n'
    ctx = run_check("format", stored_version("rl_environment", files))

    assert [str(r) for r in ctx.reasons] == [
        "examples/episodes.jsonl: line 1: reward 3 is outside reward.range [0.0, 1.0]"
    ]


def test_yaml_alias_bomb_is_refused(stored_version: StoredVersion) -> None:
    levels = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"{c}: &{c} [{', '.join([f'*{p}'] * 10)}]" for p, c in zip("abcdefgh", "bcdefghi", strict=True)]
    ctx = run_check("format", stored_version("pretraining_recipe", {"recipe.yaml": "\n".join(levels).encode()}))

    assert [r.code for r in ctx.reasons] == ["document_too_large"]


def test_yaml_python_tags_are_refused(stored_version: StoredVersion) -> None:
    bad = yaml.safe_dump(recipes.pretraining_recipe()) + "x: !!python/object/apply:os.system ['true']\n"
    ctx = run_check("format", stored_version("pretraining_recipe", {"recipe.yaml": bad.encode()}))

    assert [r.code for r in ctx.reasons] == ["invalid_yaml"]


ODD_TYPES = [
    (
        "eval_suite",
        {
            "t.yaml": b"task: [1, 2]\noutput_type: [x]\ndataset_path: {a: 1}\ndataset_kwargs: [1]\n"
            b"test_split: [a]\nmetric_list: {metric: acc}\ndoc_to_text: {x: 1}\n",
            "g.yaml": b"group: g\ntask: [t, {task: inline, dataset_path: json}, 3]\n",
        },
        {},
    ),
    (
        "posttraining_recipe",
        {"recipe.yaml": b"schema: consortium.recipe/v1\nstage: [1]\nmethod: {}\nrl: 5\ndata_mixture: {a: 1}\n"},
        {},
    ),
    (
        "rl_environment",
        {"environment.yaml": b"schema: consortium.rl_environment/v1\ndependencies: x==1\nreward: []\nexamples: 7\n"},
        {},
    ),
    ("dataset", {"a.jsonl": b'{"a": 1}\n'}, {"splits": {"train": 5, "te st": "a.jsonl"}}),
    ("dataset", {"a.jsonl": b'{"a": 1}\n'}, {"splits": 5}),
]


@pytest.mark.parametrize(("kind", "files", "metadata"), ODD_TYPES)
def test_values_of_unexpected_types_are_reasons_not_crashes(
    stored_version: StoredVersion, kind: str, files: dict[str, bytes], metadata: dict[str, object]
) -> None:
    ctx = run_check("format", stored_version(kind, files, metadata=metadata))

    assert ctx.reasons
    json.dumps(ctx.details)


def test_a_reused_run_resolves_to_a_recipe_of_either_stage_and_nothing_else(stored_version: StoredVersion) -> None:
    other = factories.ArtifactFactory(kind="posttraining_recipe", sharing=Sharing.CONSORTIUM)
    reused = factories.VersionFactory(artifact=other, state=Version.State.APPROVED)
    dataset = factories.VersionFactory(
        artifact=factories.ArtifactFactory(kind="dataset", sharing=Sharing.CONSORTIUM), state=Version.State.APPROVED
    )
    recipe = copy.deepcopy(recipes.pretraining_recipe())
    recipe["reuses"] = [f"{other}@{reused.number}", f"{dataset.artifact}@{dataset.number}", "nobody/nothing@1.0.0"]
    ctx = run_check("format", stored_version("pretraining_recipe", recipes.recipe_files(recipe)))

    assert [r.message.split(": ")[0] for r in ctx.reasons] == ["reuses[1]", "reuses[2]"]
    assert "is a dataset, expected a recipe" in ctx.reasons[0].message
    assert {
        "field": "reuses[0]",
        "ref": f"{other}@{reused.number}",
        "kind": "recipe",
        "state": "approved",
    } in ctx.details["registry_refs"]
