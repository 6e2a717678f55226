"""The `consortium` CLI against a live registry (a real HTTP server, real SeaweedFS): push,
resume after a kill, re-push, dedup, show, ls, pull, wait, login."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from consortium_cli import main as cli
from consortium_cli import push as push_module

from registry import storage
from registry.models import Upload, Version
from tests.conftest import Member

pytestmark = pytest.mark.django_db(transaction=True)
PART = 8 * 1024 * 1024


@pytest.fixture
def env(live_server, alice: Member, s3_bucket: str, monkeypatch, tmp_path: Path) -> dict:
    _, secret = alice.token("read", "push")
    monkeypatch.setenv("CONSORTIUM_URL", live_server.url)
    monkeypatch.setenv("CONSORTIUM_TOKEN", secret)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return {"url": live_server.url, "token": secret}


def checkpoint(root: Path, version: str = "1.0.0", weights: bytes | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "model.safetensors").write_bytes(weights if weights is not None else os.urandom(2048))
    (root / "config.json").write_text('{"model_type": "llama", "num_hidden_layers": 2}')
    (root / "README.md").write_text("Intended use: tests.\n")
    (root / "consortium.yaml").write_text(
        yaml.safe_dump(
            {
                "organization": "org-a",
                "artifact": "tiny-llama",
                "kind": "checkpoint",
                "version": version,
                "license": "Apache-2.0",
                "metadata": {"layers": 2},
            }
        )
    )
    return root


def run(*argv: str, capsys: pytest.CaptureFixture) -> tuple[int, dict | list | None]:
    code = cli.main(["--json", "-q", *argv])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else None


@pytest.fixture
def counted(monkeypatch) -> list[int]:
    """Every part sent to S3, by size."""
    sent: list[int] = []
    real = push_module.put_part

    def counting(url: str, path: Path, offset: int, length: int) -> None:
        real(url, path, offset, length)
        sent.append(length)

    monkeypatch.setattr(push_module, "put_part", counting)
    return sent


def test_push_then_show_ls_and_pull(env: dict, tmp_path: Path, capsys, counted: list[int]) -> None:
    source = checkpoint(tmp_path / "ckpt")
    code, version = run("push", str(source), capsys=capsys)
    assert code == 0
    assert version["state"] == "submitted"
    assert version["url"].endswith(f"/api/v1/versions/{version['id']}/")
    assert sum(counted) == sum(
        p.stat().st_size for p in source.iterdir() if p.name != "consortium.yaml" and not p.name.startswith(".")
    )
    code, shown = run("show", "org-a/tiny-llama@1.0.0", capsys=capsys)
    assert {f["path"]: f["status"] for f in shown["files"]} == {
        "README.md": "verified",
        "config.json": "verified",
        "model.safetensors": "verified",
    }
    code, listed = run("ls", "org-a/tiny-llama", capsys=capsys)
    assert [v["number"] for v in listed] == ["1.0.0"]
    code, _ = run("pull", version["id"], str(tmp_path / "copy"), capsys=capsys)
    assert code == 0
    assert (tmp_path / "copy" / "model.safetensors").read_bytes() == (source / "model.safetensors").read_bytes()


def test_a_killed_push_resumes_sending_only_the_missing_parts(
    env: dict, tmp_path: Path, capsys, monkeypatch, counted: list[int]
) -> None:
    source = checkpoint(tmp_path / "big", weights=os.urandom(PART + 4096))  # two parts
    sent_before_kill: list[int] = []
    real = push_module.put_part

    def dies_after_one_part(url: str, path: Path, offset: int, length: int) -> None:
        if path.name == "model.safetensors" and offset > 0:
            raise OSError("killed")
        real(url, path, offset, length)
        sent_before_kill.append(length)

    monkeypatch.setattr(push_module, "put_part", dies_after_one_part)
    assert run("push", "--workers", "1", str(source), capsys=capsys)[0] == 2
    assert Version.objects.get().state == "draft"

    monkeypatch.setattr(push_module, "put_part", real)
    resumed: list[int] = []

    def counting(url: str, path: Path, offset: int, length: int) -> None:
        real(url, path, offset, length)
        resumed.append(offset)

    monkeypatch.setattr(push_module, "put_part", counting)
    code, version = run("push", str(source), capsys=capsys)
    assert (code, version["state"]) == (0, "submitted")
    assert resumed == [PART]  # only the second part of the weights went again


def test_pushing_again_sends_nothing_and_returns_the_same_version(
    env: dict, tmp_path: Path, capsys, counted: list[int]
) -> None:
    source = checkpoint(tmp_path / "ckpt")
    first = run("push", str(source), capsys=capsys)[1]
    counted.clear()
    code, again = run("push", str(source), capsys=capsys)
    assert (code, again["id"], counted) == (0, first["id"], [])
    # A new version of the same bytes is deduplicated: nothing is transferred either.
    code, second = run("push", "--version", "1.0.1", str(source), capsys=capsys)
    assert (code, second["state"], counted) == (0, "submitted", [])


def test_a_release_date_in_consortium_yaml_embargoes_the_version(env: dict, tmp_path: Path, capsys) -> None:
    source = checkpoint(tmp_path / "ckpt")
    manifest = source / "consortium.yaml"
    manifest.write_text(manifest.read_text() + "release_at: 2031-05-01T09:00:00Z\n")  # YAML reads a datetime
    code, version = run("push", str(source), capsys=capsys)
    assert (code, version["release_at"]) == (0, "2031-05-01T09:00:00Z")
    # The same push again is the same version (its release date compares equal).
    assert run("push", str(source), capsys=capsys)[1]["id"] == version["id"]


def test_changed_bytes_under_a_finalized_number_are_refused_naming_the_file(env: dict, tmp_path: Path, capsys) -> None:
    source = checkpoint(tmp_path / "ckpt")
    assert run("push", str(source), capsys=capsys)[0] == 0
    (source / "model.safetensors").write_bytes(os.urandom(100))
    assert cli.main(["-q", "push", str(source)]) == 2
    assert "model.safetensors (other bytes)" in capsys.readouterr().err


def test_wait_without_a_verdict_exits_2_and_status_reports_the_state(env: dict, tmp_path: Path, capsys) -> None:
    version = run("push", str(checkpoint(tmp_path / "ckpt")), capsys=capsys)[1]
    assert run("status", "org-a/tiny-llama@1.0.0", capsys=capsys)[1]["state"] == "submitted"
    code, _ = run("wait", version["id"], "--timeout", "0", "--interval", "0", capsys=capsys)
    assert code == 2


def test_login_checks_the_token_and_saves_it_for_the_owner_only(env: dict, capsys, monkeypatch) -> None:
    code, me = run("login", "--token", env["token"], capsys=capsys)
    assert (code, me["username"]) == (0, "alice")
    saved = Path(os.environ["XDG_CONFIG_HOME"]) / "consortium" / "config.json"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    monkeypatch.delenv("CONSORTIUM_TOKEN")
    assert run("ls", capsys=capsys)[0] == 0  # the saved token is used
    assert run("login", "--token", "ocr_wrong", capsys=capsys)[0] == 2


def test_a_push_killed_with_sigkill_resumes_without_resending_what_s3_holds(
    env: dict, tmp_path: Path, capsys, counted: list[int]
) -> None:
    source = checkpoint(tmp_path / "big", weights=os.urandom(10 * PART))  # ten parts
    child = subprocess.Popen(
        [sys.executable, "-m", "consortium_cli.main", "-q", "push", "--workers", "1", str(source)],
        env={**os.environ},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    held: dict[int, str] = {}
    while time.monotonic() < deadline and not held:
        upload = Upload.objects.filter(size=10 * PART).first()
        if upload is not None:
            held = storage.parts_uploaded(upload.key, upload.s3_upload_id)
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    child.wait(10)
    assert held, "the push never got a part to S3 before the kill"
    time.sleep(1)  # a part whose bytes were all sent before the kill may still land in S3
    upload = Upload.objects.get(size=10 * PART)
    before = set(storage.parts_uploaded(upload.key, upload.s3_upload_id))
    assert 1 <= len(before) < 10, "killed mid-upload"

    code, version = run("push", str(source), capsys=capsys)
    assert (code, version["state"]) == (0, "submitted")
    assert counted == [PART] * (10 - len(before))  # only the parts S3 lacked went again


def test_pull_latest_takes_the_newest_published_else_approved_version(env: dict, tmp_path: Path, capsys) -> None:
    old = run("push", str(checkpoint(tmp_path / "v1", version="1.0.0")), capsys=capsys)[1]
    new = run("push", str(checkpoint(tmp_path / "v2", version="2.0.0")), capsys=capsys)[1]
    assert run("pull", "org-a/tiny-llama@latest", str(tmp_path / "none"), capsys=capsys)[0] == 2
    Version.objects.filter(public_id=new["id"]).update(state="approved")
    Version.objects.filter(public_id=old["id"]).update(state="published")
    code, pulled = run("pull", "org-a/tiny-llama@latest", str(tmp_path / "out"), capsys=capsys)
    assert (code, pulled["version"]) == (0, old["id"])  # published beats a newer approved one
    assert (tmp_path / "out" / "config.json").read_text() == (tmp_path / "v1" / "config.json").read_text()
