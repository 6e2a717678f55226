"""Publication to the Hub, exactly once.

An approved `hub` version gets a Publication row in the approval's transaction. A worker claims it
under a lease (the version moves to `publishing`), then: makes the artifact's Hub repo if missing
(never taking over one the registry did not make), looks for an earlier commit of this version by
its tag or by the marker in its commit message (a worker may have died after the commit landed),
otherwise makes **one** commit pinned to the branch head it planned against (its files streamed
from S3, the card, deletions of files absent from the manifest; re-planned when the head moved:
412), verifies the commit's tree against the approved manifest, and only then tags it `v<number>`.
The worker checks it still holds the lease before it commits and before it tags. Only then is the
version `published`.

Errors: 401/403 and other refusals fail at once with a clear reason and the version back to
`approved` (retry with `publication_retry`); 429, 5xx and broken connections are retried with
bounded backoff, then fail the same way. A worker that dies leaves a lease that expires; the
reconciler hands the row to another worker, which finds the marked commit instead of committing
again.
"""

from __future__ import annotations

import hashlib
import traceback
import uuid
from datetime import datetime, timedelta
from typing import BinaryIO, cast

import httpx2
import structlog
from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi
from huggingface_hub._commit_api import _validate_path_in_repo
from huggingface_hub.errors import HfHubHTTPError
from huggingface_hub.hf_api import RepoFile
from huggingface_hub.lfs import UploadInfo

from jobs.checks.s3io import StoredObject, read_range
from jobs.models import Publication
from jobs.pipeline import Heartbeat, LeaseLost, backoff
from jobs.publication.card import card_render, card_validate, hub_eval_results
from jobs.publication.hub import (
    hub_api,
    hub_cache_dir,
    hub_endpoint,
    hub_message,
    hub_status,
    hub_transient,
    hub_web_url,
)
from jobs.publication.targets import hub_gated, hub_target, version_tag
from registry import storage
from registry.actors import Actor
from registry.digests import version_digests
from registry.errors import InvalidTransition
from registry.models import Artifact, ReleaseTarget, Version
from registry.permissions import Capability
from registry.services.audit import audit_record

log = structlog.get_logger(__name__)

SYSTEM = Actor.of_system("publisher")
CARD = "README.md"
KEPT = frozenset({CARD, ".gitattributes"})  # on the Hub besides the manifest's files
MAX_REPLANS = 5
Status = Publication.Status


class Refused(Exception):
    """Publication cannot succeed by trying again as it is: a human must act (credentials,
    a changed manifest, a tag someone else made). The version goes back to `approved`."""


class HubBusy(Exception):
    """The branch kept moving under us: tried again later, like any infrastructure error."""


class Unverified(Refused):
    """The Hub's tree at the tag is not what was approved."""


# Scheduling, in the approval's transaction


def publication_schedule(version: Version, digests: tuple[str, str] | None = None) -> Publication | None:
    """Plan the publication of a just-approved version (nothing for `consortium` targets), bound to
    the digests it was approved on; sent to a worker after the commit, or at its release date."""
    if version.release_target != ReleaseTarget.HUB:
        return None
    target = hub_target(version.artifact)
    manifest, metadata = digests or version_digests(version)
    publication, _ = Publication.objects.update_or_create(
        version=version,
        defaults={
            "status": Status.WAITING,
            "repo_type": target.repo_type,
            "repo_id": target.repo_id,
            "tag": version_tag(version),
            "manifest_sha256": manifest,
            "metadata_sha256": metadata,
            "not_before": version.release_at,
            "lease_token": None,
            "lease_expires_at": None,
            "last_error": "",
        },
    )
    if publication.not_before is None or publication.not_before <= timezone.now():
        transaction.on_commit(lambda: publication_dispatch(publication.pk))
    return publication


def _due(now: datetime) -> Q:
    """Publications whose release date (or backoff) has come."""
    return Q(not_before__isnull=True) | Q(not_before__lte=now)


