"""`consortium acknowledge` and `consortium ledger [--csv]` against a live registry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from consortium_cli import main as cli

from registry.models import Organization, Sharing
from tests.conftest import Member
from tests.jobs.test_ledger import at, recipe_run

pytestmark = pytest.mark.django_db(transaction=True)


def test_acknowledging_a_run_credits_its_compute_in_the_ledger(
    live_server, alice: Member, org_b: Organization, monkeypatch, tmp_path: Path, capsys
) -> None:
    monkeypatch.setenv("CONSORTIUM_URL", live_server.url)
    monkeypatch.setenv("CONSORTIUM_TOKEN", alice.token("read", "push")[1])
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("COLUMNS", "200")
    recipe_run(org_b, "big", gpu_hours=120, flops=None, sharing=Sharing.CONSORTIUM, created=at(1))

    assert cli.main(["acknowledge", "org-b/big@latest", "--org", "org-a"]) == 2  # one exact version
    assert "never @latest" in capsys.readouterr().err
    assert cli.main(["acknowledge", "org-b/big@1.0", "--org", "org-a", "--note", "same setup"]) == 0
    assert "org-a will not re-run org-b/big@1.0" in capsys.readouterr().out

    assert cli.main(["ledger"]) == 0
    table = capsys.readouterr().out
    assert "org-a" in table
    assert "120" in table
    assert "unknown" in table  # FLOPs nobody stated
    assert cli.main(["ledger", "--csv", "--org", "org-a"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("avoided,org-a,")
    assert lines[1].endswith(",org-b/big@1.0,recipe,120,,,acknowledged")
    assert cli.main(["--json", "ledger", "--since", "2099-01"]) == 0
    assert json.loads(capsys.readouterr().out)["runs"] == []
