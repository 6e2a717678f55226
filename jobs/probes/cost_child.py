"""The cost probe's subprocess: what a model costs to hold and to run, on this worker's hardware.

    python -m jobs.probes.cost_child --model DIR [--adapter DIR] [--new-tokens N] --out FILE

Counts the parameters of the loaded model (the base and the adapter on it, when one is given) and
the bytes its weights take at fp32, bf16 and int8 (weights only: no activations, KV cache or
runtime). Then times greedy generation of exactly N new tokens (eos cannot stop it early) from a
fixed short prompt, batch 1, after one warm-up: the median of several repeats gives tokens per
second, and a one-token generation the seconds to the first token. Figures are labelled with the
hardware that produced them (processor, threads, device, torch version); they compare only within
one label.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PROMPT = "the weather today is"
REPEATS, THREADS, SEED = 5, 2, 0
BYTES_PER_PARAMETER = {"fp32": 4, "bf16": 2, "int8": 1}


def processor() -> str:
    """The CPU's model name as the kernel reports it, else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def hardware(torch: Any, device: str) -> dict[str, Any]:
    label = {
        "processor": processor(),
        "machine": platform.machine(),
        "threads": torch.get_num_threads(),
        "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
        "torch": torch.__version__,
    }
    label["label"] = f"{label['device']} / {label['processor']}, {label['threads']} threads, torch {label['torch']}"
    return label


def median_seconds(run: Callable[[], None], repeats: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times), times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs.probes.cost_child")
    parser.add_argument("--model", required=True, type=Path, help="a checkpoint's files, or an adapter's base")
    parser.add_argument("--adapter", type=Path, help="a PEFT adapter's files, loaded on --model")
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    if args.new_tokens < 1:
        parser.error("--new-tokens must be at least 1")

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(SEED)
    torch.set_num_threads(THREADS)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer = AutoTokenizer.from_pretrained(args.model, trust_remote_code=False)
    model: Any = AutoModelForCausalLM.from_pretrained(
        args.model, use_safetensors=True, trust_remote_code=False, dtype=torch.float32
    )
    base_parameters = sum(p.numel() for p in model.parameters())
    if args.adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, args.adapter)
    model = model.to(device).eval()
    parameters = sum(p.numel() for p in model.parameters())

    inputs = tokenizer(PROMPT, return_tensors="pt", return_token_type_ids=False).to(device)
    prompt_tokens = int(inputs["input_ids"].shape[-1])
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    produced: list[int] = []

    def generate(new_tokens: int) -> Callable[[], None]:
        def run() -> None:
            with torch.no_grad():
                out = model.generate(
                    **inputs,
                    max_new_tokens=new_tokens,
                    min_new_tokens=new_tokens,
                    do_sample=False,
                    pad_token_id=pad,
                )
            if device == "cuda":
                torch.cuda.synchronize()
            produced.append(int(out.shape[-1]) - prompt_tokens)

        return run

    generate(args.new_tokens)()  # warm-up: first-call allocations and kernel choices
    seconds, times = median_seconds(generate(args.new_tokens), REPEATS)
    first_token, _ = median_seconds(generate(1), REPEATS)
    if produced[: REPEATS + 1] != [args.new_tokens] * (REPEATS + 1):
        raise RuntimeError(f"asked for {args.new_tokens} new tokens, got {produced[: REPEATS + 1]}")
    result = {
        "parameters": parameters,
        "adapter_parameters": parameters - base_parameters if args.adapter else None,
        "memory_bytes": {name: parameters * size for name, size in BYTES_PER_PARAMETER.items()},
        "tokens_per_second": args.new_tokens / seconds,
        "seconds_to_first_token": first_token,
        "hardware": hardware(torch, device),
        "generation": {
            "prompt": PROMPT,
            "prompt_tokens": prompt_tokens,
            "new_tokens": args.new_tokens,
            "repeats": REPEATS,
            "seconds": times,
            "greedy": True,
            "batch": 1,
        },
        # the whole process at its peak (weights, runtime, libraries): an upper bound, not the weights
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }
    args.out.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
