"""Metadata: what the files say a checkpoint or adapter is (parameters, architecture, dtypes, context
length, vocabulary, shape; for adapters rank, alpha, targets and trainable parameters), read from
safetensors headers and configs only, never from weights.

It informs reviewers: format problems are the format step's. It fails only when nothing can be
extracted, or when the version's declared metadata contradicts what the files say.
"""

from __future__ import annotations

import re
from typing import Any

from jobs.checks.base import CheckContext
from jobs.checks.formats.checkpoint import load_json, tokenizer_vocab
from jobs.checks.safetensors_header import Header, read_header
from jobs.measures.suites import suites_for
from registry.models import Kind

CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "max_seq_len", "seq_length")
SHAPE_KEYS = {
    "vocab_size": ("vocab_size",),
    "hidden_size": ("hidden_size", "n_embd", "d_model"),
    "layers": ("num_hidden_layers", "n_layer", "num_layers"),
    "heads": ("num_attention_heads", "n_head", "num_heads"),
}
PARAMETER_TOLERANCE = 0.01
_SCALE = {"": 1, "k": 10**3, "m": 10**6, "b": 10**9, "t": 10**12}


def config_value(config: dict[str, Any], keys: tuple[str, ...]) -> int | None:
    """The first positive integer among `keys`, in the config or (multimodal models) its text_config."""
    text = config.get("text_config")
    for scope in (config, text if isinstance(text, dict) else {}):
        for key in keys:
            value = scope.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
    return None