def publication_dispatch(publication_id: int, *, countdown: float = 0) -> None:
    """Send the publication to a worker; a lost message is re-sent by the reconciler."""
    from jobs.tasks import publish_task

    try:
        publish_task.apply_async((publication_id,), countdown=countdown, retry=False)
    except Exception as exc:  # the broker is down: the reconciler sends it later
        Publication.objects.filter(pk=publication_id).update(dispatched_at=None)
        log.warning("publication.dispatch_deferred", publication_id=publication_id, error=str(exc))
        return
    Publication.objects.filter(pk=publication_id).update(dispatched_at=timezone.now())


@transaction.atomic(durable=True)
def publication_retry(*, actor: Actor, version: Version) -> Publication:
    """Try again after a failed publication (the org's pushers or a steward), with the approval's
    digests checked afresh by the worker."""
    if not actor.is_steward:
        actor.require(version.artifact.organization, Capability.PUSH)
    publication = Publication.objects.select_for_update().filter(version=version).first()
    if publication is None or publication.status != Status.FAILED or version.state != Version.State.APPROVED:
        raise InvalidTransition(f"version {version.number} has no failed publication to retry", field="state")
    Publication.objects.filter(pk=publication.pk).update(
        status=Status.WAITING, not_before=None, attempts=0, last_error=""
    )
    audit_record(
        actor=actor,
        action="publication.retried",
        target=version,
        organization=version.artifact.organization,
        data={"previous_error": publication.last_error},
    )
    transaction.on_commit(lambda: publication_dispatch(publication.pk))
    publication.refresh_from_db()
    return publication


# Claiming and settling


def publication_claim(publication_id: int) -> tuple[Publication, uuid.UUID] | None:
    """Take the publication under a fresh lease (when it is due and nobody holds a live lease) and
    move its version to `publishing`; None when someone else has it or it is not due."""
    now, token = timezone.now(), uuid.uuid4()
    with transaction.atomic():
        claimed = (
            Publication.objects.filter(
                pk=publication_id,
                status__in=[Status.WAITING, Status.RUNNING],
                attempts__lt=settings.PIPELINE_MAX_ATTEMPTS,
            )
            .filter(_due(now))
            .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
            .update(
                status=Status.RUNNING,
                lease_token=token,
                lease_expires_at=now + timedelta(seconds=settings.PIPELINE_LEASE_SECONDS),
                heartbeat_at=now,
                attempts=F("attempts") + 1,
            )
        )
        if not claimed:
            return None
        publication = Publication.objects.select_related("version__artifact__organization").get(pk=publication_id)
        version = publication.version
        if version.state == Version.State.APPROVED:
            version.transition(Version.State.PUBLISHING)
        elif version.state != Version.State.PUBLISHING:  # withdrawn or otherwise moved on meanwhile
            Publication.objects.filter(pk=publication_id).update(
                status=Status.FAILED, lease_token=None, last_error=f"the version is {version.state}"
            )
            return None
    return publication, token


def _settle(publication: Publication, token: uuid.UUID | None, **fields: object) -> bool:
    """Write the outcome if we still hold the lease (`token`), or, with no token, if the row is an
    orphan whose worker died; False when another worker has it."""
    mine = Q(lease_token=token) if token is not None else Q(status=Status.RUNNING, lease_expires_at__lt=timezone.now())
    return bool(
        Publication.objects.filter(mine, pk=publication.pk).update(lease_token=None, lease_expires_at=None, **fields)
    )


