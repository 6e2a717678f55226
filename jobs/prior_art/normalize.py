"""A recipe as comparable features: the same experiment written two ways gives an equal Experiment.

Units are already integers and floats after schema validation (`'2T'`, `'3e-4'`, `'20%'`); here
aliases are mapped to one name, mixtures become {dataset key: fraction}, warmup given in tokens
becomes steps, and registry references lose their version (v1 and v2 of a dataset are the same
data source for the purpose of "has this been tried?").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from pydantic import ValidationError

from jobs.checks.schemas import recipe_v1
from jobs.checks.schemas.common import REGISTRY_REF, HubRef, problems
from jobs.checks.schemas.recipe_v1 import Recipe

# Spellings of optimizers seen in training configs (HF Trainer `optim`, torch, optax, Megatron),
# after lowercasing with '-' and ' ' as '_'. Adam and AdamW stay apart: decoupled weight decay differs.
OPTIMIZER_ALIASES: dict[str, str] = {
    "adam_w": "adamw",
    "adamw_torch": "adamw",
    "adamw_torch_fused": "adamw",
    "adamw_hf": "adamw",
    "adamw_apex_fused": "adamw",
    "fused_adamw": "adamw",
    "fusedadamw": "adamw",
    "decoupled_adamw": "adamw",
    "adam_torch": "adam",
    "fused_adam": "adam",
    "fusedadam": "adam",
    "lion_pytorch": "lion",
    "decoupled_lionw": "lion",
    "fused_lamb": "lamb",
    "fusedlamb": "lamb",
    "sophiag": "sophia",
    "distributed_shampoo": "shampoo",
    "sgd_momentum": "sgd",
}


class InvalidRecipe(ValueError):
    """The mapping is not a valid v1 recipe; `problems` holds (field path, message) pairs."""

    def __init__(self, found: list[tuple[str, str]]) -> None:
        self.problems = found
        super().__init__("; ".join(f"{f}: {m}" if f else m for f, m in found[:10]))


@dataclass(frozen=True)
class Experiment:
    """What makes two runs the same experiment; incidental fields (seed, hardware, code) are left out."""

    stage: str
    method: str | None
    family: str | None
    parameters: int | None
    active_parameters: int | None
    layers: int | None
    hidden_size: int | None
    heads: int | None
    context_length: int | None
    base_model: str | None
    mixture: tuple[tuple[str, float], ...]  # (dataset key, fraction), sorted by key; fractions sum to 1
    optimizer: str
    lr: float
    betas: tuple[float, float] | None
    weight_decay: float | None
    schedule: str
    warmup_steps: int | None
    warmup_tokens: int | None
    total_steps: int | None
    batch_tokens: int | None
    total_tokens: int | None
    precision: str | None
    rl_algorithm: str | None
    kl_coef: float | None
    rollouts_per_prompt: int | None
    reward_model: str | None
    environments: tuple[str, ...]
    reuses: tuple[str, ...]
    outcome: str

    @property
    def fractions(self) -> dict[str, float]:
        return dict(self.mixture)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: tuples become lists (`from_dict` turns them back)."""
        return {k: _listed(v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Experiment:
        """The Experiment `as_dict` gave, read back from JSON; a field added since is None (or empty)."""
        values = {f.name: data.get(f.name) for f in fields(cls)}
        mixture = tuple((str(key), float(share)) for key, share in values["mixture"] or ())
        betas = values["betas"]
        return cls(
            **values
            | {
                "mixture": mixture,
                "betas": (float(betas[0]), float(betas[1])) if betas else None,
                "environments": tuple(values["environments"] or ()),
                "reuses": tuple(values["reuses"] or ()),
            }
        )


def _listed(value: Any) -> Any:
    return [_listed(v) for v in value] if isinstance(value, tuple | list) else value


def optimizer_name(name: str) -> str:
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    return OPTIMIZER_ALIASES.get(key, key)


def schedule_name(name: str) -> str:
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    return recipe_v1.SCHEDULE_ALIASES.get(key, key)


def source_key(source: str | HubRef) -> str:
    """'open-lab/web-mix@1.2.0' → 'open-lab/web-mix'; a Hub repo → 'hub:owner/name' (lowercase: the
    Hub resolves names case-insensitively). The prefix keeps a registry artifact and a Hub repo of
    the same name apart."""
    if isinstance(source, HubRef):
        return f"hub:{source.hub.lower()}"
    match = REGISTRY_REF.fullmatch(source)
    return f"{match['org']}/{match['artifact']}" if match else source


def display_name(key: str) -> str:
    """'hub:bigcode/starcoderdata' → 'starcoderdata': short enough for a one-line summary."""
    return key.rsplit("/", 1)[-1]


def parse(raw: Mapping[str, Any]) -> Recipe:
    """A raw mapping validated as the format check does (stage rules, then the schema), or InvalidRecipe."""
    found = list(recipe_v1.stage_problems(raw))
    try:
        recipe = Recipe.model_validate(raw)
    except ValidationError as exc:
        found += problems(exc, Recipe)
    if found:
        raise InvalidRecipe(found)
    return recipe


def _mixture(recipe: Recipe) -> tuple[tuple[str, float], ...]:
    shares: dict[str, float] = {}
    for item, weight in zip(recipe.data_mixture, recipe.weights, strict=True):
        key = source_key(item.dataset)
        shares[key] = shares.get(key, 0.0) + weight  # two versions of one dataset are one source
    total = sum(shares.values())
    # Rounded so that the same mixture listed in another order (another float sum) compares equal.
    return tuple(sorted((key, round(share / total, 12)) for key, share in shares.items())) if total else ()


def experiment(recipe: Recipe) -> Experiment:
    arch, schedule, rl = recipe.architecture, recipe.schedule, recipe.rl
    per_step = recipe.batch.tokens
    warmup_steps, warmup_tokens = schedule.warmup_steps, schedule.warmup_tokens
    if warmup_steps is None and warmup_tokens is not None and per_step:
        warmup_steps = recipe_v1.warmup_steps(warmup_tokens, per_step)
    elif warmup_tokens is None and warmup_steps is not None and per_step:
        warmup_tokens = warmup_steps * per_step
    total_tokens = recipe.total_tokens
    if total_tokens is None and schedule.total_steps and per_step:
        total_tokens = schedule.total_steps * per_step
    return Experiment(
        stage=recipe.stage,
        method=recipe.method,
        family=arch.family if arch else None,
        parameters=arch.parameters if arch else None,
        active_parameters=arch.active_parameters if arch else None,  # given for mixtures of experts
        layers=arch.layers if arch else None,
        hidden_size=arch.hidden_size if arch else None,
        heads=arch.heads if arch else None,
        context_length=arch.context_length if arch else None,
        base_model=source_key(recipe.base_model) if recipe.base_model is not None else None,
        mixture=_mixture(recipe),
        optimizer=optimizer_name(recipe.optimizer.name),
        lr=recipe.optimizer.lr,
        betas=recipe.optimizer.betas,
        weight_decay=recipe.optimizer.weight_decay,
        schedule=schedule_name(schedule.name),
        warmup_steps=warmup_steps,
        warmup_tokens=warmup_tokens,
        total_steps=schedule.total_steps,
        batch_tokens=per_step,
        total_tokens=total_tokens,
        precision=recipe.precision,
        rl_algorithm=rl.algorithm if rl else None,
        kl_coef=rl.kl_coef if rl else None,
        rollouts_per_prompt=rl.rollouts_per_prompt if rl else None,
        reward_model=source_key(rl.reward_model) if rl and rl.reward_model is not None else None,
        environments=tuple(sorted({source_key(e) for e in rl.environments})) if rl else (),
        reuses=tuple(sorted(str(r) for r in recipe.reuses)),
        outcome=recipe.outcome.status,
    )


def experiment_from(raw: Mapping[str, Any]) -> Experiment:
    return experiment(parse(raw))
