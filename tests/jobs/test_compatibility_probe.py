"""The tooling-compatibility probe on the demo's tiny checkpoint and adapter: real transformers and
peft in the sandbox, offline."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from jobs.probes.compatibility import Compatibility, probe
from registry.demo.files import adapter_files
from tests.jobs.conftest import files_written

GIB = 2**30


def _probe(tmp_path: Path, model: Path, adapter: Path | None = None) -> Compatibility:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    return probe(model=model, adapter=adapter, scratch=scratch, time_limit=300, memory_limit=6 * GIB)


def _matrix(found: Compatibility) -> dict[str, bool | None]:
    return {c.check: c.passed for c in found.checks}


def test_the_demo_checkpoint_loads_and_generates_with_transformers(tiny_checkpoint: Path, tmp_path: Path) -> None:
    found = _probe(tmp_path, tiny_checkpoint)
    assert _matrix(found) == {
        "no remote code": True,
        "safetensors only": True,
        "transformers AutoConfig": True,
        "tokenizer loads (AutoTokenizer)": True,
        # the demo's word-level vocabulary knows the weather, not foxes: it says so
        "tokenizer round-trip": False,
        "chat template renders": None,
        "model loads (AutoModelForCausalLM, safetensors)": True,
        "model generates": True,
    }
    round_trip = next(c for c in found.checks if c.check == "tokenizer round-trip")
    assert "came back as" in round_trip.detail
    assert set(found.libraries) == {"transformers", "torch", "peft", "tokenizers", "safetensors"}
    assert found.libraries["torch"].startswith("2.13.0")
    assert not found.passed


def test_an_adapter_loads_and_generates_on_its_base(tiny_checkpoint: Path, tmp_path: Path) -> None:
    adapter = files_written(tmp_path / "adapter", adapter_files("aurora/pico-llama")[0])
    matrix = _matrix(_probe(tmp_path, tiny_checkpoint, adapter))
    assert matrix["adapter loads on its base (peft)"] is True
    assert matrix["adapter generates"] is True


def test_remote_code_and_pickled_weights_are_findings_and_nothing_runs(tiny_checkpoint: Path, tmp_path: Path) -> None:
    model = tmp_path / "custom"
    shutil.copytree(tiny_checkpoint, model)
    config = json.loads((model / "config.json").read_text())
    config |= {"model_type": "pico-custom", "auto_map": {"AutoModelForCausalLM": "modeling_pico.PicoForCausalLM"}}
    (model / "config.json").write_text(json.dumps(config))
    (model / "modeling_pico.py").write_text("raise SystemExit('remote code ran')\n")
    (model / "pytorch_model.bin").write_bytes(b"\x80\x04not loaded")
    found = _probe(tmp_path, model)
    details = {c.check: c.detail for c in found.checks}
    matrix = _matrix(found)
    assert matrix["no remote code"] is False
    assert "AutoModelForCausalLM" in details["no remote code"]
    assert matrix["safetensors only"] is False
    assert "pytorch_model.bin" in details["safetensors only"]
    assert matrix["transformers AutoConfig"] is False
    assert matrix["model loads (AutoModelForCausalLM, safetensors)"] is False
    assert not any("remote code ran" in detail for detail in details.values())
