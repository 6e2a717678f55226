"""Clean model files built on the fly: a tiny Llama-shaped checkpoint (safetensors, config and a
tokenizer) that every check must pass."""

from __future__ import annotations

import json

import numpy as np
from safetensors.numpy import save
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from tokenizers.pre_tokenizers import Whitespace

HIDDEN, LAYERS, VOCAB = 16, 2, 32


def tiny_weights(hidden: int = HIDDEN, layers: int = LAYERS, vocab: int = VOCAB) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    tensors = {"model.embed_tokens.weight": rng.standard_normal((vocab, hidden), dtype=np.float32)}
    for i in range(layers):
        for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
            tensors[f"model.layers.{i}.self_attn.{name}.weight"] = rng.standard_normal(
                (hidden, hidden), dtype=np.float32
            )
    tensors["lm_head.weight"] = rng.standard_normal((vocab, hidden), dtype=np.float32)
    return tensors


def tiny_config(hidden: int = HIDDEN, layers: int = LAYERS, vocab: int = VOCAB) -> dict[str, object]:
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": 2,
        "max_position_embeddings": 128,
        "vocab_size": vocab,
        "torch_dtype": "float32",
    }


def tiny_tokenizer(vocab: int = VOCAB) -> bytes:
    words = {"[UNK]": 0, **{f"w{i}": i for i in range(1, vocab)}}
    tokenizer = Tokenizer(WordLevel(words, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = Whitespace()
    return tokenizer.to_str().encode()


def clean_checkpoint() -> dict[str, bytes]:
    return {
        "model.safetensors": save(tiny_weights(), metadata={"format": "pt"}),
        "config.json": json.dumps(tiny_config()).encode(),
        "tokenizer.json": tiny_tokenizer(),
        "README.md": b"# tiny\n\nA tiny Llama-shaped checkpoint for tests.\n",
    }
