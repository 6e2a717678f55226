"""Format of an adapter: a config PEFT accepts, weights whose ranks and targets agree with it, and a
base it fits: a registry checkpoint with matching module shapes, or a pinned Hub repo whose
architecture the pusher declares (the registry cannot read the Hub from here).

PEFT pulls in torch, which the worker must never import, so the config is validated by PEFT's own
classes in a short-lived subprocess (`jobs/checks/peft_config.py`) with a timeout.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from jobs.checks.base import CheckContext, version_files
from jobs.checks.formats.checkpoint import (
    architecture_of,
    bounded,
    check_remote_code,
    check_tokenizers,
    listed,
    load_json,
)
from jobs.checks.safetensors_header import Header, read_header
from registry.models import Kind, LineageEdge, Version

CONFIG = "adapter_config.json"
WEIGHTS = "adapter_model.safetensors"
VALIDATOR = Path(__file__).resolve().parent.parent / "peft_config.py"
# PEFT saves LoRA factors as <module>.lora_A.weight [r, in] / .lora_B.weight [out, r]; embeddings as
# <module>.lora_embedding_A [r, num_embeddings] / .lora_embedding_B [dim, r].
_FACTOR = re.compile(r"^(?P<module>.+)\.(?P<part>lora_A|lora_B)\.weight$|^(?P<emb>.+)\.lora_embedding_(?P<epart>A|B)$")
_PREFIX = "base_model.model."


@dataclass
class Factors:
    """One adapted module's LoRA factors, by their shapes."""

    a: tuple[int, ...] | None = None
    b: tuple[int, ...] | None = None
    embedding: bool = False

    def base_shape(self, fan_in_fan_out: bool) -> tuple[int, int] | None:
        """The [out, in] (embeddings: [num, dim]) the base module's weight must have."""
        if not self.a or not self.b or len(self.a) < 2 or len(self.b) < 2:
            return None
        if self.embedding:
            return (self.a[1], self.b[0])
        return (self.a[1], self.b[0]) if fan_in_fan_out else (self.b[0], self.a[1])


def peft_timeout() -> float:
    return settings.PEFT_CHECK_TIMEOUT_SECONDS


def lora_factors(header: Header) -> dict[str, Factors]:
    """Adapted module (named as in the base model) → its factors."""
    modules: dict[str, Factors] = {}
    for name, tensor in header.tensors.items():
        if not (m := _FACTOR.match(name)):
            continue
        module = (m["module"] or m["emb"]).removeprefix(_PREFIX)
        factors = modules.setdefault(module, Factors(embedding=m["emb"] is not None))
        if (m["part"] or m["epart"]).endswith("A"):
            factors.a = tensor.shape
        else:
            factors.b = tensor.shape
    return modules


