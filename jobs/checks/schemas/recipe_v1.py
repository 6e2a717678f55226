"""Recipe schema v1 (`schema: consortium.recipe/v1`): how a training run was set up and how it ended.

One format for both stages. A pretraining recipe describes the architecture, data mixture and token
budget; a post-training recipe names its base model and a `method` (sft, dpo or rl), and an `rl`
section for RL (optional for DPO, where it holds the preference algorithm and its KL coefficient).
Failed runs are first-class: `outcome.status` may be diverged, abandoned, … and such a recipe is a
valid release — it is what stops another member from paying for the same failure.

Counts (`parameters`, `total_tokens`, `tokens`, `global_batch_tokens`, `warmup_tokens`) accept an
integer or a human string ('7B', '1.5T'; K/M/B/T are decimal) and are normalised to integers. Mixture
weights are fractions or percentages ('20%'); a mixture may instead give every item a token budget,
and the weights are then derived (tokens / sum). Spellings the schema would otherwise refuse are
mapped to its names ('AdamW' → 'adamw', 'cosine_decay' → 'cosine'); other aliases are the prior-art
search's business (jobs.prior_art.normalize). `reuses` names other members' recipe versions this run
builds on instead of re-running them.
Stage-dependent presence rules are checked on the raw mapping (`stage_problems`), so they are
reported together with every field error instead of after them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveInt,
    field_validator,
)
from pydantic_core import PydanticCustomError

from jobs.checks.schemas.common import Commit, Count, HubRef, Identifier, Section, Source, Text

SCHEMA = "consortium.recipe/v1"
SUPPORTED = (SCHEMA,)
STAGES = ("pretraining", "posttraining")
RLAlgorithm = Literal["ppo", "grpo", "rloo", "reinforce", "reinforce_pp", "remax", "dapo", "vapo"]
PreferenceAlgorithm = Literal["dpo", "ipo", "kto", "orpo", "simpo"]
RL_ALGORITHMS: tuple[str, ...] = get_args(RLAlgorithm)
PREFERENCE_ALGORITHMS: tuple[str, ...] = get_args(PreferenceAlgorithm)
GROUP_ALGORITHMS = ("grpo", "rloo", "dapo")  # baselines computed within a group of rollouts
WEIGHT_TOLERANCE = 1e-6
WEIGHT_OR_TOKENS = "required: give every item a weight, or every item a tokens budget (weights are then derived)"
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
Status = Literal["succeeded", "diverged", "loss_spikes", "reward_hacking", "eval_regression", "abandoned"]


def _https(value: str) -> str:
    if not value.startswith("https://") or any(c.isspace() for c in value):
        raise ValueError(f"'{value[:200]}' is not an https:// repository URL")
    if "@" in value.removeprefix("https://").split("/", 1)[0]:
        raise ValueError("the URL carries credentials; remove them (never publish a token)")
    return value


def _digest(value: str) -> str:
    if not DIGEST.fullmatch(value):
        raise ValueError(f"'{value[:100]}' is not an image digest like sha256:<64 lowercase hex>")
    return value


def _image(value: str) -> str:
    if not value or any(c.isspace() for c in value) or "@" in value:
        raise ValueError("an image name like ghcr.io/org/trainer:2024.06, without '@digest' (that goes in digest)")
    return value


def _share(value: Any) -> Any:
    """0.2 or '20%': a share of the mixture as a fraction."""
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            return float(value.strip()[:-1]) / 100
        except ValueError:
            raise ValueError(f"'{value[:50]}' is not a percentage like '20%'") from None
    return value


def _lowercase(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _schedule_name(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    key = value.strip().lower().replace("-", "_").replace(" ", "_")
    return SCHEDULE_ALIASES.get(key, key)


Fraction = Annotated[float, Field(ge=0, lt=1)]
Share = Annotated[float, BeforeValidator(_share), Field(gt=0, le=1)]
ScheduleName = Literal["constant", "linear", "cosine", "cosine_with_restarts", "wsd", "inverse_sqrt", "polynomial"]
# Common spellings of the schedules above (after lowercasing, '-' and ' ' as '_').
SCHEDULE_ALIASES: dict[str, str] = {
    "cosine_decay": "cosine",
    "cosine_annealing": "cosine",
    "cosine_with_warmup": "cosine",
    "cosine_schedule_with_warmup": "cosine",
    "cosine_annealing_warm_restarts": "cosine_with_restarts",
    "warmup_stable_decay": "wsd",
    "trapezoidal": "wsd",
    "linear_decay": "linear",
    "linear_with_warmup": "linear",
    "linear_schedule_with_warmup": "linear",
    "constant_with_warmup": "constant",
    "constant_schedule_with_warmup": "constant",
    "inverse_square_root": "inverse_sqrt",
    "rsqrt": "inverse_sqrt",
    "poly": "polynomial",
    "polynomial_decay": "polynomial",
}


class MixtureItem(Section):
    """One dataset of the mixture: its share as `weight`, or (for every item) its `tokens` budget."""

    dataset: Source
    weight: Share | None = None
    epochs: float | None = Field(None, gt=0)
    tokens: Count | None = None


class Architecture(Section):
    family: Identifier
    layers: PositiveInt
    hidden_size: PositiveInt
    heads: PositiveInt
    kv_heads: PositiveInt | None = None
    experts: PositiveInt | None = None
    active_experts: PositiveInt | None = None
    context_length: PositiveInt
    parameters: Count
    active_parameters: Count | None = None
    vocab_size: PositiveInt | None = None

    def rules(self) -> Iterator[tuple[str, str]]:
        if self.kv_heads is not None and (self.kv_heads > self.heads or self.heads % self.kv_heads):
            yield "kv_heads", f"{self.kv_heads} must divide heads ({self.heads})"
        if self.active_experts is not None and self.experts is None:
            yield "active_experts", "set experts too (active_experts is the top-k of a mixture of experts)"
        if self.experts is not None and self.experts > 1 and self.active_experts is None:
            yield "active_experts", "required with experts > 1"
        if self.experts and self.active_experts and self.active_experts > self.experts:
            yield "active_experts", f"{self.active_experts} exceeds experts ({self.experts})"
        if self.active_parameters is not None and self.active_parameters > self.parameters:
            yield "active_parameters", f"{self.active_parameters} exceeds parameters ({self.parameters})"


class Optimizer(Section):
    name: Annotated[Identifier, BeforeValidator(_lowercase)]
    lr: float = Field(gt=0)
    betas: tuple[Fraction, Fraction] | None = None
    weight_decay: NonNegativeFloat | None = None
    eps: float | None = Field(None, gt=0)


class Schedule(Section):
    """Warmup is in steps or in tokens (exactly one); tokens become steps where the batch is known."""

    name: Annotated[ScheduleName, BeforeValidator(_schedule_name)]
    warmup_steps: NonNegativeInt | None = None
    warmup_tokens: Count | None = None
    total_steps: PositiveInt | None = None
    decay_steps: PositiveInt | None = None
    min_lr: NonNegativeFloat | None = None

    def rules(self) -> Iterator[tuple[str, str]]:
        if self.warmup_steps is None and self.warmup_tokens is None:
            yield "warmup_steps", "required: give warmup_steps or warmup_tokens"
        if self.warmup_steps is not None and self.warmup_tokens is not None:
            yield "warmup_tokens", "give warmup_steps or warmup_tokens, not both"
        if self.decay_steps is not None and self.name != "wsd":
            yield "decay_steps", "only for the wsd (warmup-stable-decay) schedule"
        if self.total_steps is not None:
            used = (self.warmup_steps or 0) + (self.decay_steps or 0)
            if used > self.total_steps:
                yield "total_steps", f"{self.total_steps} is shorter than warmup (and decay) steps ({used})"


class Batch(Section):
    """The global batch: in tokens, or as sequences times sequence length (both: they must agree)."""

    global_batch_tokens: Count | None = None
    global_batch_size: PositiveInt | None = None
    sequence_length: PositiveInt | None = None

    def rules(self) -> Iterator[tuple[str, str]]:
        size, length = self.global_batch_size, self.sequence_length
        if size is None and length is not None:
            yield "global_batch_size", "required with sequence_length"
        elif size is not None and length is None:
            yield "sequence_length", "required with global_batch_size"
        elif size is None and self.global_batch_tokens is None:
            yield "", "give global_batch_tokens, or global_batch_size and sequence_length"
        if size and length and self.global_batch_tokens and size * length != self.global_batch_tokens:
            yield "global_batch_tokens", f"{self.global_batch_tokens} ≠ global_batch_size * sequence_length"

    @property
    def tokens(self) -> int | None:
        """Tokens per optimizer step, when the batch says."""
        if self.global_batch_tokens is not None:
            return self.global_batch_tokens
        if self.global_batch_size is not None and self.sequence_length is not None:
            return self.global_batch_size * self.sequence_length
        return None


class RL(Section):
    algorithm: RLAlgorithm | PreferenceAlgorithm
    reward_model: Source | None = None
    environments: list[Source] = Field(default_factory=list, max_length=100)
    kl_coef: NonNegativeFloat | None = None
    rollouts_per_prompt: PositiveInt | None = None
    max_response_tokens: PositiveInt | None = None
    temperature: float | None = Field(None, gt=0)

    def rules(self) -> Iterator[tuple[str, str]]:
        if self.algorithm in GROUP_ALGORITHMS and (self.rollouts_per_prompt or 0) < 2:
            yield "rollouts_per_prompt", f"{self.algorithm} compares rollouts within a group: at least 2 required"


class Code(Section):
    repo: Annotated[str, AfterValidator(_https)]
    commit: Commit
    path: str | None = Field(None, max_length=500)
    command: str | None = Field(None, max_length=2000)


class Container(Section):
    image: Annotated[str, AfterValidator(_image)]
    digest: Annotated[str, AfterValidator(_digest)]


class Hardware(Section):
    accelerator: str = Field(min_length=1, max_length=100)
    count: PositiveInt
    gpu_hours: NonNegativeFloat


class Outcome(Section):
    status: Status
    notes: str | None = Field(None, max_length=20_000)
    metrics: dict[str, float] = Field(default_factory=dict, max_length=200)
    steps_completed: NonNegativeInt | None = None
    tokens_seen: Count | None = None

    def rules(self) -> Iterator[tuple[str, str]]:
        if self.status != "succeeded" and not (self.notes or "").strip():
            yield "notes", f"required when status is {self.status}: say what happened, so others can learn from it"


class Recipe(Section):
    schema_id: Literal["consortium.recipe/v1"] = Field(alias="schema")
    stage: Literal["pretraining", "posttraining"]
    method: Literal["sft", "dpo", "rl"] | None = None
    name: str = Field(min_length=1, max_length=200)
    description: Text
    base_model: Source | None = None
    data_mixture: list[MixtureItem] = Field(default_factory=list, max_length=1000)
    architecture: Architecture | None = None
    optimizer: Optimizer
    schedule: Schedule
    batch: Batch
    total_tokens: Count | None = None
    precision: Literal["fp32", "bf16", "fp16", "fp8", "mixed"] | None = None
    seed: NonNegativeInt | None = None
    rl: RL | None = None
    reuses: list[Source] = Field(default_factory=list, max_length=100)
    code: Code
    container: Container | None = None
    hardware: Hardware
    outcome: Outcome

    @field_validator("data_mixture")
    @classmethod
    def _weights_sum_to_one(cls, items: list[MixtureItem]) -> list[MixtureItem]:
        """Weights for every item summing to 1, or token budgets for every item (weights derived)."""
        names = [str(item.dataset) for item in items]
        if dupes := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"listed more than once: {', '.join(dupes[:5])}")
        weighted = [item.weight for item in items if item.weight is not None]
        if len(weighted) == len(items):
            total = sum(weighted)
            if items and abs(total - 1) > WEIGHT_TOLERANCE:
                raise ValueError(f"weights sum to {total:.6g}; they must sum to 1 (±{WEIGHT_TOLERANCE:g})")
            return items
        if weighted:
            missing = [(f"[{i}].weight", WEIGHT_OR_TOKENS) for i, item in enumerate(items) if item.weight is None]
        else:
            missing = [(f"[{i}].tokens", WEIGHT_OR_TOKENS) for i, item in enumerate(items) if item.tokens is None]
        if missing:
            summary = "; ".join(f"{f}: {m}" for f, m in missing)
            raise PydanticCustomError("rules", "{summary}", {"summary": summary, "problems": missing})
        budget = sum(item.tokens or 0 for item in items)
        return [item.model_copy(update={"weight": (item.tokens or 0) / budget}) for item in items]

    def rules(self) -> Iterator[tuple[str, str]]:
        if self.rl is not None and self.method == "rl" and self.rl.algorithm not in RL_ALGORITHMS:
            yield (
                "rl.algorithm",
                f"'{self.rl.algorithm}' is a preference algorithm; method rl takes {', '.join(RL_ALGORITHMS)}",
            )
        if self.rl is not None and self.method == "dpo" and self.rl.algorithm not in PREFERENCE_ALGORITHMS:
            yield (
                "rl.algorithm",
                f"'{self.rl.algorithm}' is an RL algorithm; method dpo takes {', '.join(PREFERENCE_ALGORITHMS)}",
            )
        if self.method == "rl" and self.rl is not None and not (self.rl.reward_model or self.rl.environments):
            yield "rl", "give a reward_model, environments, or both: RL needs a reward"
        if self.schedule.min_lr is not None and self.schedule.min_lr > self.optimizer.lr:
            yield "schedule.min_lr", f"{self.schedule.min_lr} exceeds optimizer.lr ({self.optimizer.lr})"
        length, arch = self.batch.sequence_length, self.architecture
        if length is not None and arch is not None and length > arch.context_length:
            yield "batch.sequence_length", f"{length} exceeds architecture.context_length ({arch.context_length})"
        schedule, per_step = self.schedule, self.batch.tokens
        if schedule.warmup_tokens and per_step and schedule.total_steps:
            used = warmup_steps(schedule.warmup_tokens, per_step) + (schedule.decay_steps or 0)
            if used > schedule.total_steps:
                message = f"{schedule.total_steps} is shorter than warmup (and decay) steps ({used})"
                yield "schedule.total_steps", message
        refs = [str(ref) for ref in self.reuses]
        if dupes := sorted({r for r in refs if refs.count(r) > 1}):
            yield "reuses", f"listed more than once: {', '.join(dupes[:5])}"

    @property
    def hub_refs(self) -> list[HubRef]:
        found = [item.dataset for item in self.data_mixture] + [self.base_model]
        if self.rl is not None:
            found += [self.rl.reward_model, *self.rl.environments]
        return [ref for ref in [*found, *self.reuses] if isinstance(ref, HubRef)]

    @property
    def weights(self) -> list[float]:
        """Each mixture item's share; after validation every item has one (given or derived)."""
        return [item.weight or 0.0 for item in self.data_mixture]


