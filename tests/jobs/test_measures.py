"""Measurements as pipeline steps, on the demo's real tiny models, eval suite and S3: sent only
once the gating checks pass, scored with lm-evaluation-harness in the sandbox, stored as rows and
lineage outside the approval's digest, skipped with a reason when they cannot be taken, and
re-run by stewards."""

from __future__ import annotations

from typing import Any

import pytest

from jobs import pipeline
from jobs.checks import MEASURES_BY_KIND
from jobs.measures.suites import suites_for
from jobs.models import EvalResult, EvalSuiteDefault, Step
from registry.demo.files import EXAMPLES, adapter_files, checkpoint_files
from registry.digests import metadata_digest
from registry.errors import Forbidden, InvalidTransition
from registry.models import LineageEdge, Relation, Sharing, Version
from registry.services.uploads import version_finalize
from tests import factories
from tests.conftest import Member
from tests.jobs.conftest import StoredVersion, drive, queued_messages, run_check

pytest.importorskip("lm_eval", reason="the evals extra is not installed (make installs it: pip install .[evals])")
pytestmark = pytest.mark.django_db(transaction=True)

SUITE_FILES = {
    str(path.relative_to(EXAMPLES / "eval-suite")): path.read_bytes()
    for path in sorted((EXAMPLES / "eval-suite").rglob("*"))
    if path.is_file() and path.name != "consortium.yaml"
}
TASKS = {"pico_weather_cloze", "pico_weather_perplexity"}


@pytest.fixture(autouse=True)
def quick_pipeline(settings: Any, tmp_path: Any) -> None:
    settings.PIPELINE_HEARTBEAT_SECONDS = 0.05
    settings.PIPELINE_LEASE_SECONDS = 30
    settings.MEASURE_SCRATCH_DIR = tmp_path / "scratch"
    settings.MEASURE_MEMORY_LIMIT_MB = 6 * 1024
    settings.MEASURE_TIME_LIMIT_SECONDS = 300


@pytest.fixture
def suite(stored_version: StoredVersion) -> Version:
    """The demo suite, published by another org and chosen by the stewards for checkpoints and adapters."""
    organization = factories.OrganizationFactory(slug="borealis")
    artifact = factories.ArtifactFactory(
        organization=organization, kind="eval_suite", slug="pico-weather-evals", sharing=Sharing.CONSORTIUM
    )
    version = stored_version("eval_suite", SUITE_FILES, artifact=artifact, state=Version.State.PUBLISHED)
    for kind in ("checkpoint", "adapter"):
        EvalSuiteDefault.objects.create(kind=kind, suite=artifact)
    return version


def checked(
    stored_version: StoredVersion, member: Member, kind: str, files: dict[str, bytes], **fields: Any
) -> Version:
    """A draft finalized and its gating checks run, as the workers would."""
    bases = fields.pop("bases", ())
    draft = stored_version(kind, files, organization=member.organization, state=Version.State.DRAFT, **fields)
    for parent in bases:
        LineageEdge.objects.create(child=draft, relation=Relation.DERIVED_FROM, parent=parent)
    return drive(version_finalize(actor=member.actor, version=draft))


def measured(version: Version, *names: str) -> dict[str, Step]:
    """The named measurements (all of them by default) run in-process, as a gpu worker would."""
    steps = Step.objects.filter(run__version=version, gating=False)
    for step in steps.filter(name__in=names) if names else steps:
        assert pipeline.step_execute(step.pk) in Step.FINISHED, step.name
    return {s.name: s for s in Step.objects.filter(run__version=version, gating=False)}


def demo_checkpoint(stored_version: StoredVersion, alice: Member) -> Version:
    files, metadata = checkpoint_files()
    return checked(stored_version, alice, "checkpoint", files, metadata=metadata)


