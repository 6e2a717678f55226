"""The version page's measurements: eval scores by suite and the three probes' figures, what a
queued, running or skipped measurement is doing, scores on suites the viewer may not see left
out, live polling that stops once every measurement is finished, and a constant query count."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from jobs.models import EvalResult, PipelineRun, Step
from registry.models import Organization, Version
from tests.conftest import Member
from tests.factories import ArtifactFactory, VersionFactory

pytestmark = pytest.mark.django_db

COMPATIBILITY = {
    "checks": [
        {"check": "AutoTokenizer round-trip", "passed": True, "detail": "12 of 12 strings"},
        {"check": "chat template", "passed": None, "detail": "no chat template declared"},
        {"check": "AutoModelForCausalLM generates", "passed": False, "detail": "logits are not finite"},
    ],
    "libraries": {"transformers": "4.46.3", "peft": "0.13.2"},
}
FINETUNE = {
    "steps": 20,
    "trainable_parameters": 8192,
    "heldout_loss_before": 2.5,
    "heldout_loss_after": 2.0,
    "relative_heldout_drop": 0.2,
    "train_losses": [2.6, 2.1],
    "stable": True,
    "seconds": 8.4,
    "seconds_per_step": 0.42,
    "budget": {"rank": 8, "alpha": 16, "learning_rate": 0.001, "batch": 4, "seed": 0},
}
COST = {
    "parameters": 1_234_567,
    "adapter_parameters": None,
    "memory_bytes": {"fp32": 4_938_268, "bf16": 2_469_134, "int8": 1_234_567},
    "tokens_per_second": 123.45,
    "seconds_to_first_token": 0.0123,
    "hardware": {"device": "cpu", "label": "cpu / Test CPU 9000, 2 threads, torch 2.5.1"},
}


def checkpoint(org: Organization, slug: str = "tiny", **fields: Any) -> Version:
    return VersionFactory(artifact=ArtifactFactory(organization=org, slug=slug, kind="checkpoint"), **fields)


def suite_of(org: Organization, slug: str, **fields: Any) -> Version:
    return VersionFactory(artifact=ArtifactFactory(organization=org, slug=slug, kind="eval_suite"), **fields)


def measured(version: Version, *, run_status: str = "passed", **steps: dict[str, Any]) -> PipelineRun:
    """A run with a passed gating check and the given measurement steps (name → Step fields)."""
    run = PipelineRun.objects.create(version=version, status=run_status)
    Step.objects.create(run=run, name="integrity", status="passed", summary="3 files match")
    for position, (name, fields) in enumerate(steps.items(), start=1):
        Step.objects.create(run=run, name=name, gating=False, queue="gpu", position=position, **fields)
    return run


def scores(version: Version, suite: Version, count: int = 2) -> None:
    EvalResult.objects.bulk_create(
        EvalResult(
            version=version,
            suite=suite,
            task=f"task-{i:02}",
            metric="acc",
            filter="none",
            value=0.5 + i / 100,
            stderr=0.02,
            samples=100,
            harness_version="0.4.8",
        )
        for i in range(count)
    )


def fully_measured(org: Organization, suite: Version, slug: str = "tiny") -> Version:
    """A checkpoint in review with every measurement passed and scores on `suite`."""
    version = checkpoint(org, slug, state="in_review")
    evals = {"suites": [{"suite": str(suite.public_id), "seconds": 12.5, "scores": 4}], "problems": []}
    measured(
        version,
        evals={"status": "passed", "summary": "4 scores on 1 suite(s)", "details": evals},
        compatibility={"status": "failed", "summary": "1 of 2 compatibility checks passed", "details": COMPATIBILITY},
        finetune={"status": "passed", "summary": "held-out loss 2.500 → 2.000", "details": FINETUNE},
        cost={"status": "passed", "summary": "1,234,567 parameters", "details": COST},
    )
    for i, (metric, filter_, value, stderr) in enumerate(
        [("acc", "none", 0.51234, 0.0213), ("exact_match", "strict-match", 0.25, None), ("bleu", "none", None, None)]
    ):
        EvalResult.objects.create(
            version=version,
            suite=suite,
            task=f"task-{i}",
            metric=metric,
            filter=filter_,
            value=value,
            stderr=stderr,
            samples=None if value is None else 64,
            harness_version="0.4.8",
        )
    return version


def get(member: Member | None, url: str) -> str:
    client = Client()
    if member is not None:
        client.force_login(member.user)
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def section(page: str, id_: str) -> str:
    found = re.search(rf'<section id="{id_}".*?</section>\s*(?=<section id=|</div>)', page, re.S)
    assert found, f"the page has a #{id_} section"
    return found.group(0)


def test_the_page_shows_eval_scores_by_suite_and_every_probes_figures(alice: Member) -> None:
    suite = suite_of(alice.organization, "mini-mmlu", number="2.0", state="approved")
    version = fully_measured(alice.organization, suite)
    page = get(alice, f"/versions/{version.public_id}/")

    checks = section(page, "checks")
    assert "integrity" in checks
    for name in ("evals", "compatibility", "finetune", "cost"):
        assert name not in checks, "the checks table lists gating checks only"
    measurements = section(page, "measurements")
    assert "they never gate a version" in measurements

    scores = measurements[measurements.index("<caption>") :]
    assert f'<a href="/versions/{suite.public_id}/">org-a/mini-mmlu</a> 2.0' in scores
    assert "lm-evaluation-harness 0.4.8" in scores
    assert "12.5 s" in scores
    assert "0.5123 ± 0.0213" in scores
    assert "exact_match <small>(filter strict-match)</small>" in scores
    assert "(filter none)" not in scores
    assert re.search(r"<td>0.25</td>\s*<td>64</td>", scores), "no stderr, no ±"
    assert "no finite value" in scores
    assert "not reported" in scores, "no sample count for a score the harness did not give"

    assert "1 of 2 compatibility checks passed" in measurements
    assert re.search(r'<span aria-hidden="true">✓</span> passed</td><td>12 of 12 strings', measurements)
    assert re.search(r'<span aria-hidden="true">✗</span> failed</td><td>logits are not finite', measurements)
    assert re.search(r'<span aria-hidden="true">—</span> does not apply</td><td>no chat template', measurements)
    assert "peft 0.13.2 · transformers 4.46.3" in measurements

    assert "2.500 → 2.000 (-20.0%)" in measurements
    assert "<dt>Stable</dt><dd>yes</dd>" in measurements
    assert "20 at rank 8, 8,192 trainable parameters" in measurements
    assert "0.42 s" in measurements

    assert "<dd>1,234,567</dd>" in measurements
    assert "2.4\xa0MB at bf16 · 1.2\xa0MB at int8 · 4.7\xa0MB at fp32" in measurements
    assert "123.5 tokens/s, first token after 0.012 s" in measurements
    assert "cpu / Test CPU 9000, 2 threads, torch 2.5.1" in measurements


def test_an_adapter_shows_its_own_parameters_and_an_unstable_run_says_so(alice: Member) -> None:
    adapter = VersionFactory(
        artifact=ArtifactFactory(organization=alice.organization, slug="lora", kind="adapter"), state="in_review"
    )
    measured(
        adapter,
        cost={"status": "passed", "details": {**COST, "parameters": 1_240_000, "adapter_parameters": 5433}},
        finetune={
            "status": "failed",
            "details": {**FINETUNE, "stable": False, "heldout_loss_after": None, "relative_heldout_drop": None},
        },
    )
    measurements = section(get(alice, f"/versions/{adapter.public_id}/"), "measurements")
    assert "1,240,000 with its base; the adapter's own: 5,433" in measurements
    assert "no: the training loss diverged" in measurements
    assert "<dd>2.500 → not finite</dd>" in measurements


def test_skipped_measurements_say_why_and_queued_ones_what_they_wait_for(alice: Member) -> None:
    failed = checkpoint(alice.organization, "failed", state="changes_requested")
    measured(
        failed,
        run_status="failed",
        evals={"status": "skipped", "summary": "not run: the checks failed"},
        cost={"status": "skipped", "summary": "not run: the checks failed"},
    )
    measurements = section(get(alice, f"/versions/{failed.public_id}/"), "measurements")
    assert measurements.count("not run: the checks failed") == 2
    assert measurements.count('<span class="state state-skipped">skipped</span>') == 2

    large = checkpoint(alice.organization, "large", state="in_review")
    measured(
        large,
        evals={"status": "skipped", "summary": "not measured (no eval suite chosen for checkpoints and none named)"},
        cost={"status": "skipped", "summary": "not measured (size): 70,000,000,000 parameters, above the 1,000"},
        finetune={"status": "errored", "attempts": 5},
    )
    measurements = section(get(alice, f"/versions/{large.public_id}/"), "measurements")
    assert "not measured (no eval suite chosen for checkpoints and none named)" in measurements
    assert "not measured (size): 70,000,000,000 parameters" in measurements
    assert "infrastructure kept failing (5 attempts). A steward may re-run it." in measurements

    checking = checkpoint(alice.organization, "checking", state="checking")
    run = measured(checking, run_status="running", evals={"status": "queued"})
    assert "Queued: waits for the checks to pass." in get(alice, f"/versions/{checking.public_id}/")
    PipelineRun.objects.filter(pk=run.pk).update(status="errored")
    assert "waits for the errored checks: a steward may re-run them" in get(alice, f"/versions/{checking.public_id}/")


def test_before_finalize_the_section_says_when_measurements_run_and_other_kinds_have_none(alice: Member) -> None:
    draft = checkpoint(alice.organization, "draft")
    assert "Measurements run once the version is finalized" in get(alice, f"/versions/{draft.public_id}/")
    dataset = VersionFactory(artifact=ArtifactFactory(organization=alice.organization, kind="dataset"))
    measured(dataset)
    page = get(alice, f"/versions/{dataset.public_id}/")
    assert 'id="measurements"' not in page


def test_scores_on_a_suite_the_viewer_cannot_see_are_left_out_name_and_all(
    alice: Member, charlie: Member, steward: Member
) -> None:
    private = suite_of(alice.organization, "secret-suite", state="in_review")
    public = suite_of(alice.organization, "open-suite", state="published")
    version = fully_measured(alice.organization, public)
    Version.objects.filter(pk=version.pk).update(state="published")
    scores(version, private)
    for outsider in (charlie, None):
        for url in (f"/versions/{version.public_id}/", f"/versions/{version.public_id}/checks/"):
            page = get(outsider, url)
            assert "open-suite" in page
            assert "secret-suite" not in page
            assert str(private.public_id) not in page
    for insider in (alice, steward):
        assert "secret-suite" in get(insider, f"/versions/{version.public_id}/")


def test_an_invisible_versions_measurements_are_a_404(alice: Member, charlie: Member) -> None:
    suite = suite_of(alice.organization, "mini-mmlu", state="approved")
    version = fully_measured(alice.organization, suite)
    client = Client()
    for member in (charlie, None):
        client.logout()
        if member is not None:
            client.force_login(member.user)
        for url in (f"/versions/{version.public_id}/", f"/versions/{version.public_id}/checks/"):
            assert client.get(url).status_code == 404


def test_the_partial_polls_while_a_measurement_runs_and_stops_when_all_are_finished(alice: Member) -> None:
    suite = suite_of(alice.organization, "mini-mmlu", state="approved")
    version = checkpoint(alice.organization, state="in_review")
    scores(version, suite)  # from an earlier run, being re-measured
    run = measured(
        version,
        evals={"status": "running", "progress_done": 40, "progress_total": 120, "progress_unit": "requests 1/2"},
        cost={"status": "running", "progress_done": 3 * 2**20, "progress_total": 12 * 2**20, "progress_unit": "bytes"},
        finetune={"status": "queued"},
    )
    url = f"/versions/{version.public_id}/checks/"
    partial = get(alice, url)
    assert partial.strip().startswith('<div id="pipeline" hx-get="' + url + '" hx-trigger="every 2s"')
    bar = '<progress max="120" value="40" aria-label="Evaluations progress"></progress>'
    assert f"{bar} 40 of 120 requests, suite 1 of 2" in partial
    assert "3.0\xa0MB of 12.0\xa0MB fetched" in partial
    assert "Queued: waits for a GPU worker." in partial
    assert "The scores below are from the previous run" in partial
    assert "task-01" in partial

    steps = Step.objects.filter(run=run, gating=False)
    steps.filter(name="evals").update(status="passed", summary="2 scores on 1 suite(s)")
    steps.filter(name="cost").update(status="errored")
    assert "hx-trigger" in get(alice, url), "finetune is still queued"
    steps.filter(name="finetune").update(status="skipped", summary="not measured (size): too large")
    partial = get(alice, url)
    assert "hx-trigger" not in partial
    assert "from the previous run" not in partial
    assert 'id="pipeline" hx-get' not in get(alice, f"/versions/{version.public_id}/")

    PipelineRun.objects.filter(pk=run.pk).update(status="errored")
    steps.update(status="queued")
    assert "hx-trigger" not in get(alice, url), "waiting on a steward: polling would not help"


def _counted(client: Client, url: str) -> int:
    client.get(url)  # warm the session and caches
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_the_measurements_add_a_constant_number_of_queries(alice: Member) -> None:
    client = Client()
    client.force_login(alice.user)
    few = fully_measured(alice.organization, suite_of(alice.organization, "one", state="approved"), slug="few")
    many = fully_measured(alice.organization, suite_of(alice.organization, "two", state="approved"), slug="many")
    for i in range(4):
        scores(many, suite_of(alice.organization, f"more-{i}", state="approved"), count=10)
    for path in ("", "checks/"):
        counts = [_counted(client, f"/versions/{v.public_id}/{path}") for v in (few, many)]
        assert counts[0] == counts[1], path
    unmeasured = checkpoint(alice.organization, "unmeasured", state="in_review")
    PipelineRun.objects.create(version=unmeasured, status="passed")
    base = _counted(client, f"/versions/{unmeasured.public_id}/")
    assert _counted(client, f"/versions/{many.public_id}/") == base + 1, "the suites' visibility; the steps are 2"
    assert _counted(client, f"/versions/{many.public_id}/") <= 25
