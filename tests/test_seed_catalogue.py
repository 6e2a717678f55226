"""The demo catalogue: seeded for real on `make run`'s first start (pushed with the CLI's client,
checked by the worker, approved by the other org, published to the local Hub) and never pushed twice;
plus where-it-stands and failure paths against the database alone."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from huggingface_hub import HfApi, ModelCard, hf_hub_download
from safetensors.numpy import load

from consortium import devstack
from consortium.embedded import start_process
from jobs.models import PipelineRun, Publication, Step
from registry.demo import files
from registry.demo.catalogue import CATALOGUE, Stage, catalogue_status, stage_of
from registry.demo.seeding import TOKEN_NAME, Seeder, SeedingError
from registry.models import ApiToken, Kind, Version
from registry.permissions import Role
from tests.factories import ArtifactFactory, OrganizationFactory, VersionFactory, member
from tests.test_devstack import ROOT, Stack, call
from tests.webhooks.receiver import Receiver, receiver_running
from tests.webhooks.test_delivery import documented_verify

State = Version.State
KINDS = {
    "eval-suite": Kind.EVAL_SUITE,
    "dataset": Kind.DATASET,
    "recipe": Kind.PRETRAINING_RECIPE,
    "checkpoint": Kind.CHECKPOINT,
    "adapter": Kind.ADAPTER,
    "ablation": Kind.PRETRAINING_RECIPE,
    "ablation-plan": Kind.PRETRAINING_RECIPE,
}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on 127.0.0.1, which `make run` allows."""
    with receiver_running() as running:
        yield running


