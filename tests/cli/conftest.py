"""The CLI's tests: alice's `consortium` pointed at a live registry with her read token."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Member


@pytest.fixture
def as_alice(live_server, alice: Member, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CONSORTIUM_URL", live_server.url)
    monkeypatch.setenv("CONSORTIUM_TOKEN", alice.token("read")[1])
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps at 80 columns when stdout is not a terminal