def test_a_checkpoint_is_measured_once_its_checks_pass_and_its_approval_stays_valid(
    stored_version: StoredVersion, alice: Member, suite: Version
) -> None:
    version = demo_checkpoint(stored_version, alice)
    assert version.state == Version.State.IN_REVIEW
    measures = list(Step.objects.filter(run__version=version, gating=False).order_by("position"))
    assert sorted(queued_messages("gpu")) == sorted(s.pk for s in measures), "sent to the gpu queue once passed"
    declared = metadata_digest(version)

    steps = measured(version)

    statuses = {name: s.status for name, s in steps.items()}
    # The demo's word-level tokenizer cannot spell words outside its corpus: a true finding.
    assert statuses == {**dict.fromkeys(MEASURES_BY_KIND["checkpoint"], "passed"), "compatibility": "failed"}
    assert [r["message"].split(":")[0] for r in steps["compatibility"].reasons] == ["tokenizer round-trip"]
    scores = list(EvalResult.objects.filter(version=version))
    assert {r.task for r in scores} == TASKS
    assert {(r.suite_id, r.harness_version) for r in scores} == {(suite.pk, scores[0].harness_version)}
    cloze = next(r for r in scores if r.task == "pico_weather_cloze" and r.metric == "acc")
    assert 0 <= cloze.value <= 1
    assert cloze.stderr is not None
    assert cloze.samples == 16
    evals = steps["evals"]
    assert evals.progress_unit == "requests"
    assert evals.progress_done == evals.progress_total > 0
    assert evals.details["suites"][0]["name"] == "borealis/pico-weather-evals"
    edge = LineageEdge.objects.get(child=version, relation=Relation.EVALUATED_WITH)
    assert (edge.parent_id, edge.measured, edge.child_in_review) == (suite.pk, True, True)
    assert metadata_digest(Version.objects.get(pk=version.pk)) == declared, "what a review approved is unchanged"

    matrix = {c["check"]: c["passed"] for c in steps["compatibility"].details["checks"]}
    assert [check for check, passed in matrix.items() if passed is False] == ["tokenizer round-trip"]
    assert matrix["model generates"] is True
    assert "transformers" in steps["compatibility"].details["libraries"]
    tune = steps["finetune"].details
    assert tune["stable"]
    assert tune["heldout_loss_after"] < tune["heldout_loss_before"]
    cost = steps["cost"].details
    assert cost["parameters"] == version.parameters
    assert cost["tokens_per_second"] > 0
    assert cost["memory_bytes"]["bf16"] == 2 * version.parameters
    assert cost["hardware"]["label"]
    assert version.reviews.count() == 0
    assert Version.objects.get(pk=version.pk).state == Version.State.IN_REVIEW


def test_an_adapter_is_scored_on_its_registry_base_and_differs_from_it(
    stored_version: StoredVersion, alice: Member, suite: Version
) -> None:
    base = demo_checkpoint(stored_version, alice)
    measured(base, "evals")
    files, metadata = adapter_files("unused/base")
    adapter = checked(stored_version, alice, "adapter", files, metadata=metadata, bases=[base], number="1.0.1")
    assert adapter.state == Version.State.IN_REVIEW, list(
        Step.objects.filter(run__version=adapter).values("name", "reasons")
    )

    steps = measured(adapter, "evals", "cost")

    assert steps["evals"].status == Step.Status.PASSED, steps["evals"].reasons
    on_base = {(r.task, r.metric): r.value for r in EvalResult.objects.filter(version=base)}
    with_adapter = {(r.task, r.metric): r.value for r in EvalResult.objects.filter(version=adapter)}
    assert set(with_adapter) == set(on_base)
    assert with_adapter != on_base, "the adapter's weights took part"
    assert steps["cost"].details["adapter_parameters"] == adapter.parameters
    assert "finetune" not in steps, "an adapter is a fine-tune already"


def test_what_cannot_be_measured_is_skipped_with_the_reason_and_never_guessed(
    stored_version: StoredVersion, alice: Member, suite: Version, settings: Any
) -> None:
    files, metadata = checkpoint_files()
    big = stored_version("checkpoint", files, organization=alice.organization, parameters=7_000_000_000)
    ctx = run_check("evals", big)
    assert ctx.skipped.startswith("not measured (size): 7,000,000,000 parameters")
    assert not EvalResult.objects.exists()

    adapter_data, _adapter_metadata = adapter_files("meta-llama/Llama-3.1-8B")
    on_hub = stored_version("adapter", adapter_data, organization=alice.organization, parameters=2048)
    LineageEdge.objects.create(
        child=on_hub,
        relation=Relation.DERIVED_FROM,
        external_repo="meta-llama/Llama-3.1-8B",
        external_repo_type="model",
        external_revision="a" * 40,
    )
    assert run_check("cost", on_hub).skipped == "not measured (base not in registry)"

    EvalSuiteDefault.objects.all().delete()
    small = stored_version("checkpoint", files, organization=alice.organization, parameters=metadata["parameters"])
    assert run_check("evals", small).skipped == "not measured (no eval suite chosen for checkpoints and none named)"


