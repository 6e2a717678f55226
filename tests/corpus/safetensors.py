"""Malformed safetensors, configs, tokenizers and adapters, built by code. Each case is the clean
tiny checkpoint (or adapter) with one thing broken, and names the reason it must end with.

Adapter cases here need no lineage (their reason arises without a base); cases that need a base
are built in tests/jobs/test_format_models.py.
"""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np
from safetensors.numpy import save

from tests.corpus import Case
from tests.corpus.models import HIDDEN, LAYERS, clean_checkpoint, tiny_config

WEIGHTS = "model.safetensors"


def raw_safetensors(header: dict[str, Any] | bytes, data: int | None = None, *, trailing: int = 0) -> bytes:
    """A safetensors file with exactly this header, then `data` zero bytes of tensor data (default:
    up to the largest end offset) and `trailing` extra bytes. Nothing is validated: that is the point."""
    if isinstance(header, bytes):
        raw = header
    else:
        raw = json.dumps(header).encode()
        if data is None:
            data = max((e["data_offsets"][1] for e in header.values() if "data_offsets" in e), default=0)
    return struct.pack("<Q", len(raw)) + raw + bytes((data or 0) + trailing)


def f32(shape: list[int], begin: int) -> dict[str, Any]:
    return {"dtype": "F32", "shape": shape, "data_offsets": [begin, begin + 4 * int(np.prod(shape))]}


def checkpoint_with(files: dict[str, bytes], *, drop: tuple[str, ...] = ()) -> dict[str, bytes]:
    """The clean checkpoint with `files` replaced or added and `drop` removed."""
    return {path: data for path, data in (clean_checkpoint() | files).items() if path not in drop}


def adapter_config(**overrides: Any) -> dict[str, Any]:
    """An adapter_config.json as PEFT saves it for a LoRA of rank 4 on q_proj and v_proj."""
    config: dict[str, Any] = {
        "alpha_pattern": {},
        "auto_mapping": None,
        "base_model_name_or_path": None,
        "bias": "none",
        "fan_in_fan_out": False,
        "inference_mode": True,
        "init_lora_weights": True,
        "layers_pattern": None,
        "layers_to_transform": None,
        "loftq_config": {},
        "lora_alpha": 8,
        "lora_dropout": 0.05,
        "megatron_config": None,
        "megatron_core": "megatron.core",
        "modules_to_save": None,
        "peft_type": "LORA",
        "r": 4,
        "rank_pattern": {},
        "revision": None,
        "target_modules": ["q_proj", "v_proj"],
        "task_type": "CAUSAL_LM",
        "use_dora": False,
        "use_rslora": False,
    }
    return config | overrides


def lora_weights(r: int = 4, hidden: int = HIDDEN, layers: int = LAYERS, *, b_rank: int | None = None) -> bytes:
    """LoRA factors as PEFT saves them: lora_A [r, in] and lora_B [out, r] for q_proj and v_proj."""
    tensors = {}
    for i in range(layers):
        for name in ("q_proj", "v_proj"):
            prefix = f"base_model.model.model.layers.{i}.self_attn.{name}"
            tensors[f"{prefix}.lora_A.weight"] = np.zeros((r, hidden), dtype=np.float32)
            tensors[f"{prefix}.lora_B.weight"] = np.zeros((hidden, b_rank or r), dtype=np.float32)
    return save(tensors)


def clean_adapter(weights: bytes | None = None, **config: Any) -> dict[str, bytes]:
    return {
        "adapter_config.json": json.dumps(adapter_config(**config)).encode(),
        "adapter_model.safetensors": weights or lora_weights(),
        "README.md": b"# tiny adapter\n\nA rank-4 LoRA for tests.\n",
    }


def _broken(name: str, header: dict[str, Any] | bytes, *words: str, data: int | None = None, trailing: int = 0) -> Case:
    files = checkpoint_with({WEIGHTS: raw_safetensors(header, data, trailing=trailing)})
    return Case(name=name, kind="checkpoint", files=files, path=WEIGHTS, words=words)


def _duplicate_header() -> bytes:
    entry = json.dumps(f32([2], 0))
    return f'{{"a": {entry}, "a": {entry}}}'.encode()


def _sharded() -> dict[str, bytes]:
    index = {
        "metadata": {"total_size": 16},
        "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"},
    }
    return checkpoint_with(
        {
            "model-00001-of-00002.safetensors": save({"a": np.zeros(2, np.float32)}),
            "model.safetensors.index.json": json.dumps(index).encode(),
        },
        drop=(WEIGHTS,),
    )


_AUTO_MAP = {**tiny_config(), "auto_map": {"AutoModelForCausalLM": "modeling_tiny.TinyForCausalLM"}}

