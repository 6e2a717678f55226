"""Format and metadata checks of checkpoints and adapters, on files really stored in SeaweedFS."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import sentencepiece
from safetensors.numpy import save

from jobs.checks import base as checks_base
from jobs.checks.base import CheckContext, FileRef
from jobs.checks.formats import adapter
from jobs.checks.safetensors_header import Header, parse_header, read_header
from registry.models import Version
from tests.corpus import Case
from tests.corpus.models import clean_checkpoint, tiny_config, tiny_weights
from tests.corpus.safetensors import (
    CASES,
    WEIGHTS,
    checkpoint_with,
    clean_adapter,
    f32,
    raw_safetensors,
)
from tests.factories import LineageEdgeFactory
from tests.jobs.conftest import StoredVersion, run_check

pytestmark = pytest.mark.django_db

HUB_REPO, HUB_REVISION = "meta-llama/Llama-3.1-8B", "a" * 40


def messages(ctx: CheckContext) -> list[str]:
    return [str(r) for r in ctx.reasons]


def lora(modules: dict[str, tuple[int, int, int]]) -> bytes:
    """LoRA factors for {module: (r, in, out)} under PEFT's saved prefix."""
    tensors = {}
    for module, (r, n_in, n_out) in modules.items():
        tensors[f"base_model.model.{module}.lora_A.weight"] = np.zeros((r, n_in), np.float32)
        tensors[f"base_model.model.{module}.lora_B.weight"] = np.zeros((n_out, r), np.float32)
    return save(tensors)


@pytest.fixture
def base(stored_version: StoredVersion) -> Version:
    return stored_version("checkpoint", clean_checkpoint(), state=Version.State.IN_REVIEW)


def adapter_on(stored_version: StoredVersion, base: Version, files: dict[str, bytes], **kw: object) -> Version:
    version = stored_version("adapter", files, **kw)
    LineageEdgeFactory(child=version, parent=base, relation="derived_from")
    return version


# The header reader, on its own


def test_valid_header_gives_tensors_metadata_and_parameters() -> None:
    data = save({"w": np.zeros((2, 3), np.float32), "b": np.zeros(4, np.float16)}, metadata={"format": "pt"})
    n = int.from_bytes(data[:8], "little")
    header = parse_header(data[: 8 + n], len(data))
    assert isinstance(header, Header)
    assert header.tensors["w"].shape == (2, 3)
    assert header.tensors["b"].dtype == "F16"
    assert header.metadata == {"format": "pt"}
    assert header.parameters == 10
    assert header.dtype_bytes() == {"F32": 24, "F16": 8}


def test_library_accepts_repeated_names_that_the_header_check_refuses() -> None:
    """safetensors 0.8 resolves a repeated tensor name last-wins without a word; we refuse it."""
    entry = json.dumps(f32([2], 0))
    head = raw_safetensors(f'{{"a": {entry}, "a": {entry}}}'.encode())
    problems = parse_header(head, len(head) + 8)
    assert isinstance(problems, list)
    assert [r.code for r in problems] == ["safetensors_duplicate_key"]


def test_every_problem_in_one_header_is_its_own_reason() -> None:
    header = {
        "a": {"dtype": "Q7", "shape": [2], "data_offsets": [0, 8]},
        "b": {"dtype": "F32", "shape": [3], "data_offsets": [8, 16]},
        "c": {"dtype": "F32", "shape": [2], "data_offsets": [16, 999]},
        "d": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8], "extra": 1},
    }
    head = raw_safetensors(header, 0)
    problems = parse_header(head, len(head) + 24, path=WEIGHTS)
    assert isinstance(problems, list)
    codes = sorted(r.code for r in problems)
    # c is both out of range and the wrong size for its shape: two problems
    assert codes == [
        "safetensors_dtype",
        "safetensors_offsets",
        "safetensors_size",
        "safetensors_size",
        "safetensors_tensor",
    ]
    assert all(r.path == WEIGHTS for r in problems)


def test_a_header_for_terabytes_is_validated_without_disk_or_memory(tmp_path: Path) -> None:
    """The sparse temp file has the real size, so the library checks offsets against it for free."""
    numel = 2**40 // 2
    head = raw_safetensors({"w": {"dtype": "BF16", "shape": [numel], "data_offsets": [0, 2**40]}}, 0)
    header = parse_header(head, len(head) + 2**40)
    assert isinstance(header, Header)
    assert header.parameters == numel