def warmup_steps(tokens: int, per_step: int) -> int:
    """Warmup given in tokens as optimizer steps (rounded up: a partial step still warms up)."""
    return -(-tokens // per_step)


def _present(raw: Mapping[str, Any], key: str) -> bool:
    return raw.get(key) not in (None, [], {})


def stage_problems(raw: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """What each stage and method requires or forbids, judged on the raw mapping."""
    stage, method = raw.get("stage"), raw.get("method")
    if stage == "pretraining":
        for key in ("method", "rl"):
            if _present(raw, key):
                yield key, "only for posttraining recipes"
        for key in ("architecture", "total_tokens", "data_mixture"):
            if not _present(raw, key):
                yield key, "required for pretraining"
    elif stage == "posttraining":
        if not _present(raw, "method"):
            yield "method", "required for posttraining: sft, dpo or rl"
        if not _present(raw, "base_model"):
            yield "base_model", "required for posttraining: the checkpoint training starts from"
        if method == "rl" and not _present(raw, "rl"):
            yield "rl", "required when method is rl"
        if method == "sft" and _present(raw, "rl"):
            yield "rl", "not used by method sft (use method dpo or rl)"
        if method in ("sft", "dpo") and not _present(raw, "data_mixture"):
            yield "data_mixture", f"required for method {method}"
        rl = raw.get("rl")
        environments = rl.get("environments") if isinstance(rl, Mapping) else None
        if method == "rl" and not _present(raw, "data_mixture") and not environments:
            yield "data_mixture", "required for method rl unless rl.environments supply the prompts"


def registry_refs(raw: Mapping[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(field path, ref, kind) for every registry reference written as text, from the raw mapping
    so they are resolved even when other fields are invalid. Malformed refs are the schema's job."""
    mixture = raw.get("data_mixture")
    for i, item in enumerate(mixture if isinstance(mixture, list) else []):
        if isinstance(item, Mapping) and isinstance(item.get("dataset"), str):
            yield f"data_mixture[{i}].dataset", item["dataset"], "dataset"
    if isinstance(raw.get("base_model"), str):
        yield "base_model", raw["base_model"], "checkpoint"
    rl = raw.get("rl")
    if isinstance(rl, Mapping):
        if isinstance(rl.get("reward_model"), str):
            yield "rl.reward_model", rl["reward_model"], "checkpoint"
        environments = rl.get("environments")
        for i, env in enumerate(environments if isinstance(environments, list) else []):
            if isinstance(env, str):
                yield f"rl.environments[{i}]", env, "rl_environment"
    reuses = raw.get("reuses")
    for i, ref in enumerate(reuses if isinstance(reuses, list) else []):
        if isinstance(ref, str):
            yield f"reuses[{i}]", ref, "recipe"  # a pretraining or a post-training recipe