CASES: list[Case] = [
    Case(
        name="safetensors header length over the limit",
        kind="checkpoint",
        files=checkpoint_with({WEIGHTS: struct.pack("<Q", 2**40) + b"{}" + bytes(64)}),
        path=WEIGHTS,
        words=("header length", "limit"),
    ),
    Case(
        name="safetensors header length past the end of the file",
        kind="checkpoint",
        files=checkpoint_with({WEIGHTS: struct.pack("<Q", 4096) + b'{"a":' + bytes(32)}),
        path=WEIGHTS,
        words=("header length", "bytes after it"),
    ),
    _broken(
        "safetensors offsets out of range",
        {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 800]}},
        "out of range",
        "'a'",
        data=8,
    ),
    _broken("safetensors offsets overlapping", {"a": f32([2], 0), "b": f32([2], 4)}, "overlap", "'a'", "'b'"),
    _broken("safetensors offsets leave a hole", {"a": f32([2], 0), "b": f32([2], 12)}, "belong to no tensor"),
    _broken(
        "safetensors end offset before begin",
        {"a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}},
        "end before begin",
        data=8,
    ),
    _broken("safetensors duplicate tensor names", _duplicate_header(), "duplicate", "'a'", data=8),
    _broken("safetensors trailing bytes", {"a": f32([2], 0)}, "trailing bytes", trailing=100),
    _broken(
        "safetensors unknown dtype", {"a": {"dtype": "Q7", "shape": [2], "data_offsets": [0, 8]}}, "unknown dtype", "Q7"
    ),
    _broken(
        "safetensors shape and dtype disagree with offsets",
        {"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}},
        "needs 12 bytes",
        "span 8",
        data=8,
    ),
    _broken("safetensors header not UTF-8", b'{"a\xff": {}}', "not utf-8"),
    _broken("safetensors header not an object", b"[1, 2, 3]", "not an object"),
    _broken("safetensors header not JSON", b"{'a': 1}", "not valid json"),
    Case(
        name="pickle renamed to .safetensors",
        kind="checkpoint",
        files=checkpoint_with({WEIGHTS: b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00" + bytes(32)}),
        path=WEIGHTS,
        words=("named .safetensors", "pickle"),
    ),
    Case(
        name="text named like pickle weights",
        kind="checkpoint",
        files=checkpoint_with({"pytorch_model.bin": b"version https://git-lfs.github.com/spec/v1\n"}, drop=(WEIGHTS,)),
        path="pytorch_model.bin",
        words=("pickle weights", "text"),
    ),
    Case(
        name="no weights at all",
        kind="checkpoint",
        files=checkpoint_with({}, drop=(WEIGHTS,)),
        path="",
        words=("no weights",),
    ),
    Case(
        name="config.json missing",
        kind="checkpoint",
        files=checkpoint_with({}, drop=("config.json",)),
        path="",
        words=("config.json", "missing"),
    ),
    Case(
        name="config.json names no architecture",
        kind="checkpoint",
        files=checkpoint_with({"config.json": json.dumps({"hidden_size": 16}).encode()}),
        path="config.json",
        words=("model_type", "architectures"),
    ),
    Case(
        name="config.json is not JSON",
        kind="checkpoint",
        files=checkpoint_with({"config.json": b'{"model_type": "llama",'}),
        path="config.json",
        words=("not valid json",),
    ),
    Case(
        name="config.json auto_map without declared remote code",
        kind="checkpoint",
        files=checkpoint_with({"config.json": json.dumps(_AUTO_MAP).encode()}),
        path="config.json",
        words=("auto_map", "remote_code"),
    ),
    Case(
        name="Python file without declared remote code",
        kind="checkpoint",
        files=checkpoint_with({"modeling_tiny.py": b"import os\nos.system('id')\n"}),
        path="modeling_tiny.py",
        words=("python", "remote_code"),
    ),
    Case(
        name="tokenizer.json broken",
        kind="checkpoint",
        files=checkpoint_with({"tokenizer.json": b'{"version": "1.0", "model": {"type": "WordLevel"}}'}),
        path="tokenizer.json",
        words=("tokenizer.json", "does not load"),
    ),
    Case(
        name="tokenizer.model broken",
        kind="checkpoint",
        files=checkpoint_with({"tokenizer.model": b"not a sentencepiece model" * 4}),
        path="tokenizer.model",
        words=("tokenizer.model", "sentencepiece"),
    ),
    Case(
        name="tokenizer_config.json not JSON",
        kind="checkpoint",
        files=checkpoint_with({"tokenizer_config.json": b"{"}),
        path="tokenizer_config.json",
        words=("not valid json",),
    ),
    Case(
        name="shard index lists a missing shard",
        kind="checkpoint",
        files=_sharded(),
        path="model.safetensors.index.json",
        words=("model-00002-of-00002.safetensors", "not among"),
    ),
    Case(
        name="shard index maps a tensor its shard lacks",
        kind="checkpoint",
        files={
            **_sharded(),
            "model-00002-of-00002.safetensors": save({"c": np.zeros(2, np.float32)}),
        },
        path="model.safetensors.index.json",
        words=("'b'", "not in that shard"),
    ),
    Case(
        name="declared parameters contradict the weights",
        kind="checkpoint",
        files=clean_checkpoint(),
        path="",
        words=("declared parameters", "7,000,000,000"),
        metadata={"parameters": 7_000_000_000},
    ),
    Case(
        name="adapter without a derived_from base",
        kind="adapter",
        files=clean_adapter(),
        path="",
        words=("no derived_from",),
    ),
    Case(
        name="adapter_config with fields PEFT does not know or types it rejects",
        kind="adapter",
        files=clean_adapter(lora_rank=4, lora_dropout="high"),
        path="adapter_config.json",
        words=("unknown field", "lora_rank"),
    ),
    Case(
        name="adapter_config with an invalid peft_type",
        kind="adapter",
        files=clean_adapter(peft_type="LOLA"),
        path="adapter_config.json",
        words=("peft_type", "LOLA"),
    ),
    Case(
        name="adapter ranks inconsistent with the config",
        kind="adapter",
        files=clean_adapter(lora_weights(r=8)),
        path="adapter_model.safetensors",
        words=("rank", "expected r=4"),
    ),
    Case(
        name="adapter factors disagree on rank",
        kind="adapter",
        files=clean_adapter(lora_weights(r=4, b_rank=2)),
        path="adapter_model.safetensors",
        words=("rank",),
    ),
]