@pytest.mark.stack
def test_a_first_start_seeds_the_catalogue_through_checks_review_and_the_hub_and_never_pushes_twice(
    tmp_path: Path, receiver: Receiver
) -> None:
    stack = Stack(tmp_path / "var", catalogue=True)
    try:
        banner = stack.wait_ready()
        assert "Demo catalogue: being seeded in the background" in banner
        token, review_token = re.findall(r"^\s+(ocr_\S+)$", banner, re.MULTILINE)
        # aurora's owner registers a webhook for its publications (make run allows loopback receivers)
        status, webhook = call(
            f"{stack.url}/api/v1/organizations/aurora/webhooks/",
            token,
            {"url": receiver.url, "event_types": ["publication.published"]},
        )
        assert status == 201, webhook
        progress = stack.read_until(r"demo catalogue: .*(done: |stopped short)", timeout=420)
        assert "done: " in progress, progress
        assert progress.count("checks passed; in review") == 7, progress
        assert "borealis/pico-weather-evals@1.0.0: the default eval suite for checkpoints and adapters" in progress
        assert re.search(r"aurora/pico-llama@1\.0\.0: measured: evals passed \(\d+ scores on 1 suite", progress)
        assert "borealis/pico-llama-lora@1.0.0: approved by aurora-reviewer" in progress
        assert (
            "borealis/dense-1b-code25@1.0.0: prior art: same as aurora/dense-1b-web-code@1.0.0 except lr 3e-4 vs 4e-4, "
            "starcoderdata 25% vs 20%" in progress
        )

        states = {}
        for org in ("aurora", "borealis"):
            _, found = call(f"{stack.url}/api/v1/versions/?org={org}", token)
            states |= {f"{v['artifact']['organization']}/{v['artifact']['slug']}": v for v in found["results"]}
        _, suites = call(f"{stack.url}/api/v1/versions/?org=borealis&kind=eval_suite", token)
        assert [v["state"] for v in suites["results"]] == ["approved"]
        states = {ref: v for ref, v in states.items() if v["artifact"]["kind"] != "eval_suite"}
        assert {ref: v["state"] for ref, v in states.items()} == {
            "aurora/pico-weather": "published",
            "aurora/pico-llama-pretraining": "approved",
            "aurora/pico-llama": "published",
            "borealis/pico-llama-lora": "published",
            "aurora/dense-1b-web-code": "approved",
            "borealis/dense-1b-code25": "approved",
        }

        def edges(ref: str, side: str) -> set[tuple[str, str]]:
            _, lineage = call(f"{stack.url}/api/v1/versions/{states[ref]['id']}/lineage/", token)
            return {(e["relation"], e["version"]["artifact"]) for e in lineage[side]}

        assert edges("aurora/pico-llama", "parents") == {
            ("produced_by", "aurora/pico-llama-pretraining"),
            ("trained_on", "aurora/pico-weather"),
            ("evaluated_with", "borealis/pico-weather-evals"),  # recorded by its eval step
        }
        assert edges("borealis/pico-llama-lora", "parents") == {
            ("derived_from", "aurora/pico-llama"),
            ("evaluated_with", "borealis/pico-weather-evals"),
        }
        _, ledger = call(f"{stack.url}/api/v1/ledger/", token)
        tallies = {row["organization"]: row for row in ledger["by_organization"]}
        assert tallies["aurora"]["spent"]["gpu_hours"] == 5120  # the 1.2B run; the pico recipe took 0
        assert tallies["borealis"]["avoided"]["gpu_hours"] == 5120, "acknowledged instead of re-run"
        _, card = call(f"{stack.url}/api/v1/versions/{states['aurora/pico-llama']['id']}/scorecard/", token)
        assert list(card["factors"]) == ["performance", "provenance", "license", "tooling", "finetune", "readiness"]
        assert {(flag["task"], flag["declared_by"]["name"]) for flag in card["contamination"]} >= {
            ("pico_weather_cloze", "aurora/pico-weather")
        }, "the dataset's declared overlap marks the suite's scores"
        _, checks = call(f"{stack.url}/api/v1/versions/{states['borealis/pico-llama-lora']['id']}/checks/", token)
        adapter_format = next(step for step in checks["steps"] if step["name"] == "format")
        assert adapter_format["details"]["base"]["shapes_checked"] is True, "compared with the registry base"

        hub = HfApi(endpoint=stack.hub_url, token=(tmp_path / "var" / "hub-token").read_text().strip())
        for repo, kind in (
            ("aurora-lab/pico-weather", "dataset"),
            ("aurora-lab/pico-llama", "model"),
            ("borealis-ai/pico-llama-lora", "model"),
        ):
            assert [t.name for t in hub.list_repo_refs(repo, repo_type=kind).tags] == ["v1.0.0"], repo
        assert "model.safetensors" in hub.list_repo_files("aurora-lab/pico-llama", revision="v1.0.0")
        for repo in ("aurora-lab/pico-llama", "borealis-ai/pico-llama-lora"):
            card = ModelCard.load(hf_hub_download(repo, "README.md", revision="v1.0.0", endpoint=stack.hub_url))
            tasks = {r.dataset_name for r in card.data.eval_results}
            assert tasks == {"pico_weather_cloze", "pico_weather_perplexity"}, repo

        # Seeding again (what every later start would do, were it not told the catalogue is seeded) pushes nothing.
        again = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), "seed_catalogue", f"--url={stack.url}"],
            env=devstack.Stack(devstack._parse(stack.args)).env(),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert (again.returncode, again.stderr) == (0, "")
        assert "already seeded: borealis/pico-weather-evals@1.0.0 approved, aurora/pico-weather@1.0.0" in again.stdout
        _, found = call(f"{stack.url}/api/v1/versions/?org=aurora", token)
        assert len(found["results"]) == 4

        # The worker delivered aurora's two publications, signed: the documented snippet verifies them.
        verify = documented_verify()
        deadline = time.monotonic() + 30
        while len(receiver.received) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert sorted(json.loads(r.body)["version"]["artifact"] for r in receiver.received) == [
            "aurora/pico-llama",
            "aurora/pico-weather",
        ], "borealis's adapter is not aurora's: its publication is not sent to aurora's webhook"
        assert all(verify(webhook["secret"], r.headers["Consortium-Signature"], r.body) for r in receiver.received)
        _, log = call(f"{stack.url}/api/v1/organizations/aurora/webhooks/{webhook['id']}/deliveries/", token)
        assert [(d["status"], d["last_status_code"]) for d in log["results"]] == [("succeeded", 200)] * 2
        # borealis's reviewer heard of each aurora version waiting for review (their inbox, by the API)
        _, inbox = call(f"{stack.url}/api/v1/notifications/?page_size=200", review_token)
        waiting = {n["summary"] for n in inbox["results"] if n["reason"] == "review_waiting"}
        assert "aurora/pico-llama@1.0.0 moved from checking to in_review" in waiting, inbox
    finally:
        left = stack.ctrl_c()
    assert left == [], f"processes left after Ctrl-C: {left}"


# Where the seeding stands, from the database


def _catalogue(**states: str) -> dict[str, Version]:
    """The catalogue's versions, each in the state given by its key (absent when not given)."""
    created = {}
    for item in CATALOGUE:
        if item.key not in states:
            continue
        m = item.manifest
        org = OrganizationFactory(slug=m["organization"])
        artifact = ArtifactFactory(organization=org, slug=m["artifact"], kind=KINDS[item.key])
        created[item.key] = VersionFactory(
            artifact=artifact, number=str(m["version"]), state=states[item.key], release_target=m["release_target"]
        )
    return created


