"""Seeding the demo catalogue through the real product, against a running registry: each org pushes
its versions with the `consortium` CLI's client (presigned S3 uploads, finalize), the worker runs the
checks, the steward makes the approved eval suite the default, a reviewer of another org approves
once the measurements (evals, probes) are taken, the worker publishes with the scores on the card.

It acts only on what is left (a pushed version is never pushed again), reports each move as a line,
and gives up after `timeout` seconds, saying where every version stopped and why.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.utils import timezone

from jobs.ledger.acknowledgements import acknowledge
from jobs.models import Acknowledgement, PriorArtMatch, Step
from jobs.publication.hub import hub_web_url
from registry.actors import Actor
from registry.demo import files
from registry.demo.catalogue import (
    ACKNOWLEDGES,
    CATALOGUE,
    DEFAULT_SUITE_FOR,
    Item,
    Stage,
    publication_of,
    stage_of,
)
from registry.errors import DomainError
from registry.models import ApiToken, Membership, Organization, Review, User, Version
from registry.permissions import Role, Scope
from registry.services.eval_defaults import eval_suite_default_add
from registry.services.reviews import review_decide
from registry.services.tokens import token_issue, token_revoke

TOKEN_NAME = "demo catalogue seeding"  # noqa: S105 - a label, not a secret
TOKEN_LIFETIME = timedelta(hours=1)  # revoked when seeding ends; the expiry covers a killed run
APPROVAL_COMMENT = "Demo catalogue: approved by the seeding command after every check passed."
MAX_REASONS = 5
ACK_NOTE = "Demo catalogue: its evaluations answer our question; we will not re-run it."


class SeedingError(Exception):
    """The catalogue cannot be seeded here at all (no demo orgs, no CLI, registry unreachable)."""


class Seeder:
    def __init__(self, *, url: str, timeout: float, say: Callable[[str], None], poll: float = 0.5) -> None:
        self.url, self.timeout, self.poll = url.rstrip("/"), timeout, poll
        self._say = say
        self.started = time.monotonic()
        self.tokens: dict[str, tuple[ApiToken, str]] = {}
        self.reported: dict[str, str] = {}
        self.given_up: dict[str, str] = {}
        self.defaults_chosen: set[str] = set()

    def say(self, line: str) -> None:
        self._say(f"{time.monotonic() - self.started:5.1f}s {line}")

    def run(self) -> bool:
        """True when every version reached its end state; False when one stopped or time ran out."""
        orgs = {o.slug: o for o in Organization.objects.filter(slug__in={item.org for item in CATALOGUE})}
        missing = sorted({item.org for item in CATALOGUE} - set(orgs))
        if missing:
            raise SeedingError(f"no organization {', '.join(missing)}: run `manage.py seed_demo` first")
        versions = {item.key: item.find() for item in CATALOGUE}
        if all(stage_of(v).settled for v in versions.values()):
            self.say("already seeded: " + self.summary(versions))
            return all(stage_of(v) == Stage.DONE for v in versions.values())
        deadline = self.started + self.timeout
        with tempfile.TemporaryDirectory(prefix="demo-catalogue-") as scratch:
            try:
                while True:
                    for item in CATALOGUE:
                        versions = {i.key: i.find() for i in CATALOGUE}
                        self.advance(item, versions, orgs, Path(scratch))
                    versions = {item.key: item.find() for item in CATALOGUE}
                    waiting = [i.ref for i, v in self.pairs(versions) if not self.finished(i, v)]
                    if not waiting:
                        break
                    if time.monotonic() > deadline:
                        self.say(f"gave up after {self.timeout:g} s, still waiting for {', '.join(waiting)}")
                        break
                    time.sleep(self.poll)
            finally:
                self.revoke_tokens()
        done = all(stage_of(v) == Stage.DONE for v in versions.values())
        self.say(("done: " if done else "incomplete: ") + self.summary(versions))
        return done

    def finished(self, item: Item, version: Version | None) -> bool:
        """Nothing more will happen to it: settled, or given up on."""
        stage = stage_of(version)
        return stage.settled or item.key in self.given_up

    @staticmethod
    def pairs(versions: dict[str, Version | None]) -> list[tuple[Item, Version | None]]:
        return [(item, versions[item.key]) for item in CATALOGUE]

    @staticmethod
    def blocked(item: Item, versions: dict[str, Version | None]) -> str | None:
        """The lineage parent that stopped short of its end state, when one did: no approval follows."""
        by_key = {i.key: i for i in CATALOGUE}
        for _, key in item.lineage:
            if stage_of(versions[key]) == Stage.STOPPED:
                return by_key[key].ref
        return None

    def advance(
        self, item: Item, versions: dict[str, Version | None], orgs: dict[str, Organization], scratch: Path
    ) -> None:
        version, stage = versions[item.key], stage_of(versions[item.key])
        self.report(item, version, stage)
        ready = all(stage_of(versions[key]) != Stage.PUSH for key in item.needs)
        waited = all(stage_of(versions[key]) == Stage.DONE and self.defaults_done(key) for key in item.waits_for)
        if stage == Stage.PUSH and ready and waited:
            self.push(item, versions, orgs[item.org], scratch)
        elif stage == Stage.DONE and item.key in DEFAULT_SUITE_FOR and item.key not in self.defaults_chosen:
            self.choose_default(item)
        elif stage == Stage.REVIEW and version is not None and item.key not in self.given_up:
            if parent := self.blocked(item, versions):
                self.stop(item, f"left in review: its parent {parent} did not reach its end state")
            elif all(stage_of(versions[key]) == Stage.DONE for _, key in item.lineage) and self.measured(item, version):
                source = ACKNOWLEDGES.get(item.key)
                if source is None or self.acknowledge(item, version, _finalized(versions, source)):
                    self.approve(item, version)  # only now: its card links its parents' releases and has its scores

    def push(self, item: Item, versions: dict[str, Version | None], org: Organization, scratch: Path) -> None:
        try:
            import httpx
            from consortium_cli.client import Api, ApiError
            from consortium_cli.push import load_spec, push
            from rich.progress import Progress
        except ImportError as exc:
            raise SeedingError(f"the consortium CLI is not installed ({exc}): pip install -e ./cli") from exc

        generated, metadata = self.generated(item, versions)
        directory = files.stage(item.key, scratch / item.key, generated)
        spec = load_spec(directory, {})
        spec.metadata = {**spec.metadata, **metadata}
        spec.lineage = [
            {"relation": relation, "version": str(_finalized(versions, key).public_id)}
            for relation, key in item.lineage
        ]
        try:
            with Api(self.url, self.token_for(org)) as api:
                pushed = push(api, directory, spec, progress=Progress(disable=True), workers=2)
        except ApiError as exc:
            raise SeedingError(f"{item.ref}: the registry refused the push: {exc}") from exc
        except (OSError, httpx.HTTPError) as exc:
            raise SeedingError(f"{item.ref}: cannot push to {self.url}: {exc}") from exc
        size = sum(p.stat().st_size for p in directory.rglob("*") if p.is_file() and not p.name.startswith("."))
        self.say(f"{item.ref}: pushed {size / 1024:.0f} KiB as {org.slug} ({pushed['state']}); checks running")

    @staticmethod
    def generated(item: Item, versions: dict[str, Version | None]) -> tuple[dict[str, bytes], dict[str, Any]]:
        if item.key == "checkpoint":
            return files.checkpoint_files()
        if item.key == "adapter":
            artifact = _finalized(versions, "checkpoint").artifact
            return files.adapter_files(f"{artifact.organization.hub_namespace}/{artifact.slug}")
        return {}, {}

    def token_for(self, org: Organization) -> str:
        """A short-lived push token of the org's first owner, issued once per seeding and revoked at its end."""
        if org.slug not in self.tokens:
            owner = _owner(org)
            if owner is None:
                raise SeedingError(f"organization {org.slug} has no owner to push as")
            self.tokens[org.slug] = token_issue(
                actor=Actor.for_user(owner),
                organization=org,
                name=TOKEN_NAME,
                scopes=[Scope.READ.value, Scope.PUSH.value],
                expires_at=timezone.now() + TOKEN_LIFETIME,
            )
        return self.tokens[org.slug][1]

    def revoke_tokens(self) -> None:
        for token, _ in self.tokens.values():
            token_revoke(actor=Actor.for_user(token.created_by), token=token)
        self.tokens.clear()

    def approve(self, item: Item, version: Version) -> None:
        org = version.artifact.organization
        reviewer = (
            User.objects.filter(is_reviewer=True, is_active=True, memberships__isnull=False)
            .exclude(memberships__organization=org)
            .distinct()
            .order_by("pk")
            .first()
        )
        if reviewer is None:
            self.stop(item, "no reviewer of another member organization to approve it")
            return
        try:
            review_decide(
                actor=Actor.for_user(reviewer),
                version=version,
                decision=Review.Decision.APPROVE,
                comment=APPROVAL_COMMENT,
            )
        except DomainError as exc:
            self.stop(item, f"{reviewer.username} could not approve it: {exc}")
            return
        version.refresh_from_db()
        if version.state == Version.State.IN_REVIEW:
            self.stop(item, f"approved by {reviewer.username}; its kind needs more approvals than the demo has orgs")
        else:
            self.say(f"{item.ref}: approved by {reviewer.username}, a reviewer of another member organization")

    def choose_default(self, item: Item) -> None:
        """The steward makes the approved suite the default for the kinds it is meant for."""
        steward = User.objects.filter(is_steward=True, is_active=True).order_by("pk").first()
        if steward is None:
            self.stop(item, "no steward to choose it as the default eval suite")
            return
        m = item.manifest
        for kind in DEFAULT_SUITE_FOR[item.key]:
            eval_suite_default_add(
                actor=Actor.for_user(steward), kind=kind, suite=f"{m['organization']}/{m['artifact']}"
            )
        self.defaults_chosen.add(item.key)
        self.say(f"{item.ref}: the default eval suite for {' and '.join(f'{k}s' for k in DEFAULT_SUITE_FOR[item.key])}")

    def acknowledge(self, item: Item, version: Version, source: Version) -> bool:
        """The pushing org, shown `source` by its recipe's prior-art step, says it will not re-run it."""
        match = PriorArtMatch.objects.filter(version=version, match=source).first()
        if match is None:
            self.stop(item, f"its prior-art step did not find {source.artifact}@{source.number}")
            return False
        org = version.artifact.organization
        if not Acknowledgement.objects.filter(organization=org, source=source).exists():
            owner = _owner(org)
            if owner is None:
                self.stop(item, f"organization {org.slug} has no owner to acknowledge its prior art")
                return False
            acknowledge(Actor.for_user(owner), organization=org, source=source, via=version, note=ACK_NOTE)
        kind = "near-duplicate" if match.near_duplicate else "match"
        self.say(
            f"{item.ref}: prior art: {match.comparison.get('summary', '')} ({kind}, score {match.score:.2f}); "
            f"{org.slug} acknowledged it and will not re-run it"
        )
        return True

    def defaults_done(self, key: str) -> bool:
        """An item's part as a default eval suite, if it has one, is played."""
        return key not in DEFAULT_SUITE_FOR or key in self.defaults_chosen

    def measured(self, item: Item, version: Version) -> bool:
        """Whether every measurement of the version has finished; says so once, with the figures."""
        steps = list(Step.objects.filter(run__version=version, gating=False).order_by("position"))
        if any(step.status not in Step.FINISHED for step in steps):
            return False
        if steps and self.reported.get(f"{item.key}/measured") is None:
            self.reported[f"{item.key}/measured"] = "yes"
            self.say(f"{item.ref}: measured: " + "; ".join(f"{s.name} {s.status} ({s.summary})" for s in steps))
        return True

    def stop(self, item: Item, why: str) -> None:
        self.given_up[item.key] = why
        self.say(f"{item.ref}: {why}")

    def report(self, item: Item, version: Version | None, stage: Stage) -> None:
        """One line per change of state, with the evidence when the checks or the publication failed."""
        if version is None or self.reported.get(item.key) == f"{version.state}/{stage}":
            return
        self.reported[item.key] = f"{version.state}/{stage}"
        state = version.state
        if state == Version.State.IN_REVIEW:
            self.say(f"{item.ref}: checks passed; in review")
        elif state == Version.State.CHANGES_REQUESTED:
            self.say(f"{item.ref}: checks failed, changes requested: {'; '.join(failed_checks(version))}")
        elif state == Version.State.PUBLISHED:
            publication = publication_of(version)
            where = f": {hub_web_url(publication.repo_type, publication.repo_id)}" if publication else ""
            self.say(f"{item.ref}: published on the Hub{where}")
        elif stage == Stage.DONE:
            self.say(f"{item.ref}: approved, its end state (release target: the consortium)")
        elif stage == Stage.STOPPED:
            self.say(f"{item.ref}: stopped ({state}): {stopped_reason(version)}")

    def summary(self, versions: dict[str, Version | None]) -> str:
        parts = [f"{item.ref} {v.state if v else 'absent'}" for item, v in self.pairs(versions)]
        return ", ".join(parts)


