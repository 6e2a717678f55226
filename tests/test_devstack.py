"""`make run`'s stack, started as a new user would: it serves the API with the printed token, keeps
its data across restarts without re-seeding, and Ctrl-C leaves no process behind."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from consortium.embedded import S3Ports, free_port_block

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.stack


def processes_in_group(pgid: int) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(f"{entry.name} {stat.split('(', 1)[1].split(')', 1)[0]}")
    return found


class Stack:
    def __init__(self, var_dir: Path) -> None:
        base = free_port_block(2 + S3Ports.SIZE)
        self.url = f"http://127.0.0.1:{base}"
        command = [
            sys.executable,
            "-m",
            "consortium.devstack",
            f"--var-dir={var_dir}",
            f"--port={base}",
            f"--redis-port={base + 1}",
            f"--s3-port={base + 2}",
        ]
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"}}
        # A new session, like a terminal's foreground job: Ctrl-C goes to the whole group.
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.output = ""

    def wait_ready(self, timeout: float = 150) -> str:
        deadline = time.monotonic() + timeout
        while "Press Ctrl-C" not in self.output:
            line = self.process.stdout.readline()
            if not line and self.process.poll() is not None:
                pytest.fail(f"make run exited with {self.process.returncode}:\n{self.output}")
            self.output += line
            if time.monotonic() > deadline:
                pytest.fail(f"make run not ready after {timeout}s:\n{self.output}")
        return self.output

    def ctrl_c(self) -> list[str]:
        pgid = self.process.pid
        os.killpg(pgid, signal.SIGINT)
        self.process.communicate(timeout=40)
        deadline = time.monotonic() + 10
        while processes_in_group(pgid) and time.monotonic() < deadline:
            time.sleep(0.2)
        return processes_in_group(pgid)


def call(url: str, token: str | None = None, body: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode() if body else None, method="POST" if body else "GET"
    )
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


def test_make_run_serves_the_api_with_its_printed_token_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    stack = Stack(tmp_path / "var")
    try:
        output = stack.wait_ready()
        urls = re.findall(r"http://127\.0\.0\.1:\d+", output)
        assert urls[0] == stack.url, "the portal is the first URL printed"
        token = re.search(r"^\s+(ocr_\S+)$", output, re.MULTILINE).group(1)
        assert call(f"{stack.url}/healthz")[1]["status"] == "ok"
        status, me = call(f"{stack.url}/api/v1/me/", token)
        assert (status, me["username"], me["token"]["scopes"]) == (200, "aurora-owner", ["push", "read"])
        status, created = call(
            f"{stack.url}/api/v1/artifacts/", token, {"organization": "aurora", "slug": "smoke", "kind": "dataset"}
        )
        assert (status, created["slug"]) == (201, "smoke")
        assert "beat" in (tmp_path / "var" / "log" / "beat.log").read_text()
        # The CLI pushes to it as a pipeline would: bytes straight to the stack's S3, then finalize.
        ckpt = tmp_path / "ckpt"
        ckpt.mkdir()
        (ckpt / "model.safetensors").write_bytes(os.urandom(4096))
        (ckpt / "config.json").write_text('{"model_type": "llama"}')
        (ckpt / "consortium.yaml").write_text(
            "organization: aurora\nartifact: tiny\nkind: checkpoint\nversion: 1.0.0\nlicense: Apache-2.0\n"
        )
        pushed = subprocess.run(
            [sys.executable, "-m", "consortium_cli.main", "--json", "-q", "--url", stack.url, "push", str(ckpt)],
            env={**os.environ, "CONSORTIUM_TOKEN": token, "XDG_CONFIG_HOME": str(tmp_path / "cfg")},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert pushed.returncode == 0, pushed.stderr
        version = json.loads(pushed.stdout)
        assert version["state"] == "submitted"
        # No checks run yet (the pipeline is its own issue), so `wait` reports no verdict: exit 2.
        waited = subprocess.run(
            [
                sys.executable,
                "-m",
                "consortium_cli.main",
                "--json",
                "--url",
                stack.url,
                "wait",
                version["id"],
                "--timeout",
                "1",
                "--interval",
                "0.5",
            ],
            env={**os.environ, "CONSORTIUM_TOKEN": token},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert (waited.returncode, json.loads(waited.stdout)["state"]) == (2, "submitted")
    finally:
        left = stack.ctrl_c()
    assert left == [], f"processes left after Ctrl-C: {left}"

    again = Stack(tmp_path / "var")
    try:
        output = again.wait_ready()
        assert "ocr_" not in output, "a second start does not re-seed or print a token"
        assert "aurora-owner" in output
        status, found = call(f"{again.url}/api/v1/artifacts/?org=aurora", token)
        assert sorted(a["slug"] for a in found["results"]) == ["smoke", "tiny"], "the data survived the restart"
    finally:
        left = again.ctrl_c()
    assert left == []