@transaction.atomic
def _finish(publication: Publication, token: uuid.UUID, commit_oid: str, commit_url: str) -> str:
    # Locked, so a withdrawal of the whole artifact cannot slip in between the check and the move.
    artifact = Artifact.objects.select_for_update().get(pk=publication.version.artifact_id)
    if artifact.withdrawn_at is not None:
        _fail(publication, token, f"the artifact {artifact} was withdrawn while it was being published")
        return "failed"
    if not _settle(
        publication,
        token,
        status=Status.PUBLISHED,
        commit_oid=commit_oid,
        commit_url=commit_url,
        published_at=timezone.now(),
        last_error="",
    ):
        return "lease_lost"
    version = Version.objects.select_for_update().get(pk=publication.version_id)
    version.transition(Version.State.PUBLISHED)
    audit_record(
        actor=SYSTEM,
        action="version.published",
        target=version,
        organization=artifact.organization,
        data={"repo": publication.repo_id, "tag": publication.tag, "commit": commit_oid, "url": commit_url},
    )
    log.info("publication.published", repo=publication.repo_id, tag=publication.tag, commit=commit_oid)
    return "published"


@transaction.atomic
def _fail(publication: Publication, token: uuid.UUID | None, reason: str) -> bool:
    """Give up for now: the version returns to `approved` with the reason kept."""
    if not _settle(publication, token, status=Status.FAILED, last_error=reason[:4000]):
        return False
    version = (
        Version.objects.select_for_update().select_related("artifact__organization").get(pk=publication.version_id)
    )
    if version.state == Version.State.PUBLISHING:
        version.transition(Version.State.APPROVED)
    audit_record(
        actor=SYSTEM,
        action="publication.failed",
        target=version,
        organization=version.artifact.organization,
        data={"repo": publication.repo_id, "tag": publication.tag, "reason": reason[:4000]},
    )
    return True


def _retry_later(publication: Publication, token: uuid.UUID, exc: BaseException) -> str:
    error = "".join(traceback.format_exception_only(exc)).strip()[:2000]
    if publication.attempts >= settings.PIPELINE_MAX_ATTEMPTS:
        _fail(publication, token, f"the Hub kept failing after {publication.attempts} attempts: {error}")
        log.error("publication.gave_up", repo=publication.repo_id, attempts=publication.attempts, error=error)
        return "failed"
    delay = backoff(publication.attempts)
    if _settle(
        publication,
        token,
        status=Status.WAITING,
        last_error=error,
        not_before=timezone.now() + timedelta(seconds=delay),
    ):
        publication_dispatch(publication.pk, countdown=delay)
    log.warning("publication.retry", repo=publication.repo_id, attempt=publication.attempts, delay=delay, error=error)
    return "retry"


# The work


def publication_execute(publication_id: int) -> str:
    """Claim, publish, verify and record one publication; returns what happened."""
    claim = publication_claim(publication_id)
    if claim is None:
        return "not_claimed"
    publication, token = claim
    structlog.contextvars.bind_contextvars(publication_id=publication.pk, repo=publication.repo_id)
    log.info("publication.started", attempt=publication.attempts, tag=publication.tag)
    heartbeat = Heartbeat(publication, token)
    heartbeat.start()
    try:
        commit_oid, commit_url = _publish(hub_api(), publication, _Guard(publication, token, heartbeat))
    except LeaseLost:
        log.warning("publication.lease_lost")
        return "lease_lost"
    except Refused as exc:
        _reconnect()
        log.error("publication.refused", reason=str(exc), unverified=isinstance(exc, Unverified))
        _fail(publication, token, str(exc))
        return "failed"
    except HfHubHTTPError as exc:
        _reconnect()
        if hub_status(exc) in (401, 403):
            reason = f"the Hub refused our credentials ({hub_status(exc)}): {hub_message(exc)}; check HF_TOKEN"
            _fail(publication, token, reason)
            return "failed"
        if hub_transient(exc):
            return _retry_later(publication, token, exc)
        _fail(publication, token, f"the Hub refused the publication ({hub_status(exc)}): {hub_message(exc)}")
        return "failed"
    except ValueError as exc:  # the client refused something about the content (a path, the card)
        _reconnect()
        _fail(publication, token, f"the Hub client refused the publication: {exc}")
        return "failed"
    except Exception as exc:  # connection errors, storage: infrastructure, retried
        _reconnect()
        return _retry_later(publication, token, exc)
    finally:
        heartbeat.stop()
        structlog.contextvars.unbind_contextvars("publication_id", "repo")
    _reconnect()
    return _finish(publication, token, commit_oid, commit_url)


