"""The compatibility probe's subprocess: loads a model with the usual tools, never its own code.

    python -m jobs.probes.compatibility_child --model DIR [--adapter DIR] --out FILE

Each check is recorded as passed, failed (with the exception that said so) or not applicable,
with the versions of the libraries used; one check failing never stops the others.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

SAMPLE = "The quick brown fox jumps over the lazy dog."
PICKLED = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
LIBRARIES = ("transformers", "torch", "peft", "tokenizers", "safetensors")


class Probe:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def check(self, name: str, run: Callable[[], str]) -> bool:
        try:
            detail = run()
        except Exception as exc:  # every failure is the finding, recorded as such
            self.rows.append({"check": name, "passed": False, "detail": f"{type(exc).__name__}: {exc}"[:500]})
            return False
        self.rows.append({"check": name, "passed": True, "detail": detail})
        return True

    def not_applicable(self, name: str, why: str) -> None:
        self.rows.append({"check": name, "passed": None, "detail": why})


def _no_remote_code(config: dict[str, Any]) -> str:
    if "auto_map" in config:
        raise ValueError(f"config.json maps classes to the repo's own code: {sorted(config['auto_map'])}")
    return "config.json names no custom code (auto_map)"


def _safetensors_only(model: Path) -> str:
    pickled = sorted(p.name for p in model.rglob("*") if p.suffix in PICKLED)
    if pickled:
        raise ValueError(f"pickled weights beside or instead of safetensors: {', '.join(pickled)}")
    tensors = sorted(p.name for p in model.rglob("*.safetensors"))
    if not tensors:
        raise ValueError("no .safetensors file")
    return ", ".join(tensors)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs.probes.compatibility_child")
    parser.add_argument("--model", required=True, type=Path, help="a checkpoint's files, or an adapter's base")
    parser.add_argument("--adapter", type=Path, help="a PEFT adapter's files, loaded on --model")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)

    import importlib.metadata

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    probe = Probe()
    loaded: dict[str, Any] = {}
    config = json.loads((args.model / "config.json").read_text())
    probe.check("no remote code", lambda: _no_remote_code(config))
    probe.check("safetensors only", lambda: _safetensors_only(args.model))
    probe.check(
        "transformers AutoConfig",
        lambda: AutoConfig.from_pretrained(args.model, trust_remote_code=False).model_type,
    )

    def tokenizer() -> str:
        loaded["tokenizer"] = AutoTokenizer.from_pretrained(args.model, trust_remote_code=False)
        return type(loaded["tokenizer"]).__name__

    def round_trip() -> str:
        ids = loaded["tokenizer"](SAMPLE, add_special_tokens=False)["input_ids"]
        back = loaded["tokenizer"].decode(ids, skip_special_tokens=True).strip()
        if back != SAMPLE:
            raise ValueError(f"{SAMPLE!r} came back as {back!r}")
        return f"{len(ids)} tokens, decoded unchanged"

    def chat() -> str:
        rendered = loaded["tokenizer"].apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False)
        return f"{len(rendered)} characters for one user turn"

    def model() -> str:
        loaded["model"] = AutoModelForCausalLM.from_pretrained(
            args.model, use_safetensors=True, trust_remote_code=False, dtype=torch.float32
        )
        return type(loaded["model"]).__name__

    def generates(key: str) -> Callable[[], str]:
        def run() -> str:
            inputs = loaded["tokenizer"]("the", return_tensors="pt", return_token_type_ids=False)
            with torch.no_grad():
                logits = loaded[key](**inputs).logits
                if not torch.isfinite(logits).all():
                    raise ValueError("non-finite logits")
                out = loaded[key].generate(**inputs, max_new_tokens=4, do_sample=False)
            return f"{out.shape[-1] - inputs['input_ids'].shape[-1]} new tokens, finite logits"

        return run

    if probe.check("tokenizer loads (AutoTokenizer)", tokenizer):
        probe.check("tokenizer round-trip", round_trip)
        if getattr(loaded["tokenizer"], "chat_template", None):
            probe.check("chat template renders", chat)
        else:
            probe.not_applicable("chat template renders", "the tokenizer declares no chat template")
    if probe.check("model loads (AutoModelForCausalLM, safetensors)", model) and "tokenizer" in loaded:
        probe.check("model generates", generates("model"))
    if args.adapter:
        from peft import PeftModel

        def adapter() -> str:
            loaded["adapter"] = PeftModel.from_pretrained(loaded["model"], args.adapter)
            return f"{type(loaded['adapter']).__name__} on {type(loaded['model']).__name__}"

        if "model" in loaded and probe.check("adapter loads on its base (peft)", adapter) and "tokenizer" in loaded:
            probe.check("adapter generates", generates("adapter"))
    libraries = {name: importlib.metadata.version(name) for name in LIBRARIES}
    args.out.write_text(json.dumps({"checks": probe.rows, "libraries": libraries}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
