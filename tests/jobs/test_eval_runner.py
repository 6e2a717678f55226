"""The eval subprocess on the demo's tiny models and eval suite: real lm-evaluation-harness, offline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from jobs.evals.runner import Outcome, evaluate
from jobs.sandbox import SandboxFailed, environment
from registry.demo.files import EXAMPLES, adapter_files
from tests.jobs.conftest import files_written

pytest.importorskip("lm_eval", reason="the evals extra is not installed (make installs it: pip install .[evals])")

SUITE = EXAMPLES / "eval-suite"
GIB = 2**30


def _evaluate(
    model: Path, scratch: Path, *, time_limit: float = 300, memory_limit: int = 6 * GIB, **kwargs: Any
) -> Outcome:
    """The runner on the demo suite with roomy limits, unless the test sets its own."""
    return evaluate(
        model=model, suite=SUITE, scratch=scratch, time_limit=time_limit, memory_limit=memory_limit, **kwargs
    )


def _scratch(tmp_path: Path) -> Path:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    return scratch


def test_a_checkpoint_is_scored_on_every_task_of_the_suite(tiny_checkpoint: Path, tmp_path: Path) -> None:
    outcome = _evaluate(tiny_checkpoint, _scratch(tmp_path))
    found = {(s.task, s.metric): s for s in outcome.scores}
    assert set(found) == {
        ("pico_weather_cloze", "acc"),
        ("pico_weather_cloze", "acc_norm"),
        ("pico_weather_perplexity", "word_perplexity"),
        ("pico_weather_perplexity", "bits_per_byte"),
    }
    cloze = found[("pico_weather_cloze", "acc")]
    assert (cloze.samples, cloze.filter, cloze.task_version) == (16, "none", "1.0")
    assert cloze.value is not None
    assert 0 <= cloze.value <= 1
    assert cloze.stderr is not None
    perplexity = found[("pico_weather_perplexity", "word_perplexity")]
    assert perplexity.samples == 8
    assert perplexity.value is not None
    assert perplexity.value > 1
    assert outcome.harness_version == "0.4.13"


def test_the_same_model_scores_the_same_twice(tiny_checkpoint: Path, tmp_path: Path) -> None:
    runs = []
    for name in ("first", "second"):
        (tmp_path / name).mkdir()
        outcome = _evaluate(tiny_checkpoint, _scratch(tmp_path / name))
        runs.append([(s.task, s.metric, s.value) for s in outcome.scores])
    assert runs[0] == runs[1]


def test_an_adapter_is_scored_on_its_base(tiny_checkpoint: Path, tmp_path: Path) -> None:
    adapter = files_written(tmp_path / "adapter", adapter_files("aurora/pico-llama")[0])
    base = _evaluate(tiny_checkpoint, _scratch(tmp_path), tasks=["pico_weather_perplexity"])
    tuned = _evaluate(tiny_checkpoint, tmp_path / "scratch", adapter=adapter, tasks=["pico_weather_perplexity"])
    assert [s.task for s in tuned.scores] == ["pico_weather_perplexity", "pico_weather_perplexity"]
    assert [s.value for s in tuned.scores] != [s.value for s in base.scores], "the adapter's weights changed nothing"


def test_remote_code_is_never_run(tiny_checkpoint: Path, tmp_path: Path) -> None:
    """A config asking for custom modelling code fails: trust_remote_code is off in the subprocess."""
    model = tmp_path / "custom"
    model.mkdir()
    for path in tiny_checkpoint.iterdir():
        (model / path.name).write_bytes(path.read_bytes())
    config = json.loads((model / "config.json").read_text())
    config |= {"model_type": "pico-custom", "auto_map": {"AutoModelForCausalLM": "modeling_pico.PicoForCausalLM"}}
    (model / "config.json").write_text(json.dumps(config))
    (model / "modeling_pico.py").write_text("raise SystemExit('remote code ran')\n")
    with pytest.raises(SandboxFailed, match="exited with status") as failed:
        _evaluate(model, _scratch(tmp_path))
    assert "remote code ran" not in str(failed.value)


def test_a_crash_is_reported_with_its_cause(tmp_path: Path) -> None:
    model = tmp_path / "broken"
    model.mkdir()
    (model / "config.json").write_text("{not json")
    with pytest.raises(SandboxFailed, match=r"exited with status 1: .") as failed:
        _evaluate(model, _scratch(tmp_path))
    assert "config.json" in str(failed.value) or "JSON" in str(failed.value)


def test_the_time_limit_stops_the_run(tiny_checkpoint: Path, tmp_path: Path) -> None:
    with pytest.raises(SandboxFailed, match="time limit of 1 s"):
        _evaluate(tiny_checkpoint, _scratch(tmp_path), time_limit=1)


def test_the_memory_limit_stops_the_run(tiny_checkpoint: Path, tmp_path: Path) -> None:
    with pytest.raises(SandboxFailed, match="ran out of memory under the limit of 200 MiB"):
        _evaluate(tiny_checkpoint, _scratch(tmp_path), memory_limit=200 * 2**20)


def test_the_subprocess_gets_none_of_the_workers_secrets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("HF_TOKEN", "DATABASE_URL", "S3_SECRET_ACCESS_KEY", "DJANGO_SECRET_KEY"):
        monkeypatch.setenv(name, "secret-of-the-worker")
    env = environment(tmp_path)
    assert "secret-of-the-worker" not in env.values()
    assert env["HF_HUB_OFFLINE"] == env["HF_DATASETS_OFFLINE"] == "1"
    assert env["HF_HOME"].startswith(str(tmp_path))
