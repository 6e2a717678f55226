"""The safety step over files really stored in S3: the hostile corpus is refused with a reason naming the
problem, every payload is proven live in a throwaway process yet never set off by the check, clean
inputs pass, and limits, timeouts, scanner crashes and storage failures are never a pass."""

from __future__ import annotations

import io
import json
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from botocore.exceptions import EndpointConnectionError
from picklescan import scanner
from safetensors.numpy import save

from jobs.checks import base as checks_base
from jobs.checks import safety
from jobs.checks.base import CheckContext, Reason
from registry.models import Version
from tests.corpus import Case, pickles
from tests.corpus import archives as hostile_archives
from tests.corpus.pickles import PAYLOADS, Payload
from tests.jobs.conftest import StoredVersion, run_check

pytestmark = pytest.mark.django_db


def matching(reasons: list[Reason], path: str, words: tuple[str, ...]) -> list[Reason]:
    return [r for r in reasons if r.path == path and all(w.lower() in r.message.lower() for w in words)]


@pytest.fixture
def small_archive_limits(settings: Any) -> None:
    for name, value in hostile_archives.SETTINGS.items():
        setattr(settings, name, value)


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A temp dir with a short path: the tar polyglot carries its sentinel path in a 100-byte name field."""
    path = Path(tempfile.mkdtemp(prefix="s", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize("case", [*pickles.CASES, *hostile_archives.CASES], ids=lambda case: case.name)
def test_corpus_case_is_refused_with_a_reason_naming_it(case: Case, stored_version: StoredVersion) -> None:
    ctx = run_check("safety", stored_version(case.kind, case.files))

    assert not ctx.passed
    assert matching(ctx.reasons, case.path, case.words), [str(r) for r in ctx.reasons]


@pytest.mark.usefixtures("small_archive_limits")
@pytest.mark.parametrize("case", hostile_archives.SMALL_LIMIT_CASES, ids=lambda case: case.name)
def test_archive_past_a_size_limit_is_a_bomb(case: Case, stored_version: StoredVersion) -> None:
    ctx = run_check("safety", stored_version(case.kind, case.files))

    assert matching(ctx.reasons, case.path, case.words), [str(r) for r in ctx.reasons]


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda payload: payload.name)
def test_payload_is_live_but_the_check_never_runs_it(
    payload: Payload, stored_version: StoredVersion, short_tmp: Path
) -> None:
    sentinel = short_tmp / "ran"
    data = payload.build(str(sentinel))

    ctx = run_check("safety", stored_version(payload.kind, {payload.path: data}))

    assert matching(ctx.reasons, payload.path, payload.words), [str(r) for r in ctx.reasons]
    assert not sentinel.exists()
    # The control: loaded the way a victim loads it, in a throwaway process, the payload does run.
    target = short_tmp / payload.path.replace("/", "_")
    target.write_bytes(data)
    subprocess.run(
        [sys.executable, "-c", payload.trigger, str(target), payload.member],
        cwd=short_tmp,
        capture_output=True,
        timeout=120,
        check=False,  # a broken pickle raises after its payload ran
    )
    deadline = time.monotonic() + 10  # subprocess.Popen's child may still be starting
    while not sentinel.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sentinel.exists()


def torch_bytes(**options: Any) -> bytes:
    import torch

    buffer = io.BytesIO()
    torch.save({"w": torch.zeros(3, 4), "b": torch.ones(2)}, buffer, **options)
    return buffer.getvalue()


def clean_files() -> dict[str, bytes]:
    arrays = io.BytesIO()
    np.savez(arrays, a=np.arange(3), b=np.ones(2))
    array = io.BytesIO()
    np.save(array, np.arange(10.0))
    return {
        "model.safetensors": save({"a": np.zeros((2, 3), np.float32), "b": np.ones(4, np.int64)}),
        "state.pkl": pickle.dumps({"step": 3, "lr": [1, 2, 3], "name": "x"}, protocol=4),
        "README.md": b"cat\ndog\nA README whose first lines start with c, like a GLOBAL opcode.\ncos\nsome text\n",
        "config.json": json.dumps({"hidden_size": 16, "model_type": "llama"}).encode(),
        "docs.zip": pickles.zip_of({"a.txt": b"hello\n", "dir/b.md": b"# b\n"}),
        "docs.tar.gz": pickles.tar_of({"a.txt": b"hello\n", "dir/b.md": b"# b\n"}),
        "pytorch_model.bin": torch_bytes(),
        "legacy.bin": torch_bytes(_use_new_zipfile_serialization=False),
        "arrays.npz": arrays.getvalue(),
        "array.npy": array.getvalue(),
        "noise.bin": np.random.default_rng(0).bytes(256 * 1024),
        "empty.txt": b"",
    }


def test_clean_files_pass_with_evidence_per_file(stored_version: StoredVersion) -> None:
    ctx = run_check("safety", stored_version("checkpoint", clean_files()))

    assert ctx.passed, [str(r) for r in ctx.reasons]
    files = ctx.details["files"]
    assert files["model.safetensors"]["scan"] == "safetensors: holds no code"
    assert files["state.pkl"]["format"] == "pickle"
    assert "prefer safetensors" in files["state.pkl"]["scan"]
    assert files["pytorch_model.bin"]["format"] == "zip"  # torch's zip checkpoint, judged by content
    assert "torch._utils._rebuild_tensor_v2" in files["pytorch_model.bin"]["pickles"]["archive/data.pkl"]
    assert files["legacy.bin"]["scan"].startswith("legacy PyTorch file: pickle (scanned clean")
    assert files["docs.tar.gz"]["members"]["formats"] == {"text": 2}
    assert {f["verdict"] for f in files.values()} == {"passed"}
    assert "nothing runs code on load" in ctx.summary
    assert len(ctx.summary) < 300


def test_a_pickle_named_safetensors_is_judged_as_the_pickle_it_is(stored_version: StoredVersion) -> None:
    ctx = run_check("safety", stored_version("checkpoint", {"model.safetensors": pickles.clean_pickle()}))

    assert ctx.passed
    assert ctx.details["files"]["model.safetensors"]["format"] == "pickle"


def test_a_scan_past_its_time_limit_fails(settings: Any, stored_version: StoredVersion) -> None:
    settings.SAFETY_SCAN_TIMEOUT_SECONDS = 0.001
    data = pickle.dumps(list(range(300_000)), protocol=4)

    ctx = run_check("safety", stored_version("checkpoint", {"big.pkl": data}))

    assert [r.code for r in ctx.reasons] == ["scan_timeout"]
    assert "scan timed out" in ctx.reasons[0].message


@pytest.mark.parametrize(
    ("setting", "value", "words"),
    [("SAFETY_PICKLE_MAX_OPS", 1000, "SAFETY_PICKLE_MAX_OPS"), ("SAFETY_PICKLE_MAX_BYTES", 10_000, "in memory")],
)
def test_a_pickle_too_big_to_scan_in_memory_fails(
    settings: Any, stored_version: StoredVersion, setting: str, value: int, words: str
) -> None:
    setattr(settings, setting, value)
    data = pickle.dumps(list(range(5000)), protocol=4)

    ctx = run_check("safety", stored_version("checkpoint", {"big.pkl": data}))

    assert matching(ctx.reasons, "big.pkl", (words,))
    assert {r.code for r in ctx.reasons} == {"scan_limit"}


def test_a_scanner_crash_is_a_failure_never_a_pass(monkeypatch: Any, stored_version: StoredVersion) -> None:
    def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("scanner bug")

    monkeypatch.setattr(scanner, "scan_pickle_bytes", crash)

    ctx = run_check("safety", stored_version("checkpoint", {"state.pkl": pickles.clean_pickle()}))

    assert matching(ctx.reasons, "state.pkl", ("scanner failed", "scanner bug"))


class _FailingReader(io.RawIOBase):
    """The stored bytes until `cut`, then the storage goes away."""

    def __init__(self, data: bytes, cut: int) -> None:
        self.data, self.cut, self.pos = data, cut, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self.pos = offset if whence == io.SEEK_SET else self.pos + offset
        return self.pos

    def readinto(self, buffer: Any) -> int:
        if self.pos >= self.cut:
            raise EndpointConnectionError(endpoint_url="http://s3.invalid")
        chunk = self.data[self.pos : min(self.cut, self.pos + len(buffer))]
        buffer[: len(chunk)] = chunk
        self.pos += len(chunk)
        return len(chunk)


def test_a_storage_outage_mid_scan_is_raised_for_a_retry_not_judged(
    monkeypatch: Any, stored_version: StoredVersion
) -> None:
    # Past the sniffed head, inside picklescan, which takes any read error for the end of a pickle.
    data = pickle.dumps(list(range(100_000)), protocol=4) + pickles.os_system("/nonexistent/x")
    version = stored_version("checkpoint", {"state.pkl": data})
    monkeypatch.setattr(
        checks_base.FileRef, "open", lambda self: io.BufferedReader(_FailingReader(data, 100_000), buffer_size=4096)
    )

    with pytest.raises(EndpointConnectionError):
        run_check("safety", version)


def test_progress_counts_bytes_up_to_the_total(stored_version: StoredVersion) -> None:
    rng = np.random.default_rng(1)
    parts = {f"part{i}.bin": rng.bytes(1024 * 1024) for i in range(10)}
    files = {"a.tar": pickles.tar_of(parts, mode="w"), "b.txt": b"hello\n"}
    version = stored_version("dataset", files)
    ctx = CheckContext.for_version(Version.objects.select_related("artifact__organization").get(pk=version.pk))
    seen: list[tuple[int, int]] = []
    ctx.on_progress = lambda done, total, unit: seen.append((done, total))

    safety.check(ctx)

    total = sum(len(d) for d in files.values())
    assert seen[-1] == (total, total)
    assert all(done <= total for done, _ in seen)
    assert len(seen) > len(files)  # the 10 MiB tar reported progress while it was walked


def test_a_zip_whose_directory_declares_too_much_is_refused_before_the_directory_is_read(
    settings: Any, stored_version: StoredVersion
) -> None:
    settings.ARCHIVE_MAX_MEMBERS = 1000  # so at most 1000 x 64 KiB of directory
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i in range(3):
            archive.writestr(f"data/{i}.txt", b"x")
    data = bytearray(buffer.getvalue())
    end = data.rfind(b"PK\x05\x06")
    data[end + 12 : end + 16] = (3 * 1024**3).to_bytes(4, "little")  # a 3 GiB central directory, forged
    ctx = run_check("safety", stored_version("dataset", {"data.zip": bytes(data)}))
    assert matching(ctx.reasons, "data.zip", ("central directory declares", "ARCHIVE_MAX_MEMBERS")), [
        str(r) for r in ctx.reasons
    ]