def test_temp_files_are_always_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    good = save({"w": np.zeros(2, np.float32)})
    parse_header(good, len(good))
    bad = raw_safetensors({"w": f32([2], 0)})
    parse_header(bad[:-8], len(bad) + 4)  # rejected by our pass, before the library
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def read_lengths(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The length of every ranged read checks make from storage."""
    lengths: list[int] = []
    real = checks_base.s3io.read_range

    def counting(key: str, start: int, length: int) -> bytes:
        lengths.append(length)
        return real(key, start, length)

    monkeypatch.setattr(checks_base.s3io, "read_range", counting)
    return lengths


def test_reading_a_header_fetches_only_the_header(stored_version: StoredVersion, read_lengths: list[int]) -> None:
    weights = save({"big": np.zeros(2**20, np.float32)})  # 4 MiB of data after a small header
    version = stored_version("checkpoint", {WEIGHTS: weights})
    header = read_header(FileRef.of(version.files.get()))
    assert isinstance(header, Header)
    assert sum(read_lengths) == 8 + header.header_bytes < 1024


def test_an_absurd_header_length_reads_eight_bytes(stored_version: StoredVersion, read_lengths: list[int]) -> None:
    version = stored_version("checkpoint", {WEIGHTS: (2**62).to_bytes(8, "little") + bytes(100)})
    problems = read_header(FileRef.of(version.files.get()))
    assert isinstance(problems, list)
    assert problems[0].code == "safetensors_header_too_large"
    assert read_lengths == [8]


def test_the_header_cap_is_a_setting(settings, stored_version: StoredVersion) -> None:
    settings.SAFETENSORS_MAX_HEADER_BYTES = 64
    version = stored_version("checkpoint", clean_checkpoint())
    ctx = run_check("format", version)
    assert any("over the 64-byte limit" in m for m in messages(ctx)), messages(ctx)


# Checkpoints


def test_clean_checkpoint_passes_format_and_metadata(stored_version: StoredVersion) -> None:
    version = stored_version("checkpoint", clean_checkpoint())

    fmt = run_check("format", version)
    assert fmt.passed, messages(fmt)
    assert fmt.details["weights"]["format"] == "safetensors"
    assert fmt.details["config"]["architectures"] == ["LlamaForCausalLM"]
    assert fmt.details["tokenizer"]["tokenizer.json"] == {"vocab_size": 32}
    assert "LlamaForCausalLM" in fmt.summary
    json.dumps(fmt.details)

    meta = run_check("metadata", version)
    assert meta.passed, messages(meta)
    expected = sum(t.size for t in tiny_weights().values())
    assert meta.details["parameters"] == expected
    assert meta.details["tensors"] == len(tiny_weights())
    assert meta.details["dtype"] == "F32"
    assert meta.details["dtype_bytes"] == {"F32": 4 * expected}
    assert (meta.details["architecture"], meta.details["model_type"]) == ("LlamaForCausalLM", "llama")
    assert (meta.details["context_length"], meta.details["vocab_size"]) == (128, 32)
    assert (meta.details["hidden_size"], meta.details["layers"], meta.details["heads"]) == (16, 2, 2)
    json.dumps(meta.details)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_corpus_case_is_refused_with_its_reason(stored_version: StoredVersion, case: Case) -> None:
    version = stored_version(case.kind, case.files, metadata=case.metadata)
    found = [r for step in ("format", "metadata") for r in run_check(step, version).reasons]
    assert any(r.path == case.path and all(w.lower() in r.message.lower() for w in case.words) for r in found), [
        str(r) for r in found
    ]


def test_every_broken_file_gets_its_own_reason(stored_version: StoredVersion) -> None:
    files = checkpoint_with(
        {
            "model-a.safetensors": raw_safetensors({"a": f32([2], 0)}, trailing=3),
            "model-b.safetensors": raw_safetensors(b"[]"),
            "config.json": json.dumps({**tiny_config(), "auto_map": {"AutoModel": "m.M"}}).encode(),
            "m.py": b"",
            "tokenizer.json": b"{}",
        }
    )
    ctx = run_check("format", stored_version("checkpoint", files))
    assert {r.path for r in ctx.reasons} == {
        "model-a.safetensors",
        "model-b.safetensors",
        "config.json",
        "m.py",
        "tokenizer.json",
    }
    assert "5 files" in ctx.summary


def test_declared_remote_code_passes_and_is_recorded(stored_version: StoredVersion) -> None:
    files = checkpoint_with(
        {
            "config.json": json.dumps({**tiny_config(), "auto_map": {"AutoModel": "m.M"}}).encode(),
            "m.py": b"class M: ...\n",
        }
    )
    ctx = run_check("format", stored_version("checkpoint", files, metadata={"remote_code": True}))
    assert ctx.passed, messages(ctx)
    assert ctx.details["remote_code"] == {
        "declared": True,
        "auto_map": {"config.json": {"AutoModel": "m.M"}},
        "python_files": ["m.py"],
    }


def test_remote_code_must_be_declared_as_true_exactly(stored_version: StoredVersion) -> None:
    files = checkpoint_with({"m.py": b""})
    ctx = run_check("format", stored_version("checkpoint", files, metadata={"remote_code": "yes"}))
    assert [r.code for r in ctx.reasons] == ["remote_code"]


def test_sharded_checkpoint_with_a_consistent_index_passes(stored_version: StoredVersion) -> None:
    weights = tiny_weights()
    names = sorted(weights)
    first, second = names[: len(names) // 2], names[len(names) // 2 :]
    shards = {"model-00001-of-00002.safetensors": first, "model-00002-of-00002.safetensors": second}
    files = checkpoint_with(
        {path: save({n: weights[n] for n in ns}) for path, ns in shards.items()}
        | {
            "model.safetensors.index.json": json.dumps(
                {"metadata": {"total_size": 1}, "weight_map": {n: p for p, ns in shards.items() for n in ns}}
            ).encode()
        },
        drop=(WEIGHTS,),
    )
    version = stored_version("checkpoint", files)
    ctx = run_check("format", version)
    assert ctx.passed, messages(ctx)
    assert ctx.details["indexes"]["model.safetensors.index.json"] == {"shards": 2, "tensors": 10, "total_size": 1}
    assert run_check("metadata", version).details["parameters"] == sum(w.size for w in weights.values())


def test_a_tensor_in_two_shards_is_refused(stored_version: StoredVersion) -> None:
    shards = {"s1.safetensors": save({"a": np.zeros(2, np.float32)}), "s2.safetensors": save({"a": np.zeros(2)})}
    index = {"weight_map": {"a": "s1.safetensors"}}
    files = checkpoint_with(shards | {"model.safetensors.index.json": json.dumps(index).encode()}, drop=(WEIGHTS,))
    ctx = run_check("format", stored_version("checkpoint", files))
    assert messages(ctx) == []  # s2 is not listed by the index, so it is not one of its shards
    index = {"weight_map": {"a": "s1.safetensors", "b": "s2.safetensors"}}
    files["model.safetensors.index.json"] = json.dumps(index).encode()
    ctx = run_check("format", stored_version("checkpoint", files))
    assert any("more than one shard: 'a'" in m for m in messages(ctx)), messages(ctx)


def sentencepiece_model() -> bytes:
    out = io.BytesIO()
    words = [f"w{i}" for i in range(40)]
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(" ".join(words[i:] + words[:i]) for i in range(40)),
        model_writer=out,
        vocab_size=30,
        model_type="word",
        minloglevel=2,
    )
    return out.getvalue()


def test_sentencepiece_tokenizer_loads_and_gives_the_vocabulary(stored_version: StoredVersion) -> None:
    config = {k: v for k, v in tiny_config().items() if k != "vocab_size"}
    files = checkpoint_with(
        {"tokenizer.model": sentencepiece_model(), "config.json": json.dumps(config).encode()}, drop=("tokenizer.json",)
    )
    version = stored_version("checkpoint", files)
    fmt = run_check("format", version)
    assert fmt.passed, messages(fmt)
    assert fmt.details["tokenizer"]["tokenizer.model"] == {"vocab_size": 30}
    meta = run_check("metadata", version)
    assert (meta.details["vocab_size"], meta.details["vocab_source"]) == (30, "tokenizer.model")


def test_pickle_weights_are_noted_not_read(stored_version: StoredVersion) -> None:
    files = checkpoint_with({"pytorch_model.bin": b"\x80\x04K\x01."}, drop=(WEIGHTS,))
    version = stored_version("checkpoint", files)
    fmt = run_check("format", version)
    assert fmt.passed, messages(fmt)
    assert fmt.details["weights"]["format"] == "pickle"
    assert fmt.details["weights"]["pickle"] == ["pytorch_model.bin"]
    meta = run_check("metadata", version)
    assert meta.passed
    assert meta.details["parameters"] is None
    assert meta.details["architecture"] == "LlamaForCausalLM"


# Metadata


@pytest.mark.parametrize("declared", [3072, 3090, "3.08K", {"x": 1}])
def test_declared_parameters_within_one_percent_or_unparsed_pass(stored_version: StoredVersion, declared) -> None:
    ctx = run_check("metadata", stored_version("checkpoint", clean_checkpoint(), metadata={"parameters": declared}))
    assert ctx.passed, messages(ctx)


@pytest.mark.parametrize(
    ("declared", "words"),
    [
        ({"architecture": "MistralForCausalLM"}, "declared architecture MistralForCausalLM but config.json says Llama"),
        ({"context_length": 4096}, "declared context_length 4096 but config.json says 128"),
        ({"parameters": "1B"}, "declared parameters 1,000,000,000 but the safetensors headers hold 3,072"),
    ],
)
def test_declared_metadata_contradicting_the_files_fails(stored_version: StoredVersion, declared, words) -> None:
    ctx = run_check("metadata", stored_version("checkpoint", clean_checkpoint(), metadata=declared))
    assert any(words in m for m in messages(ctx)), messages(ctx)


def test_metadata_fails_only_when_nothing_can_be_extracted(stored_version: StoredVersion) -> None:
    ctx = run_check("metadata", stored_version("checkpoint", {"README.md": b"# nothing\n"}))
    assert [r.code for r in ctx.reasons] == ["metadata_unavailable"]
    broken = checkpoint_with({"config.json": b"{}", WEIGHTS: raw_safetensors(b"[]")})
    assert not run_check("metadata", stored_version("checkpoint", broken)).passed
    only_config = checkpoint_with({}, drop=(WEIGHTS,))
    assert run_check("metadata", stored_version("checkpoint", only_config)).passed


# Adapters


def test_lora_adapter_over_a_registry_base_passes(stored_version: StoredVersion, base: Version) -> None:
    files = clean_adapter(base_model_name_or_path="org/tiny-llama")
    version = adapter_on(stored_version, base, files, metadata={"base_architecture": "LlamaForCausalLM"})

    fmt = run_check("format", version)
    assert fmt.passed, messages(fmt)
    assert fmt.details["base"] == {
        "version": str(base),
        "public_id": str(base.public_id),
        "architecture": "LlamaForCausalLM",
        "base_model_name_or_path": "org/tiny-llama",
        "shapes_checked": True,
    }
    assert fmt.details["weights"]["adapted_modules"] == 4
    assert fmt.details["peft"]["config_class"] == "LoraConfig"

    meta = run_check("metadata", version)
    assert meta.passed, messages(meta)
    assert meta.details["r"] == 4
    assert meta.details["alpha"] == 8
    assert meta.details["target_modules"] == ["q_proj", "v_proj"]
    assert meta.details["trainable_parameters"] == 2 * 2 * (4 * 16 + 16 * 4)


def test_adapter_without_a_derived_from_base_fails(stored_version: StoredVersion, base: Version) -> None:
    version = stored_version("adapter", clean_adapter())
    LineageEdgeFactory(child=version, parent=base, relation="trained_on")
    ctx = run_check("format", version)
    assert messages(ctx) == ["adapter has no derived_from base: add the checkpoint it adapts to its lineage"]


def test_adapter_over_a_base_with_other_shapes_names_both(stored_version: StoredVersion) -> None:
    bigger = {
        WEIGHTS: save(tiny_weights(hidden=32)),
        "config.json": json.dumps({**tiny_config(hidden=32), "architectures": ["MistralForCausalLM"]}).encode(),
    }
    other = stored_version("checkpoint", bigger)
    version = adapter_on(stored_version, other, clean_adapter(), metadata={"base_architecture": "LlamaForCausalLM"})
    ctx = run_check("format", version)
    text = "\n".join(messages(ctx))
    assert "declared base_architecture LlamaForCausalLM but the base" in text
    assert "the base architecture differs: 4 module shapes" in text
    assert "adapter needs [16, 16], base has [32, 32]" in text
    assert "(MistralForCausalLM)" in text


def test_adapter_over_a_base_lacking_its_modules_fails(stored_version: StoredVersion) -> None:
    gpt2 = {
        WEIGHTS: save({"transformer.h.0.attn.c_attn.weight": np.zeros((16, 48), np.float32)}),
        "config.json": json.dumps({"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2"}).encode(),
    }
    version = adapter_on(stored_version, stored_version("checkpoint", gpt2), clean_adapter())
    ctx = run_check("format", version)
    assert any(
        "adapts 4 modules the base" in m and "(GPT2LMHeadModel) does not have" in m and "q_proj.weight" in m
        for m in messages(ctx)
    ), messages(ctx)


def test_adapter_whose_base_is_another_adapter_fails(stored_version: StoredVersion, base: Version) -> None:
    middle = adapter_on(stored_version, base, clean_adapter())
    ctx = run_check("format", adapter_on(stored_version, middle, clean_adapter()))
    assert any("is of kind adapter, not a checkpoint" in m for m in messages(ctx)), messages(ctx)


def test_ranks_follow_rank_pattern(stored_version: StoredVersion, base: Version) -> None:
    modules = {
        f"model.layers.{i}.self_attn.{m}": (2 if m == "v_proj" else 4, 16, 16)
        for i in range(2)
        for m in ("q_proj", "v_proj")
    }
    files = clean_adapter(lora(modules), rank_pattern={"v_proj": 2})
    assert run_check("format", adapter_on(stored_version, base, files)).passed
    files = clean_adapter(lora(modules))
    ctx = run_check("format", adapter_on(stored_version, base, files))
    assert any("2 modules' ranks differ" in m and "expected r=4" in m for m in messages(ctx)), messages(ctx)


def test_adapted_modules_must_match_target_modules(stored_version: StoredVersion, base: Version) -> None:
    ctx = run_check("format", adapter_on(stored_version, base, clean_adapter(target_modules=["q_proj"])))
    assert any("not matched by target_modules" in m and "v_proj" in m for m in messages(ctx)), messages(ctx)
    ctx = run_check(
        "format", adapter_on(stored_version, base, clean_adapter(target_modules=["q_proj", "v_proj", "o_proj"]))
    )
    assert any("entries with no tensors" in m and "'o_proj'" in m for m in messages(ctx)), messages(ctx)
    regex = clean_adapter(target_modules=r".*\.(q|v)_proj")
    assert run_check("format", adapter_on(stored_version, base, regex)).passed


def test_invalid_peft_fields_are_each_reported(stored_version: StoredVersion, base: Version) -> None:
    files = clean_adapter(r="four", lora_dropout=[0.1], enable_lora=True, task_type="TRANSLATE")
    ctx = run_check("format", adapter_on(stored_version, base, files))
    text = "\n".join(messages(ctx))
    assert "unknown field(s) for LoraConfig: enable_lora" in text
    assert 'r: "four" is not of type int' in text
    assert "lora_dropout: [0.1] is not of type float" in text
    assert all(r.path == "adapter_config.json" for r in ctx.reasons)


def test_peft_rejects_what_its_class_rejects(stored_version: StoredVersion, base: Version) -> None:
    ctx = run_check("format", adapter_on(stored_version, base, clean_adapter(task_type="TRANSLATE")))
    assert any("LoraConfig rejects it: Invalid task type" in m for m in messages(ctx)), messages(ctx)


def test_a_slow_peft_validator_is_a_failure_not_a_hang(settings, stored_version: StoredVersion, base: Version) -> None:
    settings.PEFT_CHECK_TIMEOUT_SECONDS = 0.01
    ctx = run_check("format", adapter_on(stored_version, base, clean_adapter()))
    assert any("PEFT did not finish validating it within 0.01 s" in m for m in messages(ctx)), messages(ctx)


def test_a_crashing_peft_validator_is_an_infrastructure_error_never_a_verdict(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, stored_version: StoredVersion, base: Version
) -> None:
    script = tmp_path / "crash.py"
    script.write_text("import sys\nsys.stderr.write('boom\\n')\nsys.exit(3)\n")
    monkeypatch.setattr(adapter, "VALIDATOR", script)
    version = adapter_on(stored_version, base, clean_adapter())
    with pytest.raises(RuntimeError, match="the PEFT validator exited with code 3: boom"):
        run_check("format", version)  # the pipeline retries it, then marks the step errored


def test_an_invalid_target_modules_regex_is_reported(stored_version: StoredVersion, base: Version) -> None:
    ctx = run_check("format", adapter_on(stored_version, base, clean_adapter(target_modules="(q_proj")))
    assert any("target_modules" in m for m in messages(ctx)), messages(ctx)


def hub_adapter(stored_version: StoredVersion, files: dict[str, bytes], metadata: dict[str, object]) -> Version:
    version = stored_version("adapter", files, metadata=metadata)
    LineageEdgeFactory(
        child=version,
        parent=None,
        relation="derived_from",
        external_repo=HUB_REPO,
        external_repo_type="model",
        external_revision=HUB_REVISION,
        external_license="llama3.1",
    )
    return version


def test_hub_base_needs_a_declared_architecture(stored_version: StoredVersion) -> None:
    ctx = run_check("format", hub_adapter(stored_version, clean_adapter(), {}))
    assert [r.code for r in ctx.reasons] == ["adapter_base_architecture"]
    assert "declare metadata base_architecture" in messages(ctx)[0]
    assert HUB_REPO in messages(ctx)[0]

    files = clean_adapter(base_model_name_or_path=HUB_REPO, revision=HUB_REVISION)
    ctx = run_check("format", hub_adapter(stored_version, files, {"base_architecture": "LlamaForCausalLM"}))
    assert ctx.passed, messages(ctx)
    assert ctx.details["base"] == {"hub_repo": HUB_REPO, "revision": HUB_REVISION, "architecture": "LlamaForCausalLM"}


def test_hub_base_must_match_the_adapter_configs_repo_and_revision(stored_version: StoredVersion) -> None:
    files = clean_adapter(base_model_name_or_path="mistralai/Mistral-7B-v0.1", revision="b" * 40)
    ctx = run_check("format", hub_adapter(stored_version, files, {"base_architecture": "LlamaForCausalLM"}))
    assert messages(ctx) == [
        f"adapter_config.json: base_model_name_or_path is 'mistralai/Mistral-7B-v0.1' but lineage says {HUB_REPO}",
        f"adapter_config.json: revision is '{'b' * 40}' but lineage pins {HUB_REPO} at {HUB_REVISION}",
    ]


def test_adapter_config_and_weights_missing(stored_version: StoredVersion, base: Version) -> None:
    ctx = run_check("format", adapter_on(stored_version, base, {"README.md": b"x"}))
    assert sorted(r.code for r in ctx.reasons) == ["adapter_config_missing", "no_weights"]
    assert run_check("metadata", adapter_on(stored_version, base, {"README.md": b"x"})).reasons[0].code == (
        "metadata_unavailable"
    )


def test_declared_trainable_parameters_are_compared(stored_version: StoredVersion, base: Version) -> None:
    version = adapter_on(stored_version, base, clean_adapter(), metadata={"trainable_parameters": 10_000})
    assert any("declared trainable_parameters 10,000" in m for m in messages(run_check("metadata", version)))


def test_the_worker_never_imports_torch_or_peft() -> None:
    code = (
        "import django, sys; django.setup()\n"
        "import jobs.checks.formats.adapter, jobs.checks.formats.checkpoint, jobs.checks.metadata\n"
        "print(sorted(m for m in ('torch', 'peft', 'transformers') if m in sys.modules))\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "consortium.settings"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert done.stdout.strip() == "[]"


def test_safetensors_inside_a_bin_file_is_read_as_safetensors(stored_version: StoredVersion) -> None:
    files = checkpoint_with({"pytorch_model.bin": save(tiny_weights())}, drop=(WEIGHTS,))
    ctx = run_check("format", stored_version("checkpoint", files))
    assert ctx.passed, messages(ctx)
    assert ctx.details["weights"]["format"] == "safetensors"
    assert ctx.details["weights"]["safetensors"][0]["path"] == "pytorch_model.bin"
