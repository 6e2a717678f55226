"""The cost probe on the demo's tiny checkpoint and adapter: real transformers and peft in the
sandbox, offline; parameter counts checked against the safetensors files themselves."""

from __future__ import annotations

import math
import shutil
import statistics
from pathlib import Path

import pytest
from safetensors import safe_open

from jobs.probes.cost import Cost, probe
from jobs.sandbox import SandboxFailed
from registry.demo.files import adapter_files
from tests.jobs.conftest import files_written

GIB = 2**30


def _probe(tmp_path: Path, model: Path, adapter: Path | None = None, new_tokens: int = 32) -> Cost:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    return probe(
        model=model, adapter=adapter, new_tokens=new_tokens, scratch=scratch, time_limit=300, memory_limit=6 * GIB
    )


def _numel(path: Path) -> int:
    """The parameters a safetensors file holds, read from its header (no model involved)."""
    with safe_open(path, framework="numpy") as f:
        return sum(math.prod(f.get_slice(name).get_shape()) for name in f.keys())  # noqa: SIM118 (not a dict)


@pytest.fixture(scope="module")
def checkpoint_cost(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Cost:
    """The checkpoint probed once, for the tests that read its figures."""
    return _probe(tmp_path_factory.mktemp("cost"), tiny_checkpoint, new_tokens=8)


def test_the_checkpoint_costs_what_its_weights_say(tiny_checkpoint: Path, checkpoint_cost: Cost) -> None:
    found = checkpoint_cost
    expected = _numel(tiny_checkpoint / "model.safetensors")
    assert found.parameters == expected
    assert found.adapter_parameters is None
    assert found.memory_bytes == {"fp32": 4 * expected, "bf16": 2 * expected, "int8": expected}
    # the demo's weights are stored in fp32: their bytes on disk, less the header, are the fp32 figure
    weights = tiny_checkpoint / "model.safetensors"
    header = 8 + int.from_bytes(weights.read_bytes()[:8], "little")
    assert found.memory_bytes["fp32"] == weights.stat().st_size - header
    assert math.isfinite(found.tokens_per_second)
    assert found.tokens_per_second > 0
    assert 0 < found.found["seconds_to_first_token"] < 8 / found.tokens_per_second


def test_tokens_per_second_is_the_median_of_the_timed_repeats(checkpoint_cost: Cost) -> None:
    found = checkpoint_cost
    generation = found.found["generation"]
    assert generation["new_tokens"] == 8
    assert generation["batch"] == 1
    assert len(generation["seconds"]) == generation["repeats"] > 1
    assert found.tokens_per_second == pytest.approx(8 / statistics.median(generation["seconds"]))


def test_the_figures_are_labelled_with_the_hardware(checkpoint_cost: Cost) -> None:
    import torch

    hardware = checkpoint_cost.hardware
    assert hardware["processor"].strip()
    assert hardware["threads"] == 2
    assert hardware["device"] == ("cpu" if not torch.cuda.is_available() else torch.cuda.get_device_name(0))
    assert hardware["torch"] == torch.__version__
    assert hardware["processor"] in hardware["label"]
    assert "2 threads" in hardware["label"]


def test_an_adapter_adds_its_own_parameters_to_its_base(tiny_checkpoint: Path, tmp_path: Path) -> None:
    adapter = files_written(tmp_path / "adapter", adapter_files("aurora/pico-llama")[0])
    found = _probe(tmp_path, tiny_checkpoint, adapter, new_tokens=8)
    own = _numel(adapter / "adapter_model.safetensors")
    assert own > 0
    assert found.adapter_parameters == own
    assert found.parameters == _numel(tiny_checkpoint / "model.safetensors") + own
    assert found.memory_bytes["bf16"] == 2 * found.parameters
    assert found.tokens_per_second > 0


def test_a_directory_without_weights_fails_with_a_readable_reason(tiny_checkpoint: Path, tmp_path: Path) -> None:
    model = tmp_path / "no-weights"
    shutil.copytree(tiny_checkpoint, model)
    (model / "model.safetensors").unlink()
    with pytest.raises(SandboxFailed) as failed:
        _probe(tmp_path, model)
    reason = str(failed.value)
    assert reason.startswith("exited with status 1")
    assert "safetensors" in reason
