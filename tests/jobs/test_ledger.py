"""The compute ledger's arithmetic on hand-made rows, the run's cost stored by the format check and
the backfill, and acknowledgements (who may make them, what they refuse)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import transaction

from jobs.checks.schemas.recipe_v1 import Recipe
from jobs.ledger import compute
from jobs.ledger.acknowledgements import acknowledge, acknowledgement_list
from jobs.ledger.ledger import Tally, ledger
from jobs.models import Acknowledgement, PipelineRun, RecipeFeatures, Step
from registry.errors import DomainError, Forbidden, NotFound
from registry.models import AuditEvent, Kind, LineageEdge, Organization, Sharing, Version
from tests import factories
from tests.conftest import Member
from tests.corpus import recipes
from tests.jobs.conftest import StoredVersion, run_check

pytestmark = pytest.mark.django_db
State = Version.State


def at(month: int, day: int = 1) -> datetime:
    return datetime(2026, month, day, 12, tzinfo=UTC)


def recipe_run(
    organization: Organization,
    slug: str,
    *,
    gpu_hours: float | None = 10.0,
    flops: float | None = 1e20,
    estimated: bool = False,
    state: str = State.PUBLISHED,
    sharing: str = Sharing.ORG,
    number: str = "1.0",
    created: datetime | None = None,
    reuses: tuple[Version, ...] = (),
    artifact: Any = None,
) -> Version:
    """A recipe version with the features (and cost) its format check would have stored."""
    artifact = artifact or factories.ArtifactFactory(
        organization=organization, slug=slug, kind=Kind.PRETRAINING_RECIPE, sharing=sharing
    )
    version = factories.VersionFactory(artifact=artifact, number=number, state=state, created_at=created or at(1))
    row = RecipeFeatures.objects.create(
        version=version,
        stage="pretraining",
        features={},
        gpu_hours=gpu_hours,
        flops=flops,
        flops_estimated=estimated,
    )
    row.reuses.set(reuses)
    return version


def checkpoint(organization: Organization, slug: str, *, compute: dict | None = None, **fields: Any) -> Version:
    artifact = factories.ArtifactFactory(organization=organization, slug=slug, kind=Kind.CHECKPOINT)
    return factories.VersionFactory(
        artifact=artifact, state=fields.pop("state", State.PUBLISHED), compute=compute or {}, **fields
    )


def by_org(found: Any) -> dict[str, tuple[Tally, Tally]]:
    return {row.organization: (row.spent, row.avoided) for row in found.by_organization}


def test_a_run_counts_once_measured_by_its_newest_version_and_dated_by_its_first(alice: Member) -> None:
    first = recipe_run(alice.organization, "run", gpu_hours=10, flops=1e20, created=at(1))
    recipe_run(
        alice.organization, "run", gpu_hours=12, flops=2e20, number="1.1", created=at(3), artifact=first.artifact
    )
    recipe_run(alice.organization, "gone", gpu_hours=99, state=State.DELETED, created=at(2))

    found = ledger(alice.actor)

    [run] = found.runs
    assert (run.name, run.month, run.versions) == ("org-a/run@1.1", "2026-01", 2)
    assert (found.totals.spent.count, found.totals.spent.gpu_hours, found.totals.spent.flops) == (1, 12.0, 2e20)
    assert [(r.organization, r.month, r.spent.gpu_hours) for r in found.by_organization_month] == [
        ("org-a", "2026-01", 12.0)
    ]


def test_one_source_credited_three_ways_counts_once_in_the_month_of_its_first_credit(
    alice: Member, org_b: Organization
) -> None:
    theirs = recipe_run(org_b, "big", gpu_hours=100, flops=5e21, created=at(1))
    base = checkpoint(org_b, "big-base")
    LineageEdge.objects.create(child=base, relation="produced_by", parent=theirs)
    recipe_run(alice.organization, "mine", gpu_hours=2, flops=None, created=at(4), reuses=(theirs,))
    derived = checkpoint(alice.organization, "tuned", created_at=at(3))
    LineageEdge.objects.create(child=derived, relation="derived_from", parent=base)
    Acknowledgement.objects.create(organization=alice.organization, source=theirs, created_at=at(5))

    found = ledger(alice.actor)

    [credit] = found.credits
    assert (credit.organization, credit.month, credit.source.name) == ("org-a", "2026-03", "org-b/big@1.0")
    assert credit.ways == ("reuses", "derived_from", "acknowledged")
    spent, avoided = by_org(found)["org-a"]
    assert (avoided.count, avoided.gpu_hours, avoided.flops) == (1, 100.0, 5e21)
    assert (spent.gpu_hours, spent.flops, spent.flops_missing) == (2.0, None, 1)  # unknown, never 0
    assert by_org(found)["org-b"][1].count == 0  # org-b avoided nothing
    assert [r.avoided_by for r in found.runs if r.name == "org-b/big@1.0"] == [("org-a",)]


def test_a_parent_without_a_produced_by_run_counts_its_declared_compute(alice: Member, org_b: Organization) -> None:
    base = checkpoint(org_b, "base", compute={"gpu_hours": 40, "notes": "no flops"})
    LineageEdge.objects.create(child=checkpoint(alice.organization, "tuned"), relation="derived_from", parent=base)
    [credit] = ledger(alice.actor).credits
    assert (credit.source.kind, credit.source.compute) == ("checkpoint", compute.Compute(40.0, None))
    avoided = ledger(alice.actor).totals.avoided
    assert (avoided.gpu_hours, avoided.flops, avoided.flops_missing) == (40.0, None, 1)


def test_only_what_the_actor_sees_is_counted(alice: Member, charlie: Member, org_b: Organization) -> None:
    hidden = recipe_run(org_b, "private", gpu_hours=500, state=State.IN_REVIEW)  # org-only sharing
    recipe_run(org_b, "rejected", gpu_hours=7, state=State.REJECTED, sharing=Sharing.CONSORTIUM)
    shared = recipe_run(org_b, "shared", gpu_hours=30, state=State.IN_REVIEW, sharing=Sharing.CONSORTIUM)
    Acknowledgement.objects.create(organization=alice.organization, source=hidden)  # made when it was visible
    Acknowledgement.objects.create(organization=alice.organization, source=shared)

    mine = ledger(alice.actor)
    assert [r.name for r in mine.runs] == ["org-b/shared@1.0"]
    assert [c.source.name for c in mine.credits] == ["org-b/shared@1.0"]
    assert mine.totals.spent.gpu_hours == 30.0
    assert sorted(r.name for r in ledger(charlie.actor).runs) == ["org-b/private@1.0", "org-b/shared@1.0"]


def test_filters_narrow_rows_and_totals(alice: Member, org_b: Organization) -> None:
    recipe_run(alice.organization, "jan", gpu_hours=1, created=at(1))
    recipe_run(alice.organization, "mar", gpu_hours=3, created=at(3))
    recipe_run(org_b, "feb", gpu_hours=20, created=at(2))
    found = ledger(alice.actor, organization="org-a", since="2026-02")
    assert [r.name for r in found.runs] == ["org-a/mar@1.0"]
    assert found.totals.spent.gpu_hours == 3.0
    assert ledger(alice.actor, until="2026-02").totals.spent.gpu_hours == 21.0


def test_tallies_say_what_is_missing_instead_of_zero() -> None:
    none_known = Tally.of([compute.Compute(None, None), compute.Compute(None, None)])
    assert (none_known.gpu_hours, none_known.gpu_hours_missing, none_known.flops) == (None, 2, None)
    some = Tally.of([compute.Compute(2.0, 1e20, True), compute.Compute(None, 3e20)])
    assert (some.gpu_hours, some.gpu_hours_missing, some.flops, some.flops_estimated) == (2.0, 1, 4e20, 1)
    assert Tally.of([]).gpu_hours == 0.0  # nothing to count is zero, not unknown


def test_flops_are_declared_else_estimated_from_active_parameters_and_tokens_seen() -> None:
    raw = recipes.pretraining_recipe()
    raw["architecture"] |= {"parameters": "1B", "active_parameters": "100M"}
    raw["outcome"] |= {"tokens_seen": "1B"}
    recipe = Recipe.model_validate(raw)
    assert compute.of_recipe(recipe, {}) == compute.Compute(0.0, 6 * 100e6 * 1e9, flops_estimated=True)
    assert compute.of_recipe(recipe, {"flops": 1e19}) == compute.Compute(0.0, 1e19)
    post = Recipe.model_validate(recipes.rl_recipe())
    assert compute.of_recipe(post, {"flops": "lots"}) == compute.Compute(0.0, None)  # no parameters: not guessed

    stopped = copy.deepcopy(raw)
    stopped["outcome"] = {"status": "abandoned", "notes": "stopped early"}
    assert compute.of_recipe(Recipe.model_validate(stopped), {}).flops is None, "its plan is not what it spent"
    stopped["outcome"]["steps_completed"] = 0
    assert compute.of_recipe(Recipe.model_validate(stopped), {}) == compute.Compute(0.0, 0.0, flops_estimated=True)


def test_the_format_check_stores_the_runs_cost_and_resolved_reuses(
    stored_version: StoredVersion, alice: Member, org_b: Organization
) -> None:
    reused = recipe_run(org_b, "theirs", sharing=Sharing.CONSORTIUM)
    raw = recipes.pretraining_recipe() | {"reuses": ["org-b/theirs@1.0"]}
    raw["hardware"]["gpu_hours"] = 12.5
    version = stored_version(
        "pretraining_recipe", recipes.recipe_files(raw), organization=alice.organization, compute={"hardware": "cpu"}
    )
    ctx = run_check("format", version)
    assert ctx.passed, ctx.reasons
    with transaction.atomic():
        for record in ctx.records:
            record()
    row = RecipeFeatures.objects.get(version=version)
    assert (row.gpu_hours, row.flops, row.flops_estimated) == (12.5, 6 * 117_000 * 6_500_000, True)
    assert list(row.reuses.all()) == [reused]

    # Pushed before the ledger: the backfill fills it again from storage, once.
    RecipeFeatures.objects.filter(version=version).update(gpu_hours=None, flops=None)
    row.reuses.clear()
    run = PipelineRun.objects.create(version=version)
    Step.objects.create(run=run, name="format", status=Step.Status.PASSED)
    out = StringIO()
    call_command("backfill_recipe_features", stdout=out)
    assert "[1/1] org-a/" in out.getvalue()
    assert "stored (12.5 GPU-hours" in out.getvalue()
    row.refresh_from_db()
    assert (row.gpu_hours, list(row.reuses.all())) == (12.5, [reused])
    call_command("backfill_recipe_features", stdout=(again := StringIO()))
    assert "every recipe that passed its format check has its features and cost" in again.getvalue()


def test_acknowledging_is_idempotent_and_audited(alice: Member, org_b: Organization) -> None:
    theirs = recipe_run(org_b, "theirs", sharing=Sharing.CONSORTIUM, state=State.APPROVED)
    mine = recipe_run(alice.organization, "mine", state=State.DRAFT)
    first = acknowledge(alice.actor, organization=alice.organization, source=theirs, via=mine, note="same run")
    again = acknowledge(alice.actor, organization=alice.organization, source=theirs)
    assert again.pk == first.pk
    assert (again.via, again.note, again.created_by) == (mine, "same run", alice.user)
    [event] = AuditEvent.objects.filter(action="acknowledgement.created")
    assert event.data["source"] == "org-b/theirs@1.0"
    assert list(acknowledgement_list(alice.actor)) == [first]


def test_acknowledgement_refusals_say_why(alice: Member, bob: Member, charlie: Member, org_b: Organization) -> None:
    private = recipe_run(org_b, "private", state=State.APPROVED)
    shared = recipe_run(org_b, "shared", sharing=Sharing.CONSORTIUM)
    data = factories.VersionFactory(
        artifact=factories.ArtifactFactory(organization=org_b, kind=Kind.DATASET, sharing=Sharing.CONSORTIUM),
        state=State.PUBLISHED,
    )
    mine = recipe_run(alice.organization, "mine", state=State.APPROVED)  # org-a: nothing charlie sees
    org = alice.organization

    with pytest.raises(NotFound, match="no such version"):
        acknowledge(alice.actor, organization=org, source=private)  # invisible: never a permission error
    with pytest.raises(Forbidden, match="push"):
        acknowledge(bob.actor, organization=org, source=shared)  # a viewer
    with pytest.raises(DomainError, match="org-a's own work"):
        acknowledge(alice.actor, organization=org, source=mine)
    with pytest.raises(DomainError, match="only recipes and checkpoints are runs"):
        acknowledge(alice.actor, organization=org, source=data)
    with pytest.raises(DomainError, match="is not a version of org-a"):
        acknowledge(alice.actor, organization=org, source=shared, via=shared)
    with pytest.raises(NotFound, match="no organization"):
        acknowledge(charlie.actor, organization=org, source=mine)
    assert Acknowledgement.objects.count() == 0
