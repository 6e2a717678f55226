"""Benchmark: `consortium push` of a file of random bytes (2 GiB by default) to a running stack
(the embedded one of `make run`, started here in a scratch directory), through server-side
verification, against a same-run baseline doing the same three passes raw: `hashlib.sha256` of
the file, boto3 `upload_file` of it to the same SeaweedFS, and one streaming download-and-hash.

Prints both times, the ratio (baseline time / push time; target >= 0.90), the CLI's peak RSS
(target <= 200 MB) and the web workers' peak RSS (target <= 200 MB).

    make bench-ingest          # BENCH_SIZE_MIB=512 for a quicker run
"""

from __future__ import annotations

import hashlib
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from boto3.s3.transfer import TransferConfig

from bench.stack import peak_rss_mb, stack_s3, start_stack

SIZE = int(os.environ.get("BENCH_SIZE_MIB", "2048")) * 1024 * 1024
CHUNK = 8 * 1024 * 1024
WORKERS = 4


def make_file(path: Path) -> None:
    with path.open("wb") as out:
        for _ in range(SIZE // CHUNK):
            out.write(os.urandom(CHUNK))
        out.write(os.urandom(SIZE % CHUNK))


def baseline(path: Path, var: Path, s3_port: int) -> float:
    s3 = stack_s3(var, s3_port)
    started = time.perf_counter()
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    s3.upload_file(
        str(path),
        "consortium",
        "bench/baseline",
        Config=TransferConfig(multipart_chunksize=CHUNK, max_concurrency=WORKERS),
    )
    again = hashlib.sha256()
    for chunk in s3.get_object(Bucket="consortium", Key="bench/baseline")["Body"].iter_chunks(CHUNK):
        again.update(chunk)
    elapsed = time.perf_counter() - started
    assert again.hexdigest() == digest.hexdigest()
    s3.delete_object(Bucket="consortium", Key="bench/baseline")
    return elapsed


def main() -> int:
    scratch = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    started = start_stack(scratch / "var")
    stack, url, token, s3_port = started.process, started.url, started.token, started.s3_port
    try:
        source = scratch / "ckpt"
        source.mkdir()
        make_file(source / "model.safetensors")
        (source / "consortium.yaml").write_text(
            "organization: aurora\nartifact: bench\nkind: checkpoint\nversion: 1.0.0\nlicense: Apache-2.0\n"
        )
        base = baseline(source / "model.safetensors", scratch / "var", s3_port)
        started = time.perf_counter()
        pushed = subprocess.run(
            [
                sys.executable,
                "-m",
                "consortium_cli.main",
                "-q",
                "--json",
                "--url",
                url,
                "push",
                "--workers",
                str(WORKERS),
                str(source),
            ],
            env={**os.environ, "CONSORTIUM_TOKEN": token, "XDG_CONFIG_HOME": str(scratch / "cfg")},
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.perf_counter() - started
        if pushed.returncode != 0:
            raise SystemExit(f"push failed:\n{pushed.stderr}")
        cli_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        web_rss = peak_rss_mb(stack.pid, b"gunicorn")
    finally:
        os.killpg(stack.pid, signal.SIGINT)
        stack.wait(60)
        shutil.rmtree(scratch, ignore_errors=True)
    mib = SIZE / 1024 / 1024
    ratio = base / elapsed
    print(f"ingest: {mib:.0f} MiB of random bytes, {WORKERS} parallel parts, embedded stack (SeaweedFS)")
    print(f"  baseline (sha256 + boto3 upload_file + download-and-hash)  {base:7.1f} s  {mib / base:7.1f} MiB/s")
    print(f"  consortium push, through server-side verification          {elapsed:7.1f} s  {mib / elapsed:7.1f} MiB/s")
    print(f"  ratio baseline/push: {ratio:.2f} (target >= 0.90)")
    print(f"  peak RSS: CLI {cli_rss:.0f} MB (target <= 200), web worker {web_rss:.0f} MB (target <= 200)")
    return 0 if ratio >= 0.9 and cli_rss <= 200 and web_rss <= 200 else 1


if __name__ == "__main__":
    sys.exit(main())