def test_named_suites_resolve_for_what_the_pushing_org_reads_and_unknown_names_fail_the_metadata_check(
    stored_version: StoredVersion, alice: Member, suite: Version
) -> None:
    files, metadata = checkpoint_files()
    private = factories.ArtifactFactory(organization=suite.artifact.organization, kind="eval_suite", slug="secret")
    stored_version("eval_suite", SUITE_FILES, artifact=private, state=Version.State.APPROVED)
    named = {
        **metadata,
        "eval_suites": [f"borealis/pico-weather-evals@{suite.number}", "borealis/secret", "nobody/none"],
    }
    version = stored_version("checkpoint", files, organization=alice.organization, metadata=named)

    chosen = suites_for(version)
    assert [s.pk for s in chosen.suites] == [suite.pk], "the default and the named one are the same version"
    assert [p.split(":")[0] for p in chosen.problems] == ["eval_suites[1]", "eval_suites[2]"]
    ctx = run_check("metadata", version)
    assert [r.code for r in ctx.reasons] == ["eval_suite_unknown", "eval_suite_unknown"]
    assert "'borealis/secret' is no eval suite" in ctx.reasons[0].message


def test_a_model_that_runs_out_of_memory_fails_its_measurement_not_its_review(
    stored_version: StoredVersion, alice: Member, suite: Version, settings: Any
) -> None:
    version = demo_checkpoint(stored_version, alice)
    settings.MEASURE_MEMORY_LIMIT_MB = 300
    step = measured(version, "cost")["cost"]
    assert step.status == Step.Status.FAILED
    assert step.attempts == 1, "a result, not retried"
    assert step.reasons[0]["code"] == "did_not_finish"
    assert "memory" in step.reasons[0]["message"]
    assert Version.objects.get(pk=version.pk).state == Version.State.IN_REVIEW


def test_stewards_re_run_finished_measurements_and_nobody_else_does(
    stored_version: StoredVersion, alice: Member, steward: Member, suite: Version
) -> None:
    version = demo_checkpoint(stored_version, alice)
    step = measured(version, "evals")["evals"]
    with pytest.raises(Forbidden):
        pipeline.step_rerun(actor=alice.actor, step=step, reason="new harness")
    check = Step.objects.get(run__version=version, name="integrity")
    with pytest.raises(InvalidTransition):
        pipeline.step_rerun(actor=steward.actor, step=check, reason="passed checks are settled")

    again = pipeline.step_rerun(actor=steward.actor, step=step, reason="lm-eval 0.4.14 landed")
    assert (again.status, again.attempts, again.details) == (Step.Status.QUEUED, 0, {})
    assert step.pk in queued_messages("gpu")
    with pytest.raises(InvalidTransition):
        pipeline.step_rerun(actor=steward.actor, step=step, reason="already queued")
    assert pipeline.step_execute(step.pk) == Step.Status.PASSED
    scores = list(EvalResult.objects.filter(version=version))
    assert len(scores) == len({(r.task, r.metric, r.filter) for r in scores}), "replaced, not added"

    other = factories.ArtifactFactory(organization=alice.organization, kind="eval_suite", slug="other-suite")
    assert pipeline.measures_rerun(actor=steward.actor, name="evals", reason="new suite", suite=other) == 0
    assert pipeline.measures_rerun(actor=steward.actor, name="evals", reason="new suite", suite=suite.artifact) == 1
    with pytest.raises(Forbidden):
        pipeline.measures_rerun(actor=alice.actor, name="evals", reason="not mine to do")