def _reconnect() -> None:
    """After work that may have taken hours, drop a database connection the server may have closed
    (never inside a transaction: that connection is still in use)."""
    if not connection.in_atomic_block:
        close_old_connections()


class _Guard:
    """Stops the work before each step that changes the Hub when the lease is no longer ours
    (another worker took over after our heartbeat stalled), so two workers never both commit."""

    def __init__(self, publication: Publication, token: uuid.UUID, heartbeat: Heartbeat) -> None:
        self.publication, self.token, self.heartbeat = publication, token, heartbeat

    def __call__(self) -> None:
        held = Publication.objects.filter(
            pk=self.publication.pk, lease_token=self.token, lease_expires_at__gt=timezone.now()
        ).exists()
        if self.heartbeat.lost.is_set() or not held:
            raise LeaseLost(f"publication {self.publication.pk}: lease taken over")


def _publish(api: HfApi, publication: Publication, guard: _Guard) -> tuple[str, str]:
    version = Version.objects.select_related("artifact__organization").get(pk=publication.version_id)
    if version.artifact.withdrawn_at is not None:
        raise Refused(f"the artifact {version.artifact} was withdrawn; nothing of it is published again")
    if not settings.HF_TOKEN:
        raise Refused("no Hub token is configured (HF_TOKEN); set it and retry the publication")
    if version_digests(version) != (publication.manifest_sha256, publication.metadata_sha256):
        raise Refused(
            "the version's manifest or declared metadata changed since it was approved; "
            "its approvals no longer hold and it needs review again"
        )
    _claim_repo(api, publication)
    if hub_gated(version.license):
        api.update_repo_settings(publication.repo_id, repo_type=publication.repo_type, gated="auto")
    commit_oid = _tagged_commit(api, publication) or _marked_commit(api, publication)
    if commit_oid is None:
        commit_oid = _commit(api, publication, version, guard)
    _verify(api, publication, version, commit_oid)
    guard()
    _tag(api, publication, commit_oid)
    return commit_oid, f"{hub_web_url(publication.repo_type, publication.repo_id)}/commit/{commit_oid}"


def _claim_repo(api: HfApi, publication: Publication) -> None:
    """Make the artifact's repo, or take it over only if the registry made it: a repo someone made
    by hand under the same name is never overwritten."""
    repo_id, repo_type = publication.repo_id, publication.repo_type
    ours = Publication.objects.filter(repo_id__iexact=repo_id, repo_type=repo_type).exclude(commit_oid="")
    if not ours.exists() and api.repo_exists(repo_id, repo_type=repo_type):
        commits = api.list_repo_commits(repo_id, repo_type=repo_type, revision="main")
        files = set(api.list_repo_files(repo_id, repo_type=repo_type, revision="main")) - {".gitattributes"}
        if files and not any(Publication.MARKER_PREFIX in f"{c.title}\n{c.message}" for c in commits):
            raise Refused(
                f"the Hub repo {publication.repo_id} exists and was not made by the registry; "
                "it is never overwritten: rename it on the Hub, or publish under another artifact name"
            )
    api.create_repo(repo_id, repo_type=repo_type, exist_ok=True)


def _marked_commit(api: HfApi, publication: Publication) -> str | None:
    """The commit an earlier attempt made for this version, recognised by its marker (the oldest,
    should a lost race ever have made two)."""
    commits = api.list_repo_commits(publication.repo_id, repo_type=publication.repo_type, revision="main")
    marked = [c.commit_id for c in commits if publication.marker in f"{c.title}\n{c.message}"]
    return marked[-1] if marked else None


