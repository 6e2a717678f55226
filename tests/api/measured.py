"""A checkpoint as the gpu workers leave it: checks passed, its measurements finished (one skipped
for its size) with the evidence each probe records, and eval scores on a published suite of
another org. Shared by the API and CLI tests."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone

from jobs.models import EvalResult, PipelineRun, Step
from registry.models import Organization, Sharing, User, Version
from tests import factories

State = Version.State

COMPATIBILITY = {
    "checks": [
        {"check": "no remote code", "passed": True, "detail": "config has no auto_map"},
        {"check": "chat template", "passed": None, "detail": "no chat template declared"},
        {"check": "generate", "passed": False, "detail": "logits not finite"},
    ],
    "libraries": {"transformers": "4.57.1", "torch": "2.9.0"},
}
COST = {
    "parameters": 1_000_000,
    "adapter_parameters": None,
    "memory_bytes": {"fp32": 4_000_000, "bf16": 2_000_000, "int8": 1_000_000},
    "tokens_per_second": 123.45,
    "seconds_to_first_token": 0.012,
    "hardware": {"device": "cpu", "label": "cpu / Test CPU, 2 threads, torch 2.9.0"},
}
FINETUNE = {
    "steps": 20,
    "heldout_loss_before": 3.21,
    "heldout_loss_after": 2.9,
    "relative_heldout_drop": (3.21 - 2.9) / 3.21,
    "stable": True,
    "seconds_per_step": 0.125,
}


@dataclass
class Measured:
    version: Version
    suite: Version


def suite_version(organization: Organization, *, sharing: str, state: str, slug: str = "pico-evals") -> Version:
    artifact = factories.ArtifactFactory(organization=organization, kind="eval_suite", slug=slug, sharing=sharing)
    return factories.VersionFactory(artifact=artifact, number="2.0", state=state)


def measured_version(
    owner: User,
    organization: Organization,
    *,
    suite: Version | None = None,
    state: str = State.IN_REVIEW,
    slug: str = "tiny-llama",
) -> Measured:
    """Org `organization`'s org-only checkpoint in `state`, measured, scored on `suite` (by default
    a published suite of org `borealis`)."""
    if suite is None:
        suite = suite_version(
            factories.OrganizationFactory(slug="borealis"), sharing=Sharing.CONSORTIUM, state=State.PUBLISHED
        )
    artifact = factories.ArtifactFactory(organization=organization, slug=slug, created_by=owner)
    version = factories.VersionFactory(artifact=artifact, number="1.0.0", state=state, manifest_sha256="a" * 64)
    run = PipelineRun.objects.create(version=version, status=PipelineRun.Status.PASSED, finished_at=timezone.now())
    now = timezone.now()
    name = f"{suite.artifact.organization.slug}/{suite.artifact.slug}"
    steps = [
        ("integrity", True, Step.Status.PASSED, "3 files verified", {}),
        (
            "evals",
            False,
            Step.Status.PASSED,
            "2 scores on 1 suite(s)",
            {
                "suites": [
                    {
                        "suite": str(suite.public_id),
                        "name": name,
                        "number": suite.number,
                        "harness_version": "0.4.9",
                        "seconds": 1.5,
                        "scores": 2,
                    }
                ],
                "problems": [],
            },
        ),
        ("compatibility", False, Step.Status.FAILED, "1 of 2 compatibility checks passed", COMPATIBILITY),
        ("finetune", False, Step.Status.SKIPPED, "not measured (size)", {}),
        ("cost", False, Step.Status.PASSED, "1,000,000 parameters, 123.5 tokens/s on cpu", COST),
    ]
    for position, (step, gating, status, summary, details) in enumerate(steps):
        Step.objects.create(
            run=run,
            name=step,
            gating=gating,
            queue="default" if gating else "gpu",
            position=position,
            status=status,
            summary=summary,
            details=details,
            finished_at=now,
        )
    for task, metric, value, stderr in (
        ("pico_cloze", "acc", 0.5, 0.02),
        ("pico_perplexity", "perplexity", 12.25, None),
    ):
        EvalResult.objects.create(
            version=version,
            suite=suite,
            task=task,
            metric=metric,
            filter="none",
            value=value,
            stderr=stderr,
            samples=40,
            task_version="1.0",
            harness_version="0.4.9",
        )
    return Measured(version=version, suite=suite)


def with_finetune(version: Version) -> None:
    """The fine-tune probe ran after all (a re-run on bigger hardware)."""
    Step.objects.filter(run__version=version, name="finetune").update(
        status=Step.Status.PASSED, summary="held-out loss 3.210 → 2.900 (-9.7%) in 20 LoRA steps", details=FINETUNE
    )
