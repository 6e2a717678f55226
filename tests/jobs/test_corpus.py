"""The whole bad-input corpus through the whole pipeline: every case is finalized, every step runs
as on a worker, and each ends in `changes_requested` with a reason naming its file and problem,
while no payload ever runs (its sentinel file never appears)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from jobs.models import Step
from registry.models import Version
from registry.services.uploads import version_finalize
from tests.conftest import Member
from tests.corpus import Case
from tests.corpus.registry import all_cases
from tests.jobs.conftest import StoredVersion
from tests.jobs.test_pipeline import drive

SENTINEL = Path(tempfile.gettempdir()) / f"consortium-corpus-sentinel-{os.getpid()}"
CASES = all_cases(SENTINEL)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.kind}-{c.name}")
def test_each_bad_input_ends_in_changes_requested_naming_the_file_and_problem(
    case: Case, stored_version: StoredVersion, alice: Member
) -> None:
    draft = stored_version(
        case.kind, case.files, organization=alice.organization, metadata=case.metadata, state=Version.State.DRAFT
    )
    version = drive(version_finalize(actor=alice.actor, version=draft))
    measures = Step.objects.filter(run__version=version, gating=False)
    assert {(s.status, s.summary) for s in measures} <= {(Step.Status.SKIPPED, "not run: the checks failed")}
    steps = list(Step.objects.filter(run__version=version, gating=True))
    assert {s.status for s in steps} <= {Step.Status.PASSED, Step.Status.FAILED}, [
        (s.name, s.status, s.last_error) for s in steps
    ]
    assert version.state == Version.State.CHANGES_REQUESTED
    reasons = [reason for step in steps for reason in step.reasons]
    matching = [
        r for r in reasons if r["path"] == case.path and all(w.lower() in r["message"].lower() for w in case.words)
    ]
    assert matching, f"no reason on {case.path!r} with {case.words}: {reasons}"
    assert not SENTINEL.exists(), "a payload ran"
