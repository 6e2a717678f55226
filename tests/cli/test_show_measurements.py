"""`consortium show` against a live registry: a version's eval scores, compatibility matrix,
fine-tunability, cost and the status of each measurement (a skipped one says why)."""

from __future__ import annotations

import json

import pytest
from consortium_cli import main as cli

from tests.api.measured import measured_version, with_finetune
from tests.conftest import Member

pytestmark = pytest.mark.django_db(transaction=True)


def show(*argv: str, capsys: pytest.CaptureFixture) -> str:
    assert cli.main(["-q", "show", *argv]) == 0
    return capsys.readouterr().out


def lines_with(out: str, *words: str) -> list[str]:
    return [line for line in out.splitlines() if all(w in line for w in words)]


def test_show_prints_scores_the_matrix_cost_and_why_a_measurement_was_skipped(
    as_alice: None, alice: Member, capsys
) -> None:
    measured_version(alice.user, alice.organization)
    out = show("org-a/tiny-llama@1.0.0", capsys=capsys)
    assert lines_with(out, "evals", "passed", "2 scores on 1 suite(s)")
    assert lines_with(out, "finetune", "skipped", "not measured (size)")
    assert lines_with(out, "compatibility", "failed", "1 of 2 compatibility checks passed")
    assert lines_with(out, "borealis/pico-evals@2.0", "pico_cloze", "acc", "0.5000 ± 0.0200", "40")
    perplexity = lines_with(out, "pico_perplexity", "perplexity", "12.2500", "40")
    assert perplexity
    assert "±" not in perplexity[0]  # no stderr reported: none shown
    assert lines_with(out, "no remote code", "pass", "config has no auto_map")
    assert lines_with(out, "chat template", "n.a.", "no chat template declared")
    assert lines_with(out, "generate", "FAIL", "logits not finite")
    assert lines_with(out, "libraries: torch 2.9.0, transformers 4.57.1")
    cost = lines_with(out, "cost: ")
    assert cost == [
        "cost: 1,000,000 parameters; memory bf16 2.0 MB, int8 1.0 MB; 123.5 tokens/s; first token 0.012 s; "
        "on cpu / Test CPU, 2 threads, torch 2.9.0"
    ]
    assert not lines_with(out, "fine-tunability:")  # skipped: no figures to show


def test_show_prints_fine_tunability_once_measured(as_alice: None, alice: Member, capsys) -> None:
    measured = measured_version(alice.user, alice.organization)
    with_finetune(measured.version)
    out = show(str(measured.version.public_id), capsys=capsys)
    assert lines_with(out, "fine-tunability: held-out loss 3.210 → 2.900 (-9.7%), stable, 0.12 s/step (20 LoRA steps)")


def test_show_json_has_the_scores_and_measurements(as_alice: None, alice: Member, capsys) -> None:
    measured = measured_version(alice.user, alice.organization)
    assert cli.main(["--json", "-q", "show", "org-a/tiny-llama@1.0.0"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [(e["task"], e["value"]) for e in shown["evals"]] == [("pico_cloze", 0.5), ("pico_perplexity", 12.25)]
    assert shown["measurements"]["finetune"] == {
        "status": "skipped",
        "summary": "not measured (size)",
        "details": {},
        "finished_at": shown["measurements"]["finetune"]["finished_at"],
    }
    assert shown["id"] == str(measured.version.public_id)


def test_show_of_an_unmeasured_kind_prints_no_measurements(as_alice: None, alice: Member, capsys) -> None:
    from tests import factories

    artifact = factories.ArtifactFactory(organization=alice.organization, slug="corpus", kind="dataset")
    factories.VersionFactory(artifact=artifact, number="1.0", state="in_review")
    out = show("org-a/corpus@1.0", capsys=capsys)
    assert "measurements" not in out
    assert "org-a/corpus 1.0 (dataset): in_review" in out
