"""Prior-art search core: recipe schema additions, normalization, similarity and the labelled pairs."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from jobs.prior_art.evaluation import evaluate, load_pairs
from jobs.prior_art.normalize import Experiment, InvalidRecipe, experiment_from, optimizer_name, parse
from jobs.prior_art.similarity import NEAR_DUPLICATE, compare, count, number, summary
from tests.corpus.recipes import COMMIT, EXAMPLES, pretraining_recipe

Edit = Callable[[dict[str, Any]], None]


def example(name: str) -> dict[str, Any]:
    return yaml.safe_load((EXAMPLES / name).read_text())


def pretraining() -> dict[str, Any]:
    return example("pretraining-dense-1b.yaml")


def posttraining() -> dict[str, Any]:
    return example("posttraining-grpo-diverged.yaml")


def edited(base: dict[str, Any], edit: Edit) -> dict[str, Any]:
    recipe = copy.deepcopy(base)
    edit(recipe)
    return recipe


def problems_of(raw: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(InvalidRecipe) as caught:
        parse(raw)
    return caught.value.problems


# --- schema additions ---------------------------------------------------------------------------


@pytest.mark.parametrize("lr", ["3e-4", "0.0003", 3e-4, "3E-4"])
def test_lr_accepts_numbers_and_numeric_strings(lr: object) -> None:
    recipe = pretraining_recipe()
    recipe["optimizer"]["lr"] = lr
    assert parse(recipe).optimizer.lr == 0.0003


def test_lr_that_is_not_a_number_is_refused_at_its_field() -> None:
    recipe = edited(pretraining_recipe(), lambda r: r["optimizer"].update(lr="fast"))
    assert [f for f, _ in problems_of(recipe)] == ["optimizer.lr"]


def test_mixture_weights_may_be_percentages() -> None:
    recipe = pretraining_recipe()
    recipe["data_mixture"][0]["weight"], recipe["data_mixture"][1]["weight"] = "75%", "25 %"
    assert parse(recipe).weights == [0.75, 0.25]


def test_percentages_not_summing_to_100_are_refused() -> None:
    recipe = pretraining_recipe()
    recipe["data_mixture"][0]["weight"], recipe["data_mixture"][1]["weight"] = "75%", "35%"
    [(field, message)] = problems_of(recipe)
    assert field == "data_mixture"
    assert "sum to 1.1" in message


def test_bad_percentage_is_refused_at_its_item() -> None:
    recipe = edited(pretraining_recipe(), lambda r: r["data_mixture"][1].update(weight="a lot%"))
    [(field, message)] = problems_of(recipe)
    assert field == "data_mixture[1].weight"
    assert "percentage" in message


def test_token_budgets_for_every_item_give_the_weights() -> None:
    recipe = pretraining_recipe()
    for item, tokens in zip(recipe["data_mixture"], ["3T", "1T"], strict=True):
        del item["weight"]
        item["tokens"] = tokens
    parsed = parse(recipe)
    assert parsed.weights == [0.75, 0.25]
    assert parsed.data_mixture[0].tokens == 3 * 10**12


def test_mixture_without_weights_needs_tokens_on_every_item() -> None:
    recipe = pretraining_recipe()
    for item in recipe["data_mixture"]:
        del item["weight"]
    recipe["data_mixture"][0]["tokens"] = "2T"
    [(field, message)] = problems_of(recipe)
    assert field == "data_mixture[1].tokens"
    assert "every item a weight, or every item a tokens budget" in message


def test_mixture_with_some_weights_needs_them_all() -> None:
    recipe = pretraining_recipe()
    del recipe["data_mixture"][1]["weight"]
    recipe["data_mixture"][1]["tokens"] = "1T"
    assert [f for f, _ in problems_of(recipe)] == ["data_mixture[1].weight"]


def test_warmup_may_be_given_in_tokens() -> None:
    recipe = pretraining_recipe()
    del recipe["schedule"]["warmup_steps"]
    recipe["schedule"]["warmup_tokens"] = "655360"
    assert parse(recipe).schedule.warmup_tokens == 655360


@pytest.mark.parametrize(
    ("schedule", "field", "words"),
    [
        ({"name": "cosine"}, "schedule.warmup_steps", "warmup_steps or warmup_tokens"),
        ({"name": "cosine", "warmup_steps": 10, "warmup_tokens": "1M"}, "schedule.warmup_tokens", "not both"),
        ({"name": "cosine", "warmup_tokens": 0}, "schedule.warmup_tokens", "greater than 0"),
    ],
)
def test_warmup_is_given_exactly_once(schedule: dict[str, Any], field: str, words: str) -> None:
    recipe = edited(pretraining_recipe(), lambda r: r.update(schedule=schedule))
    [(found, message)] = problems_of(recipe)
    assert found == field
    assert words in message


def test_warmup_tokens_longer_than_the_run_are_refused() -> None:
    # 65536 tokens per step: 7M warmup tokens are 107 steps, more than total_steps (100).
    recipe = edited(pretraining_recipe(), lambda r: r.update(schedule={"name": "cosine", "warmup_tokens": "7M"}))
    recipe["schedule"]["total_steps"] = 100
    [(field, message)] = problems_of(recipe)
    assert field == "schedule.total_steps"
    assert "(107)" in message


@pytest.mark.parametrize(("written", "stored"), [("AdamW", "adamw"), ("adam_w", "adam_w"), (" Lion ", "lion")])
def test_optimizer_names_the_schema_would_refuse_are_lowercased(written: str, stored: str) -> None:
    recipe = edited(pretraining_recipe(), lambda r: r["optimizer"].update(name=written))
    assert parse(recipe).optimizer.name == stored


@pytest.mark.parametrize(
    ("written", "stored"),
    [("cosine_decay", "cosine"), ("Cosine-Decay", "cosine"), ("warmup_stable_decay", "wsd"), ("linear", "linear")],
)
def test_schedule_aliases_are_accepted_and_mapped(written: str, stored: str) -> None:
    recipe = edited(pretraining_recipe(), lambda r: r["schedule"].update(name=written))
    assert parse(recipe).schedule.name == stored


def test_unknown_schedule_is_still_refused() -> None:
    recipe = edited(pretraining_recipe(), lambda r: r["schedule"].update(name="zigzag"))
    assert [f for f, _ in problems_of(recipe)] == ["schedule.name"]


def test_reuses_names_other_runs_as_sources() -> None:
    hub = {"hub": "other-lab/recipes", "revision": COMMIT}
    recipe = edited(pretraining_recipe(), lambda r: r.update(reuses=["org-b/dense-1b@3.0.0", hub]))
    parsed = parse(recipe)
    assert parsed.reuses[0] == "org-b/dense-1b@3.0.0"
    assert [str(ref) for ref in parsed.hub_refs][-1] == f"hub:other-lab/recipes@{COMMIT}"


def test_bad_and_repeated_reuses_are_refused_at_their_field() -> None:
    recipe = edited(pretraining_recipe(), lambda r: r.update(reuses=["org-b/dense-1b", "a/b@1.0.0", "a/b@1.0.0"]))
    assert [f for f, _ in problems_of(recipe)] == ["reuses[0]"]
    recipe["reuses"] = ["a/b@1.0.0", "a/b@1.0.0"]
    [(field, message)] = problems_of(recipe)
    assert (field, message) == ("reuses", "listed more than once: a/b@1.0.0")


# --- normalization ------------------------------------------------------------------------------


def test_pretraining_example_normalizes_to_comparable_features() -> None:
    found = experiment_from(pretraining())
    assert found.mixture == (
        ("hub:bigcode/starcoderdata", 0.2),
        ("hub:huggingfacefw/fineweb-edu", 0.7),
        ("hub:open-web-math/open-web-math", 0.1),
    )
    assert (found.parameters, found.total_tokens, found.batch_tokens) == (1_200_000_000, 10**11, 1024 * 4096)
    assert (found.optimizer, found.lr, found.schedule, found.warmup_steps) == ("adamw", 4e-4, "wsd", 2000)
    assert found.rl_algorithm is None


def test_rl_example_keeps_its_rl_setup_and_drops_versions_from_keys() -> None:
    found = experiment_from(posttraining())
    assert (found.method, found.rl_algorithm, found.kl_coef, found.rollouts_per_prompt) == ("rl", "grpo", 0.0, 8)
    assert found.base_model == "hub:qwen/qwen2.5-1.5b-instruct"
    assert found.environments == ("hub:open-lab/gsm8k-verifier-env",)
    assert found.total_tokens is None  # no total_steps to derive it from


@pytest.mark.parametrize(
    "name", ["AdamW", "adamw", "adam_w", "adamw_torch", "adamw-torch-fused", "fused_adamw", "ADAMW_HF"]
)
def test_adamw_spellings_are_one_optimizer(name: str) -> None:
    assert optimizer_name(name) == "adamw"


def test_adam_is_not_adamw() -> None:
    assert optimizer_name("Adam") == "adam"


def test_warmup_tokens_become_steps_rounded_up() -> None:
    recipe = pretraining_recipe()
    recipe["schedule"] = {"name": "cosine", "warmup_tokens": 655361, "total_steps": 100}  # 10 steps + 1 token
    assert experiment_from(recipe).warmup_steps == 11


def test_registry_versions_of_one_dataset_are_one_key() -> None:
    first = edited(pretraining_recipe(), lambda r: r["data_mixture"][0].update(dataset="org-b/web@1.0.0"))
    second = edited(pretraining_recipe(), lambda r: r["data_mixture"][0].update(dataset="org-b/web@2.1.0"))
    assert experiment_from(first) == experiment_from(second)
    assert experiment_from(first).fractions["org-b/web"] == 0.75


def test_invalid_recipe_lists_stage_and_field_problems_together() -> None:
    recipe = edited(pretraining_recipe(), lambda r: r.pop("total_tokens") and r["optimizer"].update(lr=-1))
    assert {f for f, _ in problems_of(recipe)} == {"total_tokens", "optimizer.lr"}


# --- scoring ------------------------------------------------------------------------------------


def both(base: Callable[[], dict[str, Any]], edit: Edit) -> tuple[Experiment, Experiment]:
    return experiment_from(base()), experiment_from(edited(base(), edit))


def test_exact_duplicate_scores_1_with_no_differences() -> None:
    mine, theirs = both(pretraining, lambda r: None)
    result = compare(mine, theirs)
    assert (result.score, result.differences, result.summary) == (1.0, [], "same setup")
    assert result.groups == {"architecture": 1.0, "data": 1.0, "optimization": 1.0, "batch": 1.0}


@pytest.mark.parametrize("lr", ["4e-4", 0.0004, "0.0004"])
def test_lr_unit_variants_are_identical(lr: object) -> None:
    mine, theirs = both(pretraining, lambda r: r["optimizer"].update(lr=lr))
    assert compare(mine, theirs).score == 1.0


def test_reordered_mixture_is_identical() -> None:
    mine, theirs = both(pretraining, lambda r: r["data_mixture"].reverse())
    assert mine == theirs
    assert compare(mine, theirs).score == 1.0


def test_changed_lr_is_the_one_difference_and_below_the_threshold() -> None:
    mine, theirs = both(pretraining, lambda r: r["optimizer"].update(lr="1.2e-3"))
    result = compare(mine, theirs)
    assert [(d.field, d.mine, d.theirs, d.text) for d in result.differences] == [
        ("lr", 4e-4, 1.2e-3, "lr 4e-4 vs 1.2e-3")
    ]
    assert result.groups["optimization"] < 1 == result.groups["architecture"] == result.groups["data"]
    assert 0.5 < result.score < NEAR_DUPLICATE


def test_small_lr_change_stays_a_near_duplicate_but_is_listed() -> None:
    mine, theirs = both(pretraining, lambda r: r["optimizer"].update(lr="4.2e-4"))
    result = compare(mine, theirs)
    assert result.near_duplicate
    assert result.summary == "lr 4e-4 vs 4.2e-4"


def test_bigger_lr_change_scores_lower() -> None:
    base = experiment_from(pretraining())
    scores = [compare(base, experiment_from(edited(pretraining(), lr_of(lr)))).score for lr in (5e-4, 8e-4)]
    assert 1 > scores[0] > scores[1]


def lr_of(lr: float) -> Edit:
    return lambda r: r["optimizer"].update(lr=lr)


def test_different_architecture_is_not_a_near_duplicate() -> None:
    seven_b = {"layers": 32, "hidden_size": 4096, "heads": 32, "parameters": "7B"}
    mine, theirs = both(pretraining, lambda r: r["architecture"].update(seven_b))
    result = compare(mine, theirs)
    assert result.score < NEAR_DUPLICATE
    assert result.differences[0].text == "params 1.2B vs 7B"
    assert result.groups["architecture"] < 0.2


def test_mixture_overlap_is_one_minus_total_variation_rescaled() -> None:
    def shift(r: dict[str, Any]) -> None:
        r["data_mixture"][0]["weight"], r["data_mixture"][1]["weight"] = 0.5, 0.4

    result = compare(*both(pretraining, shift))
    # total variation 0.2: overlap 0.8, rescaled from [0.5, 1] to [0, 1]
    assert result.groups["data"] == pytest.approx(0.6)
    assert result.summary == "starcoderdata 20% vs 40%, fineweb-edu 70% vs 50%"  # equal costs: by field


def test_rl_group_applies_only_when_either_run_has_rl() -> None:
    rl, sft = both(posttraining, lambda r: r.pop("rl") and r.update(method="sft"))
    assert "rl" in compare(rl, sft).groups
    assert "rl" not in compare(*both(pretraining, lambda r: None)).groups
    result = compare(rl, sft)
    assert result.differences[0].text == "method rl vs sft"
    assert result.score < 0.7


def test_different_stage_halves_the_score_and_is_named_first() -> None:
    result = compare(experiment_from(pretraining()), experiment_from(posttraining()))
    assert result.differences[0].text == "stage pretraining vs posttraining"
    assert result.score < 0.5


def test_kl_penalty_and_lr_are_explained() -> None:
    mine, theirs = both(posttraining, lambda r: r["optimizer"].update(lr="1e-6") or r["rl"].update(kl_coef=0.001))
    result = compare(mine, theirs)
    assert result.summary == "lr 3e-6 vs 1e-6, kl 0 vs 1e-3"
    assert not result.near_duplicate


def test_scores_are_symmetric_and_deterministic() -> None:
    mine, theirs = both(pretraining, lambda r: r["optimizer"].update(lr="1e-4") or r["data_mixture"].reverse())
    first = compare(mine, theirs)
    assert all(compare(mine, theirs) == first for _ in range(3))
    assert compare(theirs, mine).score == first.score


def test_summary_names_the_costliest_differences_then_counts_the_rest() -> None:
    def many(r: dict[str, Any]) -> None:
        r["optimizer"].update(lr="1e-4", weight_decay=0.01)
        r["schedule"].update(warmup_steps=500)
        r["precision"] = "fp8"

    differences = compare(*both(pretraining, many)).differences
    assert summary(differences, limit=2) == "lr 4e-4 vs 1e-4, warmup 2000 vs 500 steps, and 2 more"
    assert summary(differences[:1]) == "lr 4e-4 vs 1e-4"


@pytest.mark.parametrize(
    ("value", "text"), [(3e-4, "3e-4"), (2.5e-5, "2.5e-5"), (1.2e-3, "1.2e-3"), (0.95, "0.95"), (0.0, "0"), (1.0, "1")]
)
def test_numbers_are_written_as_in_papers(value: float, text: str) -> None:
    assert number(value) == text


@pytest.mark.parametrize(
    ("value", "text"), [(100 * 10**9, "100B"), (4194304, "4.19M"), (2 * 10**12, "2T"), (512, "512")]
)
def test_counts_use_suffixes(value: int, text: str) -> None:
    assert count(value) == text


# --- labelled pairs -----------------------------------------------------------------------------


def test_labelled_pairs_cover_both_labels_and_every_issue_case() -> None:
    pairs = load_pairs()
    ids = {p.id for p in pairs}
    assert len(pairs) >= 30
    assert {p.near_duplicate for p in pairs} == {True, False}
    assert {"pre-exact-copy", "pre-lr-times-3", "pre-7b-dense", "pre-lr-as-decimal", "pre-mixture-reordered"} <= ids


def test_threshold_separates_the_labelled_pairs() -> None:
    result = evaluate(load_pairs())
    assert result.mistakes == []
    assert result.precision >= 0.9
    assert result.recall >= 0.9


def test_evaluation_reports_mistakes_at_another_threshold() -> None:
    result = evaluate(load_pairs(), threshold=0.85)
    assert result.recall == 1.0
    assert result.precision < 1.0
    assert {pair_id for pair_id, _, label in result.mistakes if not label} >= {"pre-mixture-20-points"}