def parse_count(value: Any) -> int | None:
    """A declared count: 1234, 1.5e9, "7B", "1.5M", "7,000,000" (None when it is none of these)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str) and (m := re.fullmatch(r"\s*([0-9][0-9_,]*(?:\.[0-9]+)?)\s*([kmbt]?)\s*", value, re.I)):
        return int(float(m[1].replace(",", "").replace("_", "")) * _SCALE[m[2].lower()])
    return None


def weights_facts(headers: list[Header]) -> dict[str, Any]:
    dtypes: dict[str, int] = {}
    for header in headers:
        for dtype, size in header.dtype_bytes().items():
            dtypes[dtype] = dtypes.get(dtype, 0) + size
    return {
        "parameters": sum(h.parameters for h in headers),
        "tensors": sum(len(h.tensors) for h in headers),
        "dtype": max(dtypes, key=lambda d: dtypes[d]) if dtypes else None,
        "dtype_bytes": dict(sorted(dtypes.items(), key=lambda item: -item[1])),
    }


def config_facts(ctx: CheckContext, config: dict[str, Any]) -> dict[str, Any]:
    architectures = config.get("architectures")
    names = [a for a in architectures if isinstance(a, str)] if isinstance(architectures, list) else []
    facts: dict[str, Any] = {
        "architecture": names[0] if names else None,
        "architectures": names,
        "model_type": config.get("model_type") if isinstance(config.get("model_type"), str) else None,
        "context_length": config_value(config, CONTEXT_KEYS),
    }
    facts |= {name: config_value(config, keys) for name, keys in SHAPE_KEYS.items()}
    if facts["vocab_size"] is None:
        for name in ("tokenizer.json", "tokenizer.model"):
            if (file := ctx.file(name)) is not None and (vocab := tokenizer_vocab(file)[0]):
                facts["vocab_size"], facts["vocab_source"] = vocab, name
                break
    return facts


def adapter_facts(config: dict[str, Any], headers: list[Header]) -> dict[str, Any]:
    return {
        "peft_type": config.get("peft_type"),
        "r": config.get("r"),
        "alpha": config.get("lora_alpha"),
        "target_modules": config.get("target_modules"),
        "base_model_name_or_path": config.get("base_model_name_or_path"),
        "trainable_parameters": sum(h.parameters for h in headers) if headers else None,
    }


def read_json_object(ctx: CheckContext, path: str) -> dict[str, Any]:
    file = ctx.file(path)
    data = load_json(file)[0] if file is not None else None
    return data if isinstance(data, dict) else {}


def compare_declared(ctx: CheckContext, facts: dict[str, Any]) -> None:
    """Declared metadata that contradicts the files: parameters (> 1% off), architecture,
    model_type and context length for checkpoints; trainable parameters for adapters."""
    declared = ctx.version.metadata
    counts = ("trainable_parameters",) if ctx.kind == Kind.ADAPTER else ("parameters",)
    for key in counts:
        claimed, found = parse_count(declared.get(key)), facts.get(key)
        if key in declared and claimed is None:
            facts.setdefault("declared_unparsed", []).append(key)
        elif claimed is not None and found and abs(claimed - found) > PARAMETER_TOLERANCE * found:
            ctx.fail(
                "metadata_mismatch",
                f"declared {key} {claimed:,} but the safetensors headers hold {found:,} "
                f"({abs(claimed - found) / found:.1%} off)",
            )
    if ctx.kind == Kind.ADAPTER:
        return
    claimed_arch, found_arches = declared.get("architecture"), facts.get("architectures") or []
    if claimed_arch and found_arches and claimed_arch not in found_arches:
        ctx.fail(
            "metadata_mismatch",
            f"declared architecture {str(claimed_arch)[:200]} but config.json says {', '.join(found_arches)}",
        )
    for key, kind in (("model_type", str), ("context_length", int)):
        claimed, found = declared.get(key), facts.get(key)
        if isinstance(claimed, kind) and found is not None and claimed != found:
            ctx.fail("metadata_mismatch", f"declared {key} {repr(claimed)[:200]} but config.json says {found!r}")


def version_facts(kind: str, facts: dict[str, Any]) -> dict[str, Any]:
    """What the version row keeps for the browse facets: a checkpoint's architecture and parameter
    count, an adapter's trainable parameters (its architecture is its base's)."""
    count = facts.get("trainable_parameters" if kind == Kind.ADAPTER else "parameters")
    architecture = facts.get("architecture") if kind != Kind.ADAPTER else None
    return {
        "architecture": architecture[:100] if isinstance(architecture, str) else "",
        "parameters": count if isinstance(count, int) and not isinstance(count, bool) and count > 0 else None,
    }


def check(ctx: CheckContext) -> None:
    weights = [f for f in ctx.files if f.name.endswith(".safetensors")]
    headers: list[Header] = []
    for i, file in enumerate(weights, 1):
        parsed = read_header(file)  # problems are the format step's to report
        if isinstance(parsed, Header):
            headers.append(parsed)
        ctx.progress(i, len(weights), "files")

    facts: dict[str, Any] = weights_facts(headers) if headers else {"parameters": None}
    if ctx.kind == Kind.ADAPTER:
        facts |= adapter_facts(read_json_object(ctx, "adapter_config.json"), headers)
        extracted = headers or facts["peft_type"]
    else:
        facts |= config_facts(ctx, read_json_object(ctx, "config.json"))
        extracted = headers or facts["architecture"] or facts["model_type"]
    if not headers:
        facts["note"] = "no readable safetensors header: parameters and dtypes not counted"
    ctx.details = facts
    ctx.version_facts = version_facts(ctx.kind, facts)
    if not extracted:
        ctx.fail("metadata_unavailable", "nothing to extract: no readable safetensors weights and no usable config")
        ctx.summary = "no metadata could be extracted"
        return
    compare_declared(ctx, facts)
    for problem in suites_for(ctx.version).problems:
        ctx.fail("eval_suite_unknown", problem)
    if ctx.kind == Kind.ADAPTER:
        described = f"{facts['peft_type']} r={facts['r']}, {facts['trainable_parameters']} trainable parameters"
    else:
        counted = f"{facts['parameters']:,} parameters" if facts["parameters"] is not None else "parameters not counted"
        described = f"{facts['architecture'] or facts['model_type']}, {counted}"
    dtype = f", mostly {facts['dtype']}" if facts.get("dtype") else ""
    ctx.summary = (described + dtype + ("" if ctx.passed else f"; {len(ctx.reasons)} contradictions")).strip()[:299]
