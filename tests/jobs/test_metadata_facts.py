"""The metadata step's facts land on the version row when its result is written (the browse facets
filter on them), and only then: a step that lost its lease writes nothing."""

from __future__ import annotations

import uuid

import pytest

from jobs import pipeline
from jobs.checks import check_for
from jobs.checks.base import CheckContext
from jobs.checks.metadata import version_facts
from jobs.models import PipelineRun, Step
from registry.models import Kind, Version
from tests.corpus.models import clean_checkpoint, tiny_weights
from tests.corpus.safetensors import clean_adapter
from tests.jobs.conftest import StoredVersion

pytestmark = pytest.mark.django_db(transaction=True)


def run_metadata_step(version: Version) -> tuple[str, Version]:
    """The metadata step as a worker runs it: claim, check, write the result."""
    run = PipelineRun.objects.create(version=version)
    step = Step.objects.create(run=run, name="metadata", position=0)
    claim = pipeline.step_claim(step.pk)
    assert claim is not None
    ctx = CheckContext.for_version(claim[0].run.version)
    check_for("metadata")(ctx)
    status = pipeline.step_finish(claim[0], claim[1], ctx)
    version.refresh_from_db()
    return status, version


def test_a_checkpoints_architecture_and_parameters_are_stored_with_the_result(stored_version: StoredVersion) -> None:
    status, version = run_metadata_step(stored_version("checkpoint", clean_checkpoint()))
    assert status == Step.Status.PASSED
    assert version.architecture == "LlamaForCausalLM"
    assert version.parameters == sum(t.size for t in tiny_weights().values())


def test_an_adapter_stores_its_trainable_parameters_and_no_architecture(stored_version: StoredVersion) -> None:
    status, version = run_metadata_step(stored_version("adapter", clean_adapter()))
    assert status == Step.Status.PASSED
    step = Step.objects.get(run__version=version, name="metadata")
    assert version.parameters == step.details["trainable_parameters"] > 0
    assert version.architecture == ""


def test_facts_are_kept_even_when_the_declared_metadata_contradicts_them(stored_version: StoredVersion) -> None:
    version = stored_version("checkpoint", clean_checkpoint(), metadata={"architecture": "MistralForCausalLM"})
    status, version = run_metadata_step(version)
    assert status == Step.Status.FAILED
    assert version.architecture == "LlamaForCausalLM", "what the files say, not what was declared"


def test_a_step_that_lost_its_lease_writes_no_facts(stored_version: StoredVersion) -> None:
    version = stored_version("checkpoint", clean_checkpoint())
    run = PipelineRun.objects.create(version=version)
    step = Step.objects.create(run=run, name="metadata", position=0)
    claim = pipeline.step_claim(step.pk)
    assert claim is not None
    ctx = CheckContext.for_version(version)
    check_for("metadata")(ctx)
    assert pipeline.step_finish(claim[0], uuid.uuid4(), ctx) == "lease_lost"
    version.refresh_from_db()
    assert (version.architecture, version.parameters) == ("", None)


@pytest.mark.parametrize(
    ("kind", "facts", "expected"),
    [
        (Kind.CHECKPOINT, {"architecture": "X" * 150, "parameters": 7}, {"architecture": "X" * 100, "parameters": 7}),
        (Kind.CHECKPOINT, {"architecture": None, "parameters": None}, {"architecture": "", "parameters": None}),
        (Kind.CHECKPOINT, {"architecture": ["odd"], "parameters": 0}, {"architecture": "", "parameters": None}),
        (Kind.ADAPTER, {"trainable_parameters": 12, "parameters": 99}, {"architecture": "", "parameters": 12}),
    ],
)
def test_version_facts_are_bounded_and_typed(kind: str, facts: dict[str, object], expected: dict[str, object]) -> None:
    assert version_facts(kind, facts) == expected