def _tagged_commit(api: HfApi, publication: Publication) -> str | None:
    """The commit this version's tag already points at, when an earlier attempt tagged it."""
    refs = api.list_repo_refs(publication.repo_id, repo_type=publication.repo_type)
    tag = next((t for t in refs.tags if t.name == publication.tag), None)
    if tag is None:
        return None
    info = api.list_repo_commits(publication.repo_id, repo_type=publication.repo_type, revision=tag.target_commit)
    if not info or publication.marker not in f"{info[0].title}\n{info[0].message}":
        raise Refused(
            f"tag {publication.tag} on {publication.repo_id} exists and points at {tag.target_commit}, "
            "which is not this version's commit"
        )
    return tag.target_commit


class _ManifestFile(CommitOperationAdd):
    """A manifest file streamed from S3. Its sha256 and size come from the manifest (the registry
    verified them at upload), so the client does not read the whole object once more to hash it
    before sending it."""

    def __init__(self, path_in_repo: str, key: str, *, sha256: str, size: int) -> None:
        self._known = UploadInfo(sha256=bytes.fromhex(sha256), size=size, sample=read_range(key, 0, 512))
        super().__init__(path_in_repo=path_in_repo, path_or_fileobj=cast(BinaryIO, StoredObject(key, size)))

    def __post_init__(self) -> None:
        self.path_in_repo = _validate_path_in_repo(self.path_in_repo)
        self.upload_info = self._known


def _commit(api: HfApi, publication: Publication, version: Version, guard: _Guard) -> str:
    """One commit: every manifest file streamed from S3, the card, and deletions of what the branch
    holds beyond them, pinned to the head it was planned against (re-planned when that moved)."""
    files = list(version.files.order_by("path"))
    evals = hub_eval_results(version) if publication.repo_type == "model" else []
    card = card_render(version, endpoint=hub_endpoint(), evals=evals)
    problems = card_validate(card, publication.repo_type)
    if problems:
        raise Refused(f"the generated card does not validate: {'; '.join(problems)}")
    org_id = version.artifact.organization_id
    additions: list[CommitOperationAdd] = [
        _ManifestFile(f.path, storage.safe_key(org_id=org_id, sha256=f.sha256), sha256=f.sha256, size=f.size)
        for f in files
        if f.path != CARD
    ]
    additions.append(CommitOperationAdd(path_in_repo=CARD, path_or_fileobj=card.encode()))
    wanted = {f.path for f in files if f.path != CARD} | KEPT
    description = (
        f"{version.artifact.organization.name} publishes {version.artifact} v{version.number} "
        f"through the consortium registry.\n\n{publication.marker}"
    )
    try:
        for _ in range(MAX_REPLANS):
            head = api.repo_info(publication.repo_id, repo_type=publication.repo_type, revision="main").sha
            present = set(api.list_repo_files(publication.repo_id, repo_type=publication.repo_type, revision=head))
            deletions = [CommitOperationDelete(path_in_repo=path) for path in sorted(present - wanted)]
            guard()
            try:
                info = api.create_commit(
                    publication.repo_id,
                    [*additions, *deletions],
                    repo_type=publication.repo_type,
                    commit_message=f"Publish {version.artifact.slug} v{version.number}",
                    commit_description=description,
                    parent_commit=head,
                )
            except HfHubHTTPError as exc:
                if hub_status(exc) != 412:
                    raise
                log.info("publication.replan", head=head)
            except (httpx2.TransportError, OSError):
                # The commit may have landed before the connection broke: look before trying again.
                if (found := _marked_commit(api, publication)) is not None:
                    return found
                raise
            else:
                log.info("publication.committed", commit=info.oid, files=len(additions), deleted=len(deletions))
                return info.oid
            # The head moved: perhaps under another worker's commit of this very version.
            if (found := _marked_commit(api, publication)) is not None:
                return found
    finally:
        for addition in additions:
            if isinstance(addition.path_or_fileobj, StoredObject):
                addition.path_or_fileobj.close()
    raise HubBusy(f"the main branch of {publication.repo_id} kept moving while we planned ({MAX_REPLANS} times)")


