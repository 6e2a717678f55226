"""The demo catalogue's files: what examples/demo/ ships (manifests, READMEs, the dataset, the recipe),
plus the model files built from it at seed time with numpy, safetensors and tokenizers.

Everything is deterministic (fixed seeds, sorted vocabulary), so a resumed seeding pushes the same
bytes and the registry answers with the version it already has instead of a conflict.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import save
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from tokenizers.pre_tokenizers import Whitespace

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "demo"
SPECIALS = ("[PAD]", "[UNK]", "[BOS]", "[EOS]")
HIDDEN, INTERMEDIATE, LAYERS, HEADS, CONTEXT = 64, 128, 2, 4, 128
LORA_RANK, LORA_ALPHA, LORA_TARGETS = 4, 8, ("q_proj", "v_proj")


def corpus_words() -> list[str]:
    """Every word of the demo dataset (both splits), sorted: the tokenizer's vocabulary."""
    words: set[str] = set()
    for path in sorted((EXAMPLES / "dataset" / "data").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            words.update(json.loads(line)["text"].split())
    return sorted(words)


def tokenizer_json() -> bytes:
    vocab = {token: i for i, token in enumerate([*SPECIALS, *corpus_words()])}
    tokenizer = Tokenizer(WordLevel(vocab, unk_token=SPECIALS[1]))
    tokenizer.pre_tokenizer = Whitespace()
    return tokenizer.to_str().encode()


def llama_config(vocab_size: int) -> dict[str, Any]:
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": HIDDEN,
        "intermediate_size": INTERMEDIATE,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "num_key_value_heads": HEADS,
        "max_position_embeddings": CONTEXT,
        "vocab_size": vocab_size,
        "rms_norm_eps": 1e-5,
        "hidden_act": "silu",
        "tie_word_embeddings": False,
        "pad_token_id": 0,
        "bos_token_id": 2,
        "eos_token_id": 3,
        "torch_dtype": "float32",
    }


def llama_weights(vocab_size: int) -> dict[str, np.ndarray]:
    """A Llama's tensors as transformers names them, initialised (seed 0) with std 0.02."""
    rng = np.random.default_rng(0)

    def normal(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape, dtype=np.float32) * 0.02).astype(np.float32)

    tensors = {"model.embed_tokens.weight": normal(vocab_size, HIDDEN)}
    for i in range(LAYERS):
        layer = f"model.layers.{i}"
        for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
            tensors[f"{layer}.self_attn.{name}.weight"] = normal(HIDDEN, HIDDEN)
        tensors[f"{layer}.mlp.gate_proj.weight"] = normal(INTERMEDIATE, HIDDEN)
        tensors[f"{layer}.mlp.up_proj.weight"] = normal(INTERMEDIATE, HIDDEN)
        tensors[f"{layer}.mlp.down_proj.weight"] = normal(HIDDEN, INTERMEDIATE)
        tensors[f"{layer}.input_layernorm.weight"] = np.ones(HIDDEN, dtype=np.float32)
        tensors[f"{layer}.post_attention_layernorm.weight"] = np.ones(HIDDEN, dtype=np.float32)
    tensors["model.norm.weight"] = np.ones(HIDDEN, dtype=np.float32)
    tensors["lm_head.weight"] = normal(vocab_size, HIDDEN)
    return tensors


def lora_weights() -> dict[str, np.ndarray]:
    """LoRA factors as PEFT saves them (lora_A [r, in], lora_B [out, r]) for the base's q/v projections."""
    rng = np.random.default_rng(1)
    tensors = {}
    for i in range(LAYERS):
        for name in LORA_TARGETS:
            prefix = f"base_model.model.model.layers.{i}.self_attn.{name}"
            tensors[f"{prefix}.lora_A.weight"] = (rng.standard_normal((LORA_RANK, HIDDEN)) * 0.02).astype(np.float32)
            tensors[f"{prefix}.lora_B.weight"] = (rng.standard_normal((HIDDEN, LORA_RANK)) * 0.02).astype(np.float32)
    return tensors


def adapter_config(base_repo: str) -> dict[str, Any]:
    return {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": base_repo,
        "r": LORA_RANK,
        "lora_alpha": LORA_ALPHA,
        "lora_dropout": 0.05,
        "target_modules": list(LORA_TARGETS),
        "bias": "none",
        "fan_in_fan_out": False,
        "inference_mode": True,
        "init_lora_weights": True,
        "modules_to_save": None,
        "revision": None,
        "use_dora": False,
        "use_rslora": False,
    }


def parameters(tensors: dict[str, np.ndarray]) -> int:
    return sum(int(t.size) for t in tensors.values())


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2) + "\n").encode()


def checkpoint_files() -> tuple[dict[str, bytes], dict[str, Any]]:
    """The checkpoint's generated files, and the metadata they let it declare."""
    tokenizer = tokenizer_json()
    vocab_size = len(json.loads(tokenizer)["model"]["vocab"])
    weights = llama_weights(vocab_size)
    files = {
        "config.json": _json(llama_config(vocab_size)),
        "generation_config.json": _json({"bos_token_id": 2, "eos_token_id": 3, "pad_token_id": 0}),
        "tokenizer.json": tokenizer,
        "tokenizer_config.json": _json(
            {
                "tokenizer_class": "PreTrainedTokenizerFast",
                "model_max_length": CONTEXT,
                **dict(zip(("pad_token", "unk_token", "bos_token", "eos_token"), SPECIALS, strict=True)),
            }
        ),
        "model.safetensors": save(weights, metadata={"format": "pt"}),
    }
    metadata = {
        "architecture": "LlamaForCausalLM",
        "model_type": "llama",
        "parameters": parameters(weights),
        "context_length": CONTEXT,
    }
    return files, metadata


def adapter_files(base_repo: str) -> tuple[dict[str, bytes], dict[str, Any]]:
    """The adapter's generated files for the checkpoint published as `base_repo`, and its metadata."""
    weights = lora_weights()
    files = {
        "adapter_config.json": _json(adapter_config(base_repo)),
        "adapter_model.safetensors": save(weights, metadata={"format": "pt"}),
    }
    return files, {"base_architecture": "LlamaForCausalLM", "trainable_parameters": parameters(weights)}


def stage(name: str, target: Path, generated: dict[str, bytes]) -> Path:
    """examples/demo/<name>/ copied to `target` with the generated files added: a directory the
    `consortium` CLI pushes as it is."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(EXAMPLES / name, target)
    for path, data in generated.items():
        (target / path).parent.mkdir(parents=True, exist_ok=True)
        (target / path).write_bytes(data)
    return target
