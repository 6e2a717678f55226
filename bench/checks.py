"""Benchmark: the check pipeline on the embedded stack of `make run` (started here in a scratch
directory), against a same-run baseline of one `hashlib.sha256` pass over the checkpoint file.

Prints:
- finalize → `in_review` for a 1.2 GB safetensors checkpoint plus config (server timestamps: the
  run's creation in finalize's transaction to the version's move), the baseline, and the ratio
  (target <= 1.3);
- finalize → first step running, p50 and p95 over small versions (target p50 < 100 ms);
- the workers' peak RSS over the bad-input corpus, then over everything (target <= 300 MB).

    make bench                  # BENCH_CHECKPOINT_MB=300 for a quicker run
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

from bench.stack import peak_rss_mb, stack_s3, start_stack
from tests.corpus import Case
from tests.corpus.models import tiny_config
from tests.corpus.registry import all_cases

SIZE = int(os.environ.get("BENCH_CHECKPOINT_MB", "1200")) * 1000 * 1000
LATENCY_SAMPLES = int(os.environ.get("BENCH_LATENCY_SAMPLES", "20"))
CHUNK = 8 * 1024 * 1024
TENSOR = 64 * 1024 * 1024  # bytes per float32 tensor in the big checkpoint


def write_safetensors(path: Path, size: int) -> None:
    """A valid safetensors file of about `size` bytes of random float32 data, streamed to disk."""
    shapes, offset = {}, 0
    while offset < size:
        n = min(TENSOR, size - offset) // 4 * 4 or 4
        shapes[f"model.layers.{len(shapes)}.mlp.weight"] = {
            "dtype": "F32",
            "shape": [n // 4],
            "data_offsets": [offset, offset + n],
        }
        offset += n
    header = json.dumps({"__metadata__": {"format": "pt"}, **shapes}).encode()
    header += b" " * (-len(header) % 8)
    with path.open("wb") as out:
        out.write(len(header).to_bytes(8, "little") + header)
        left = offset
        while left:
            out.write(os.urandom(min(CHUNK, left)))
            left -= min(CHUNK, left)


def sha256_baseline(path: Path) -> tuple[float, str]:
    started = time.perf_counter()
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return time.perf_counter() - started, digest.hexdigest()


def storage_floor(var: Path, s3_port: int, sha256: str) -> float:
    """One plain streaming GET of the stored checkpoint from the stack's SeaweedFS, no hashing: the
    least any pass over it from S3 can take on this machine."""
    s3 = stack_s3(var, s3_port)
    listed = s3.list_objects_v2(Bucket="consortium", Prefix="orgs/")["Contents"]
    key = next(item["Key"] for item in listed if item["Key"].endswith(sha256))
    started = time.perf_counter()
    for _ in s3.get_object(Bucket="consortium", Key=key)["Body"].iter_chunks(CHUNK):
        pass
    return time.perf_counter() - started


class Registry:
    def __init__(self, url: str, token: str, scratch: Path) -> None:
        self.url, self.token, self.scratch = url, token, scratch
        self.api = httpx.Client(base_url=f"{url}/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=60)

    def push(self, directory: Path, spec: dict[str, Any]) -> dict[str, Any]:
        (directory / "consortium.yaml").write_text(yaml.safe_dump(spec))
        pushed = subprocess.run(
            [sys.executable, "-m", "consortium_cli.main", "-q", "--json", "--url", self.url, "push", str(directory)],
            env={**os.environ, "CONSORTIUM_TOKEN": self.token, "XDG_CONFIG_HOME": str(self.scratch / "cfg")},
            capture_output=True,
            text=True,
            check=False,
        )
        if pushed.returncode != 0:
            raise SystemExit(f"push of {directory} failed:\n{pushed.stderr}")
        return json.loads(pushed.stdout)

    def settled(self, version_id: str, timeout: float = 1800) -> tuple[dict[str, Any], dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            version = self.api.get(f"/versions/{version_id}/").json()
            checks = self.api.get(f"/versions/{version_id}/checks/").json()
            if version["state"] not in ("submitted", "checking") or checks["status"] == "errored":
                return version, checks
            if time.monotonic() > deadline:
                raise SystemExit(f"version {version_id} not settled after {timeout} s: {checks}")
            time.sleep(0.2)


def stamp(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def push_case(registry: Registry, case: Case, index: int) -> str:
    directory = registry.scratch / "corpus" / f"{index}-{case.name}"
    for path, data in case.files.items():
        (directory / path).parent.mkdir(parents=True, exist_ok=True)
        (directory / path).write_bytes(data)
    spec = {
        "organization": "aurora",
        "artifact": f"corpus-{index}",
        "kind": case.kind,
        "version": "1.0.0",
        "license": "Apache-2.0",
        "metadata": case.metadata,
    }
    return registry.push(directory, spec)["id"]


def main() -> int:
    scratch = Path(tempfile.mkdtemp(prefix="bench-checks-"))
    started = start_stack(scratch / "var")
    stack, url, token, s3_port = started.process, started.url, started.token, started.s3_port
    registry = Registry(url, token, scratch)
    try:
        # The bad-input corpus: each case must end in changes_requested.
        cases = all_cases(scratch / "sentinel")
        ids = [push_case(registry, case, i) for i, case in enumerate(cases)]
        wrong = [
            (case.name, version["state"])
            for case, version_id in zip(cases, ids, strict=True)
            if (version := registry.settled(version_id)[0])["state"] != "changes_requested"
        ]
        corpus_rss = peak_rss_mb(stack.pid, b"worker")

        # Latency: finalize → first step running, on small versions.
        latencies = []
        for i in range(LATENCY_SAMPLES):
            directory = scratch / "small" / str(i)
            directory.mkdir(parents=True)
            (directory / "train.jsonl").write_text(json.dumps({"text": f"row {i}"}) + "\n")
            version = registry.push(
                directory,
                {
                    "organization": "aurora",
                    "artifact": "latency",
                    "kind": "dataset",
                    "version": f"1.0.{i}",
                    "license": "Apache-2.0",
                },
            )
            _, checks = registry.settled(version["id"])
            first = min(stamp(step["started_at"]) for step in checks["steps"])
            latencies.append((first - stamp(checks["created_at"])) * 1000)

        # The big checkpoint.
        big = scratch / "big"
        big.mkdir()
        write_safetensors(big / "model.safetensors", SIZE)
        (big / "config.json").write_text(json.dumps(tiny_config()))
        baseline, sha256 = sha256_baseline(big / "model.safetensors")
        version = registry.push(
            big,
            {
                "organization": "aurora",
                "artifact": "bench-checks",
                "kind": "checkpoint",
                "version": "1.0.0",
                "license": "Apache-2.0",
            },
        )
        settled, checks = registry.settled(version["id"])
        elapsed = stamp(settled["state_changed_at"]) - stamp(checks["created_at"])
        total_rss = peak_rss_mb(stack.pid, b"worker")
        floor = storage_floor(scratch / "var", s3_port, sha256)
    finally:
        os.killpg(stack.pid, signal.SIGINT)
        stack.wait(60)
        shutil.rmtree(scratch, ignore_errors=True)
    mb = SIZE / 1e6
    ratio = elapsed / baseline
    p50, p95 = statistics.median(latencies), statistics.quantiles(latencies, n=20)[-1]
    print(f"checks: {mb:.0f} MB safetensors checkpoint + config on the embedded stack (SeaweedFS, 2 worker processes)")
    print(f"  baseline: one hashlib.sha256 pass over the file       {baseline:7.2f} s  {mb / baseline:7.0f} MB/s")
    label = f"finalize -> {settled['state']} ({len(checks['steps'])} steps)"
    print(f"  {label:<52} {elapsed:7.2f} s  {mb / elapsed:7.0f} MB/s")
    print(f"  ratio pipeline/baseline: {ratio:.2f} (target <= 1.3)")
    print(f"  storage floor: a plain S3 GET of the stored file, no hashing: {floor:.2f} s ({floor / baseline:.2f}x)")
    print(
        f"  finalize -> first step running: p50 {p50:.0f} ms, p95 {p95:.0f} ms over {len(latencies)} (target p50 < 100)"
    )
    print(
        f"  worker peak RSS: {corpus_rss:.0f} MB over the bad-input corpus ({len(cases)} versions), "
        f"{total_rss:.0f} MB overall (target <= 300)"
    )
    for name, state in wrong:
        print(f"  corpus case {name} ended {state}, expected changes_requested")
    ok = settled["state"] == "in_review" and ratio <= 1.3 and p50 < 100 and total_rss <= 300 and not wrong
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