def _tag(api: HfApi, publication: Publication, commit_oid: str) -> None:
    """Tag the verified commit (a lightweight tag, so refs name the commit itself)."""
    api.create_tag(
        publication.repo_id, repo_type=publication.repo_type, tag=publication.tag, revision=commit_oid, exist_ok=True
    )
    if _tagged_commit(api, publication) != commit_oid:
        raise Refused(f"tag {publication.tag} on {publication.repo_id} does not point at {commit_oid}")


def _verify(api: HfApi, publication: Publication, version: Version, commit_oid: str) -> None:
    """The tree of the commit must be the approved manifest, with the card in place of any README.md:
    the same paths, LFS files by sha256 and size, small files downloaded and hashed. Checked before
    the tag, so a version that does not verify is never tagged."""
    approved = {f.path: f for f in version.files.all() if f.path != CARD}
    tree = {
        entry.path: entry
        for entry in api.list_repo_tree(
            publication.repo_id, repo_type=publication.repo_type, revision=commit_oid, recursive=True
        )
        if isinstance(entry, RepoFile)
    }
    problems = [f"{path}: missing on the Hub" for path in sorted(set(approved) - set(tree))]
    problems += [f"{path}: on the Hub but not approved" for path in sorted(set(tree) - set(approved) - KEPT)]
    if CARD not in tree:
        problems.append(f"{CARD}: the card is missing")
    for path in sorted(set(approved) & set(tree)):
        want, entry = approved[path], tree[path]
        if entry.size != want.size:
            problems.append(f"{path}: {entry.size} bytes on the Hub, {want.size} approved")
        elif entry.lfs is not None:
            if entry.lfs.sha256 != want.sha256:
                problems.append(f"{path}: sha256 {entry.lfs.sha256} on the Hub, {want.sha256} approved")
        elif _download_sha256(api, publication, path, commit_oid) != want.sha256:
            problems.append(f"{path}: the Hub serves other bytes than were approved")
    if problems:
        raise Unverified(f"verification failed for {publication.repo_id}@{commit_oid}: " + "; ".join(problems))


def _download_sha256(api: HfApi, publication: Publication, path: str, revision: str) -> str:
    local = api.hf_hub_download(
        publication.repo_id,
        path,
        repo_type=publication.repo_type,
        revision=revision,
        cache_dir=hub_cache_dir(),
    )
    digest = hashlib.sha256()
    with open(local, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# Reconciling (beat)


def publication_reconcile() -> dict[str, int]:
    """Send publications that are due (a release date reached, a backoff over, a message lost or
    early), hand over those whose worker stopped renewing its lease, and give up on those whose
    workers kept dying."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.PIPELINE_REDISPATCH_SECONDS)
    lease = now - timedelta(seconds=settings.PIPELINE_LEASE_SECONDS)
    due = Publication.objects.filter(
        Q(status=Status.WAITING)
        & _due(now)
        & (Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=stale) | Q(dispatched_at__lt=F("not_before")))
    )
    orphaned = Publication.objects.filter(status=Status.RUNNING, lease_expires_at__lt=now).filter(
        Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=lease)
    )
    counts = {"due": 0, "orphaned": 0, "gave_up": 0}
    for publication in orphaned.filter(attempts__gte=settings.PIPELINE_MAX_ATTEMPTS):
        if _fail(publication, None, f"its worker died {publication.attempts} times while publishing"):
            counts["gave_up"] += 1
    for name, queryset in (("due", due), ("orphaned", orphaned)):
        for pk in queryset.values_list("pk", flat=True)[:500]:
            publication_dispatch(pk)
            counts[name] += 1
    if any(counts.values()):
        log.info("publication.reconciled", **counts)
    return counts