def _owner(org: Organization) -> User | None:
    """The org's first owner: the demo acts as them."""
    membership = Membership.objects.filter(organization=org, role=Role.OWNER).select_related("user").order_by("pk")
    first = membership.first()
    return first.user if first else None


def _finalized(versions: dict[str, Version | None], key: str) -> Version:
    """A parent's version; `Item.needs` holds a push back until its parents have one."""
    version = versions[key]
    if version is None:
        raise SeedingError(f"{key} has no version yet")
    return version


def failed_checks(version: Version) -> list[str]:
    lines = []
    for step in Step.objects.filter(run__version=version, status=Step.Status.FAILED).order_by("position"):
        for reason in step.reasons[:MAX_REASONS]:
            where = f"{reason.get('path')}: " if reason.get("path") else ""
            lines.append(f"{step.name}: {where}{reason.get('message')}")
    return lines or ["(no reasons recorded)"]


def stopped_reason(version: Version) -> str:
    if version.state in (Version.State.SUBMITTED, Version.State.CHECKING):
        errored = Step.objects.filter(run__version=version, status=Step.Status.ERRORED).values_list(
            "name", "last_error"
        )
        found = "; ".join(f"{name} errored: {error.strip()[-200:]}" for name, error in errored)
        return (found or "a check errored") + "; a steward can re-run it"
    if version.state == Version.State.APPROVED and (publication := publication_of(version)) is not None:
        return f"publication to the Hub failed: {publication.last_error.strip()[-300:]}"
    return f"the version is {version.state}"