def peft_validate(config: dict[str, Any], modules: list[str]) -> dict[str, Any] | str:
    """PEFT's verdict from the validator subprocess, or why there is none."""
    env = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "TMPDIR"}}
    env |= {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
    request = json.dumps({"config": config, "modules": modules})
    try:
        done = subprocess.run(  # noqa: S603 (our own script, fixed arguments; the config goes on stdin)
            [sys.executable, "-I", str(VALIDATOR)],
            input=request,
            capture_output=True,
            text=True,
            timeout=peft_timeout(),
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"PEFT did not finish validating it within {peft_timeout():g} s"
    # The validator reports every problem with the config as a verdict; a crash (killed, broken
    # install) is the registry's trouble, never the pusher's: raised, so the step is retried.
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1][:300]
        raise RuntimeError(f"the PEFT validator exited with code {done.returncode}: {last}")
    try:
        verdict = json.loads(done.stdout)
    except ValueError:
        raise RuntimeError("the PEFT validator printed no verdict") from None
    if not isinstance(verdict, dict):
        raise RuntimeError("the PEFT validator printed no verdict")
    return verdict


def check_consistency(
    ctx: CheckContext, config: dict[str, Any], modules: dict[str, Factors], verdict: dict[str, Any]
) -> None:
    """Ranks from `r`/`rank_pattern` and `target_modules` agree with the tensors actually saved."""
    half = sorted(m for m, f in modules.items() if f.a is None or f.b is None)
    if half:
        ctx.fail("adapter_tensors", f"modules with only one of lora_A / lora_B: {listed(half)}", path=WEIGHTS)
    per_module = verdict.get("modules") or {}
    untargeted = sorted(m for m in modules if not per_module.get(m, {}).get("targeted"))
    if untargeted:
        shown = json.dumps(config.get("target_modules"))[:200]
        ctx.fail("adapter_targets", f"adapted modules not matched by target_modules {shown}: {listed(untargeted)}")
    wrong = []
    for module, factors in sorted(modules.items()):
        r = per_module.get(module, {}).get("r")
        ranks = {factors.a[0] if factors.a else None, factors.b[1] if factors.b and len(factors.b) > 1 else None}
        ranks.discard(None)
        if r is not None and ranks and ranks != {r}:
            wrong.append(f"{module} (lora_A {list(factors.a or [])}, lora_B {list(factors.b or [])}, expected r={r})")
    if wrong:
        ctx.fail(
            "adapter_rank", f"{len(wrong)} modules' ranks differ from r/rank_pattern: {listed(wrong)}", path=WEIGHTS
        )
    targets = config.get("target_modules")
    if isinstance(targets, list):
        unused = [t for t in targets if isinstance(t, str) and not any(m == t or m.endswith(f".{t}") for m in modules)]
        if unused:
            ctx.fail("adapter_targets", f"target_modules entries with no tensors in {WEIGHTS}: {listed(unused)}")


def check_registry_base(ctx: CheckContext, base: Version, modules: dict[str, Factors], config: dict[str, Any]) -> None:
    """Each adapted module exists in the base checkpoint with the shape the factors imply."""
    ctx.details["base"] = {"version": str(base), "public_id": str(base.public_id)}
    if base.artifact.kind != Kind.CHECKPOINT:
        ctx.fail("adapter_base", f"the derived_from base {base} is of kind {base.artifact.kind}, not a checkpoint")
        return
    try:
        files = version_files(base)
    except ValueError:
        ctx.fail("adapter_base", f"the base {base} has files not yet uploaded and verified")
        return
    by_path = {f.path: f for f in files}
    base_config, _ = load_json(by_path["config.json"]) if "config.json" in by_path else (None, None)
    found_arch = architecture_of(base_config)
    base_arch = found_arch or "unknown architecture"
    declared = ctx.version.metadata.get("base_architecture")
    named = config.get("base_model_name_or_path")
    ctx.details["base"] |= {"architecture": found_arch, "base_model_name_or_path": bounded(named)}
    if isinstance(declared, str) and declared and found_arch and declared != found_arch:
        ctx.fail(
            "adapter_base_architecture",
            f"declared base_architecture {str(declared)[:200]} but the base {base} is {base_arch}",
        )

    shapes: dict[str, tuple[int, ...]] = {}
    for file in files:
        if file.name.endswith(".safetensors"):
            parsed = read_header(file)
            if not isinstance(parsed, Header):
                ctx.fail("adapter_base", f"the base {base}'s {file.path} is unreadable: {parsed[0].message}")
                return
            shapes |= {name: t.shape for name, t in parsed.tensors.items()}
    ctx.details["base"]["shapes_checked"] = bool(shapes)
    if not shapes:
        return  # pickle-format base weights: nothing readable to compare against
    fan_in_fan_out = config.get("fan_in_fan_out") is True
    absent, different = [], []
    for module, factors in sorted(modules.items()):
        want = factors.base_shape(fan_in_fan_out)
        have = shapes.get(f"{module}.weight")
        if have is None:
            absent.append(f"{module}.weight")
        elif want is not None and tuple(have[:2]) != want:
            different.append(f"{module}.weight: adapter needs {list(want)}, base has {list(have)}")
    adapter_arch = str(declared or named or "its training base")[:200]
    if absent:
        ctx.fail(
            "adapter_base_architecture",
            f"the base architecture differs: the adapter (for {adapter_arch}) adapts {len(absent)} modules the base "
            f"{base} ({base_arch}) does not have: {listed(absent)}",
        )
    if different:
        ctx.fail(
            "adapter_base_architecture",
            f"the base architecture differs: {len(different)} module shapes of the adapter (for {adapter_arch}) do not "
            f"match the base {base} ({base_arch}): {listed(different)}",
        )


def check_hub_base(ctx: CheckContext, edge: LineageEdge, config: dict[str, Any]) -> None:
    """A Hub base cannot be read here: the pusher declares its architecture, and the config agrees with the pin."""
    declared = ctx.version.metadata.get("base_architecture")
    repo, revision = edge.external_repo, edge.external_revision
    ctx.details["base"] = {"hub_repo": repo, "revision": revision, "architecture": bounded(declared)}
    if not isinstance(declared, str) or not declared:
        ctx.fail(
            "adapter_base_architecture",
            f"the base is the Hub repo {repo}@{revision[:12]}, which the registry cannot read: "
            "declare metadata base_architecture (e.g. LlamaForCausalLM)",
        )
    named = config.get("base_model_name_or_path")
    if named and named != repo:
        ctx.fail(
            "adapter_base", f"base_model_name_or_path is {str(named)[:200]!r} but lineage says {repo}", path=CONFIG
        )
    pinned = config.get("revision")
    if pinned and pinned != revision:
        ctx.fail(
            "adapter_base", f"revision is {str(pinned)[:200]!r} but lineage pins {repo} at {revision}", path=CONFIG
        )


def check_base(ctx: CheckContext, modules: dict[str, Factors], config: dict[str, Any]) -> None:
    edges = list(ctx.version.parent_edges.filter(relation="derived_from").select_related("parent__artifact"))
    if not edges:
        ctx.fail("adapter_no_base", "adapter has no derived_from base: add the checkpoint it adapts to its lineage")
    elif len(edges) > 1:
        ctx.fail("adapter_no_base", f"adapter has {len(edges)} derived_from bases; an adapter adapts exactly one")
    elif edges[0].parent is not None:
        check_registry_base(ctx, edges[0].parent, modules, config)
    else:
        check_hub_base(ctx, edges[0], config)


def check(ctx: CheckContext) -> None:
    config: dict[str, Any] = {}
    if (file := ctx.file(CONFIG)) is None:
        ctx.fail("adapter_config_missing", f"{CONFIG} is missing: PEFT needs it to load the adapter")
    else:
        data, error = load_json(file)
        if error or not isinstance(data, dict):
            ctx.fail("adapter_config_invalid", error or f"a JSON {type(data).__name__}, not an object", path=CONFIG)
        else:
            config = data

    header: Header | None = None
    if (weights := ctx.file(WEIGHTS)) is not None:
        parsed = read_header(weights)
        if isinstance(parsed, Header):
            header = parsed
        else:
            ctx.reasons.extend(parsed)
    elif ctx.file("adapter_model.bin") is None:
        ctx.fail("no_weights", f"no adapter weights: expected {WEIGHTS} (or a pickle-format adapter_model.bin)")
    modules = lora_factors(header) if header else {}
    ctx.details["weights"] = {
        "format": "safetensors" if weights else ("pickle" if ctx.file("adapter_model.bin") else None),
        "tensors": len(header.tensors) if header else None,
        "adapted_modules": len(modules),
    }

    if config:
        verdict = peft_validate(config, sorted(modules))
        if isinstance(verdict, str):
            ctx.fail("adapter_config_invalid", f"could not be validated: {verdict}", path=CONFIG)
        else:
            for error in verdict.get("errors") or []:
                ctx.fail("adapter_config_invalid", f"PEFT {verdict.get('peft_version')}: {error}", path=CONFIG)
            ctx.details["peft"] = {k: verdict.get(k) for k in ("config_class", "peft_version", "warnings")}
            if header is not None and not modules and config.get("peft_type") == "LORA":
                ctx.fail("adapter_tensors", "a LORA adapter without lora_A / lora_B tensors", path=WEIGHTS)
            elif header is not None and not verdict.get("errors"):
                check_consistency(ctx, config, modules, verdict)
    check_base(ctx, modules, config)
    check_remote_code(ctx, check_tokenizers(ctx))
    ctx.summary = (
        f"{len(modules)} adapted modules, base {ctx.details.get('base', {}).get('architecture')}: format checks pass"
        if ctx.passed
        else f"{len(ctx.reasons)} adapter format problems"
    )[:299]
