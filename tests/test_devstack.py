"""`make run`'s stack, started as a new user would: it serves the API with the printed token, keeps
its data across restarts without re-seeding, and Ctrl-C leaves no process behind. The demo catalogue
is off here (tests/test_seed_catalogue.py seeds it), so what this test pushes is all there is."""

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

from consortium import devstack
from consortium.embedded import S3Ports, free_port_block
from tests.corpus.models import clean_checkpoint

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
    def __init__(self, var_dir: Path, *, catalogue: bool = False) -> None:
        base = free_port_block(3 + S3Ports.SIZE)
        self.url = f"http://127.0.0.1:{base}"
        self.args = [  # devstack's own arguments, which also give the stack's env (devstack.Stack.env)
            f"--var-dir={var_dir}",
            f"--port={base}",
            f"--redis-port={base + 1}",
            f"--s3-port={base + 2}",
            f"--hub-port={base + 2 + S3Ports.SIZE}",
            *([] if catalogue else ["--no-catalogue"]),
        ]
        command = [sys.executable, "-m", "consortium.devstack", *self.args]
        self.hub_url = f"http://127.0.0.1:{base + 2 + S3Ports.SIZE}"
        services = {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "HF_ENDPOINT", "HF_TOKEN", "HF_TOKEN_FILE"}
        env = {k: v for k, v in os.environ.items() if k not in services and k != "CONSORTIUM_SEED_CATALOGUE"}
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

    def read_until(self, pattern: str, timeout: float) -> str:
        """The output after what was read so far, up to the first line matching `pattern`."""
        deadline, seen = time.monotonic() + timeout, ""
        while not re.search(pattern, seen):
            if time.monotonic() > deadline:
                pytest.fail(f"no {pattern!r} after {timeout}s:\n{self.output}{seen}")
            line = self.process.stdout.readline()
            if not line and self.process.poll() is not None:
                pytest.fail(f"make run exited with {self.process.returncode}:\n{self.output}{seen}")
            seen += line
        self.output += seen
        return seen

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


def push_dir(directory: Path, files: dict[str, bytes], artifact: str) -> Path:
    for path, data in files.items():
        (directory / path).parent.mkdir(parents=True, exist_ok=True)
        (directory / path).write_bytes(data)
    (directory / "consortium.yaml").write_text(
        f"organization: aurora\nartifact: {artifact}\nkind: checkpoint\nversion: 1.0.0\nlicense: Apache-2.0\n"
    )
    return directory


def cli(url: str, token: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "consortium_cli.main", "--json", "-q", "--url", url, *args],
        env={**os.environ, "CONSORTIUM_TOKEN": token, "XDG_CONFIG_HOME": str(tmp_path / "cfg")},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_make_run_serves_the_api_with_its_printed_token_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    stack = Stack(tmp_path / "var")
    try:
        output = stack.wait_ready()
        assert "Demo catalogue: not seeded (turned off by --no-catalogue" in output
        urls = re.findall(r"http://127\.0\.0\.1:\d+", output)
        assert urls[0] == stack.url, "the portal is the first URL printed"
        token, review_token = re.findall(r"^\s+(ocr_\S+)$", output, re.MULTILINE)
        assert f"local Hub-protocol server at {stack.hub_url}" in output
        assert call(f"{stack.url}/healthz")[1]["status"] == "ok"
        status, me = call(f"{stack.url}/api/v1/me/", token)
        assert (status, me["username"], me["token"]["scopes"]) == (200, "aurora-owner", ["push", "read", "webhooks"])
        status, created = call(
            f"{stack.url}/api/v1/artifacts/", token, {"organization": "aurora", "slug": "smoke", "kind": "dataset"}
        )
        assert (status, created["slug"]) == (201, "smoke")
        assert "beat" in (tmp_path / "var" / "log" / "beat.log").read_text()
        # The CLI pushes to it as a pipeline would, and waits for the checks on the real worker.
        clean = push_dir(tmp_path / "clean", clean_checkpoint(), "tiny")
        pushed = cli(stack.url, token, tmp_path, "push", str(clean))
        assert pushed.returncode == 0, pushed.stderr
        version = json.loads(pushed.stdout)
        assert version["state"] == "submitted"
        waited = cli(stack.url, token, tmp_path, "wait", version["id"], "--for", "checks", "--interval", "0.2")
        assert waited.stdout, waited.stderr
        result = json.loads(waited.stdout)
        assert (waited.returncode, result["state"]) == (0, "in_review"), waited.stdout
        assert {s["name"]: s["status"] for s in result["checks"]["steps"] if s["gating"]} == dict.fromkeys(
            ("integrity", "safety", "format", "license", "metadata"), "passed"
        )
        measures = {s["name"] for s in result["checks"]["steps"] if not s["gating"]}
        assert measures == {"evals", "compatibility", "finetune", "cost"}, "released once the checks passed"
        # Org B's reviewer approves it with the CLI; the worker publishes it to the local Hub.
        queue = cli(stack.url, review_token, tmp_path, "review", "list")
        assert [v["id"] for v in json.loads(queue.stdout)] == [version["id"]], queue.stderr
        approved = cli(stack.url, review_token, tmp_path, "review", "approve", version["id"], "-m", "looks right")
        assert approved.returncode == 0, approved.stderr
        waited = cli(stack.url, token, tmp_path, "wait", version["id"], "--for", "published", "--interval", "0.2")
        result = json.loads(waited.stdout)
        assert (waited.returncode, result["state"]) == (0, "published"), waited.stdout + waited.stderr
        publication = result["publication"]
        assert publication["commit_url"].startswith(f"{stack.hub_url}/aurora-lab/tiny/commit/")
        with urllib.request.urlopen(publication["commit_url"], timeout=10) as page:
            html = page.read().decode()
        assert "Provenance" in html
        assert "Aurora Research Lab (France)" in html
        assert "Borealis AI" in html, "the reviewers' org"
        disguised = clean_checkpoint()
        disguised["model.safetensors"] = b"cos\nsystem\n(S'true'\ntR."
        bad = push_dir(tmp_path / "bad", disguised, "disguised")
        assert cli(stack.url, token, tmp_path, "push", str(bad)).returncode == 0
        waited = cli(
            stack.url, token, tmp_path, "wait", "aurora/disguised@1.0.0", "--for", "checks", "--interval", "0.2"
        )
        assert waited.stdout, waited.stderr
        result = json.loads(waited.stdout)
        assert (waited.returncode, result["state"]) == (1, "changes_requested")
        assert any(
            r["path"] == "model.safetensors" and "os.system" in r["message"] for r in result["checks"]["reasons"]
        ), result["checks"]["reasons"]
    finally:
        left = stack.ctrl_c()
    assert left == [], f"processes left after Ctrl-C: {left}"

    again = Stack(tmp_path / "var")
    try:
        output = again.wait_ready()
        assert "ocr_" not in output, "a second start does not re-seed or print a token"
        assert "aurora-owner" in output
        status, found = call(f"{again.url}/api/v1/artifacts/?org=aurora", token)
        assert sorted(a["slug"] for a in found["results"]) == ["disguised", "smoke", "tiny"], "the data survived"
    finally:
        left = again.ctrl_c()
    assert left == []


def test_the_default_ports_never_overlap(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("PORT", "REDIS_PORT", "S3_PORT", "HUB_PORT"):
        monkeypatch.delenv(variable, raising=False)
    args = devstack._parse([])
    ports = [args.port, args.redis_port, *(args.s3_port + i for i in range(S3Ports.SIZE)), args.hub_port]
    assert len(set(ports)) == len(ports), ports