@pytest.mark.django_db
def test_the_catalogue_is_absent_then_partial_then_seeded() -> None:
    assert catalogue_status() == "absent"
    versions = _catalogue(**{"eval-suite": State.APPROVED}, dataset=State.PUBLISHED, recipe=State.CHECKING)
    assert catalogue_status() == "partial"
    Version.objects.filter(pk=versions["recipe"].pk).update(state=State.APPROVED)  # a consortium release
    _catalogue(checkpoint=State.PUBLISHED, adapter=State.CHANGES_REQUESTED)
    assert catalogue_status() == "partial"
    _catalogue(ablation=State.APPROVED, **{"ablation-plan": State.APPROVED})
    assert catalogue_status() == "seeded", "a refused version is settled: seeding again would not change it"


@pytest.mark.django_db
def test_stages_say_what_the_seeding_has_left_to_do() -> None:
    versions = _catalogue(dataset=State.APPROVED, recipe=State.APPROVED, checkpoint=State.CHECKING, adapter=State.DRAFT)
    assert stage_of(None) == Stage.PUSH
    assert stage_of(versions["adapter"]) == Stage.PUSH, "an interrupted push is resumed"
    assert stage_of(versions["recipe"]) == Stage.DONE
    assert stage_of(versions["dataset"]) == Stage.PUBLISHING
    Publication.objects.create(
        version=versions["dataset"],
        status=Publication.Status.FAILED,
        repo_type="dataset",
        repo_id="aurora-lab/pico-weather",
        tag="v1.0.0",
        manifest_sha256="0" * 64,
        metadata_sha256="0" * 64,
    )
    assert stage_of(Version.objects.select_related("publication").get(pk=versions["dataset"].pk)) == Stage.STOPPED
    assert stage_of(versions["checkpoint"]) == Stage.CHECKING
    PipelineRun.objects.create(version=versions["checkpoint"], status=PipelineRun.Status.ERRORED)
    assert stage_of(Version.objects.select_related("pipeline").get(pk=versions["checkpoint"].pk)) == Stage.STOPPED


@pytest.mark.django_db
def test_seeding_needs_the_demo_orgs() -> None:
    with pytest.raises(SeedingError, match=r"no organization aurora, borealis: run `manage\.py seed_demo` first"):
        Seeder(url="http://127.0.0.1:9", timeout=5, say=lambda line: None).run()


@pytest.mark.django_db
def test_an_unreachable_registry_is_named_and_the_seeding_token_is_revoked() -> None:
    for slug in ("aurora", "borealis"):
        member(OrganizationFactory(slug=slug), Role.OWNER, username=f"{slug}-owner")
    with pytest.raises(
        SeedingError, match=r"borealis/pico-weather-evals@1\.0\.0: cannot push to http://127\.0\.0\.1:9"
    ):
        Seeder(url="http://127.0.0.1:9", timeout=5, say=lambda line: None).run()
    token = ApiToken.objects.get(name=TOKEN_NAME)
    assert (token.organization.slug, token.revoked_at is not None) == ("borealis", True)


@pytest.mark.django_db
def test_a_failed_check_is_reported_with_its_reasons_and_stops_what_depends_on_it() -> None:
    versions = _catalogue(
        **{"eval-suite": State.APPROVED},
        dataset=State.PUBLISHED,
        recipe=State.APPROVED,
        checkpoint=State.CHANGES_REQUESTED,
        adapter=State.IN_REVIEW,
        ablation=State.APPROVED,
        **{"ablation-plan": State.APPROVED},
    )
    run = PipelineRun.objects.create(version=versions["checkpoint"], status=PipelineRun.Status.FAILED)
    reason = {"path": "config.json", "code": "config_missing", "message": "config.json is missing"}
    Step.objects.create(run=run, name="format", status=Step.Status.FAILED, reasons=[reason])
    lines: list[str] = []
    assert Seeder(url="http://127.0.0.1:9", timeout=5, say=lines.append, poll=0).run() is False
    said = "\n".join(lines)
    assert (
        "aurora/pico-llama@1.0.0: checks failed, changes requested: format: config.json: config.json is missing" in said
    )
    assert "borealis/pico-llama-lora@1.0.0: left in review: its parent aurora/pico-llama@1.0.0 did not" in said
    assert "incomplete: borealis/pico-weather-evals@1.0.0 approved, aurora/pico-weather@1.0.0 published" in said
    assert versions["adapter"].reviews.count() == 0, "never approved over a refused parent"
    assert not ApiToken.objects.exists(), "nothing to push: no token issued"


