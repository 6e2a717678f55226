"""The fine-tunability probe's subprocess: a short, fixed LoRA run with peft.

    python -m jobs.probes.finetune_child --model DIR --train FILE --heldout FILE --steps K --out FILE

Fixed budget and seed (rank 8, alpha 16, AdamW at 5e-3, batch 8, K steps on CPU, 2 threads), so
checkpoints of similar size and tokenizer are comparable. Records the held-out loss before and
after, every training loss, stability (non-finite losses, a final loss above the first), wall time
and seconds per step. LoRA targets come from peft's table for the model type.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

RANK, ALPHA, LEARNING_RATE, BATCH, SEED = 8, 16, 5e-3, 8, 0


def _texts(path: Path) -> list[str]:
    return [json.loads(line)["text"] for line in path.read_text().splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs.probes.finetune_child")
    parser.add_argument("--model", required=True, type=Path)
    parser.add_argument("--train", required=True, type=Path)
    parser.add_argument("--heldout", required=True, type=Path)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(SEED)
    torch.set_num_threads(2)
    tokenizer = AutoTokenizer.from_pretrained(args.model, trust_remote_code=False)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    base = AutoModelForCausalLM.from_pretrained(
        args.model, use_safetensors=True, trust_remote_code=False, dtype=torch.float32
    )
    model = get_peft_model(base, LoraConfig(r=RANK, lora_alpha=ALPHA, lora_dropout=0.0, task_type="CAUSAL_LM"))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)

    def batch(texts: list[str]) -> dict[str, Any]:
        encoded = tokenizer(texts, return_tensors="pt", padding=True, return_token_type_ids=False)
        encoded["labels"] = encoded["input_ids"].masked_fill(encoded["attention_mask"] == 0, -100)
        return encoded

    heldout = batch(_texts(args.heldout))
    train = _texts(args.train)

    def heldout_loss() -> float:
        model.eval()
        with torch.no_grad():
            return float(model(**heldout).loss)

    before = heldout_loss()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=LEARNING_RATE)
    losses = []
    started = time.monotonic()
    model.train()
    for step in range(args.steps):
        chunk = [train[(step * BATCH + i) % len(train)] for i in range(BATCH)]
        loss = model(**batch(chunk)).loss
        losses.append(float(loss))
        if not math.isfinite(losses[-1]):
            break
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    seconds = time.monotonic() - started
    after = heldout_loss()
    finite = all(math.isfinite(x) for x in [*losses, before, after])
    result = {
        "steps": len(losses),
        "trainable_parameters": trainable,
        "heldout_loss_before": before,
        "heldout_loss_after": after if math.isfinite(after) else None,
        "relative_heldout_drop": (before - after) / before if finite and before else None,
        "train_losses": [x if math.isfinite(x) else None for x in losses],
        "stable": finite and losses[-1] <= losses[0],
        "seconds": seconds,
        "seconds_per_step": seconds / max(1, len(losses)),
        "budget": {"rank": RANK, "alpha": ALPHA, "learning_rate": LEARNING_RATE, "batch": BATCH, "seed": SEED},
    }
    args.out.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
