"""The embedded stack of `make run`, started in a scratch directory for a benchmark, and what the
benchmarks read off its processes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Stack:
    process: subprocess.Popen
    url: str
    token: str  # the seeded push token of aurora's owner
    review_token: str  # the seeded review token of borealis' reviewer
    s3_port: int
    hub_url: str  # the local Hub-protocol server
    banner: str = ""  # what it printed up to "Press Ctrl-C"


def start_stack(var: Path, *, seed_catalogue: bool = False) -> Stack:
    """The embedded stack of `make run` on free ports, once it is ready. The demo catalogue is not
    seeded unless `seed_catalogue` (its pushes would compete with what a benchmark measures)."""
    sys.path.insert(0, str(ROOT))
    from consortium.embedded import S3Ports, free_port_block

    base = free_port_block(3 + S3Ports.SIZE)
    hub_port = base + 2 + S3Ports.SIZE
    command = [
        sys.executable,
        "-m",
        "consortium.devstack",
        f"--var-dir={var}",
        f"--port={base}",
        f"--redis-port={base + 1}",
        f"--s3-port={base + 2}",
        f"--hub-port={hub_port}",
        *([] if seed_catalogue else ["--no-catalogue"]),
    ]
    services = {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "HF_ENDPOINT", "HF_TOKEN", "HF_TOKEN_FILE"}
    env = {k: v for k, v in os.environ.items() if k not in services and k != "CONSORTIUM_SEED_CATALOGUE"}
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    output = ""
    while "Press Ctrl-C" not in output:
        line = process.stdout.readline()  # type: ignore[union-attr]
        if not line and process.poll() is not None:
            raise SystemExit(f"the stack did not start:\n{output}")
        output += line
    token, review_token = re.findall(r"^\s+(ocr_\S+)$", output, re.MULTILINE)
    return Stack(
        process, f"http://127.0.0.1:{base}", token, review_token, base + 2, f"http://127.0.0.1:{hub_port}", output
    )


def wait_for_catalogue(stack: Stack) -> str:
    """The demo catalogue's progress lines of a stack started with `seed_catalogue`, once seeding
    has ended; SystemExit unless every version reached its end state."""
    if "Demo catalogue: seeded at an earlier start" in stack.banner:
        return ""
    if "Demo catalogue: being seeded" not in stack.banner:
        raise SystemExit("this stack does not seed its demo catalogue: start it with seed_catalogue=True")
    lines = ""
    while not re.search(r"^  demo catalogue: .*(done: |stopped short)", lines, re.MULTILINE):
        line = stack.process.stdout.readline()  # type: ignore[union-attr]
        if not line and stack.process.poll() is not None:
            raise SystemExit(f"the stack exited while seeding its demo catalogue:\n{lines}")
        lines += line
    if "done: " not in lines:
        raise SystemExit(f"the demo catalogue was not seeded:\n{lines}")
    return lines


def stack_s3(var: Path, s3_port: int) -> Any:
    """A boto3 client of the stack's SeaweedFS, with the credentials `make run` generated."""
    keys = json.loads((var / "s3-credentials.json").read_text())
    return boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{s3_port}",
        region_name="us-east-1",
        aws_access_key_id=keys["access_key"],
        aws_secret_access_key=keys["secret_key"],
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


def peak_rss_mb(stack_pid: int, marker: bytes) -> float:
    """The largest peak RSS (VmHWM) among the stack's processes whose command line has `marker`."""
    peaks = [0.0]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            status = (entry / "status").read_text()
            group = os.getpgid(int(entry.name))
        except OSError:
            continue
        if marker in cmdline and group == stack_pid:
            peaks.append(int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024)  # type: ignore[union-attr]
    return max(peaks)