@pytest.mark.django_db
def test_seed_demo_says_whether_the_catalogue_is_seeded(settings: Any, tmp_path: Path) -> None:
    settings.VAR_DIR = tmp_path
    out = StringIO()
    call_command("seed_demo", "--json", stdout=out)
    result = json.loads(out.getvalue())
    assert result["catalogue"] == "absent"
    assert [t["organization"] for t in result["tokens"]] == ["aurora", "borealis"]


# The files it pushes


def test_the_recipe_describes_the_checkpoint_it_produced() -> None:
    generated, metadata = files.checkpoint_files()
    config = json.loads(generated["config.json"])
    recipe = yaml.safe_load((files.EXAMPLES / "recipe" / "recipe.yaml").read_text())["architecture"]
    assert (
        recipe["parameters"]
        == metadata["parameters"]
        == sum(t.size for t in load(generated["model.safetensors"]).values())
    )
    assert (recipe["layers"], recipe["hidden_size"], recipe["heads"]) == (
        config["num_hidden_layers"],
        config["hidden_size"],
        config["num_attention_heads"],
    )
    assert (
        recipe["vocab_size"] == config["vocab_size"] == len(json.loads(generated["tokenizer.json"])["model"]["vocab"])
    )
    assert generated == files.checkpoint_files()[0], "the same bytes every time: a resumed push finds its version"


def test_the_adapter_fits_the_checkpoint() -> None:
    base = load(files.checkpoint_files()[0]["model.safetensors"])
    adapter = load(files.adapter_files("aurora-lab/pico-llama")[0]["adapter_model.safetensors"])
    for name, factor in adapter.items():
        module = name.removeprefix("base_model.model.").rsplit(".lora_", 1)[0]
        out_features, in_features = base[f"{module}.weight"].shape
        assert factor.shape == (
            (files.LORA_RANK, in_features) if ".lora_A." in name else (out_features, files.LORA_RANK)
        )


# make run's switch


def test_make_run_seeds_unless_told_not_to(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONSORTIUM_SEED_CATALOGUE", raising=False)
    assert devstack._parse([]).catalogue is True
    assert devstack._parse(["--no-catalogue"]).catalogue is False
    monkeypatch.setenv("CONSORTIUM_SEED_CATALOGUE", "false")
    assert devstack._parse([]).catalogue is False
    monkeypatch.setenv("CONSORTIUM_SEED_CATALOGUE", "off")
    with pytest.raises(ImproperlyConfigured, match="CONSORTIUM_SEED_CATALOGUE='off': expected true or false"):
        devstack._parse([])


def test_make_run_echoes_the_seeding_and_says_when_it_stopped_short(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = devstack.Stack(devstack._parse([f"--var-dir={tmp_path}"]))
    (tmp_path / "log").mkdir()
    (tmp_path / "log" / "seed.log").write_text("a line of an earlier start\n")
    script = "import time; print('pushed', flush=True); time.sleep(0.5); print('checks failed'); raise SystemExit(1)"
    seeder = start_process("seed", [sys.executable, "-c", script], log_dir=tmp_path / "log")
    stack.seed_follow(seeder, offset=len("a line of an earlier start\n"))
    out = capsys.readouterr().out
    assert out.splitlines()[:2] == ["  demo catalogue: pushed", "  demo catalogue: checks failed"]
    assert "demo catalogue: stopped short (exit 1), as the lines above say; the registry runs on" in out
    assert "earlier start" not in out


def test_make_run_never_seeds_a_real_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "https://huggingface.co")
    stack = devstack.Stack(devstack._parse([f"--var-dir={tmp_path}"]))
    assert stack.seed_start({}, "http://127.0.0.1:8000", "absent") == 0
    assert stack.seeder is None
    assert "not seeded, since a real Hub is configured" in stack.catalogue_line("http://127.0.0.1:8000", "absent")


def test_a_later_start_does_not_seed_a_seeded_catalogue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HF_ENDPOINT", "HF_TOKEN", "HF_TOKEN_FILE", "CONSORTIUM_SEED_CATALOGUE"):
        monkeypatch.delenv(name, raising=False)
    stack = devstack.Stack(devstack._parse([f"--var-dir={tmp_path}"]))
    assert stack.seed_start({}, "http://127.0.0.1:8000", "seeded") == 0
    assert stack.seeder is None
    line = stack.catalogue_line("http://127.0.0.1:8000", "seeded")
    assert line == "Demo catalogue: seeded at an earlier start; browse it at http://127.0.0.1:8000/browse/"
