"""Withdrawal of published work: the registry keeps the files, the Hub stops offering them.

A version loses its tag and, when the card on `main` is its own, that card gains a notice saying it
was withdrawn and why. Like any git history on the Hub, its commit stays reachable by id: to take
the files out of public reach, withdraw the whole artifact, which withdraws every published version
and makes the Hub repo private; nothing of it is published again. Hub calls happen before the
registry records a version's withdrawal and are idempotent, so a failure midway is finished by asking
again; an artifact's withdrawal is recorded first, since it also stops new publications.
"""

from __future__ import annotations

import re
from contextlib import suppress
from pathlib import Path

import httpx2
import structlog
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from huggingface_hub import CommitOperationAdd, HfApi
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

from jobs.models import Publication
from jobs.publication.hub import hub_api, hub_cache_dir
from registry.actors import Actor
from registry.errors import Forbidden, InvalidTransition, UpstreamFailed
from registry.models import Artifact, Version
from registry.permissions import Capability
from registry.services.audit import audit_record

log = structlog.get_logger(__name__)
FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.DOTALL)


def _require_withdrawer(actor: Actor, artifact: Artifact, reason: str) -> None:
    if not (actor.is_steward or actor.can(artifact.organization_id, Capability.WITHDRAW)):
        raise Forbidden(f"only an owner of '{artifact.organization.slug}' or a steward withdraws published work")
    if not reason.strip():
        raise ValidationError({"reason": ["a withdrawal needs a reason"]})


def version_withdraw(*, actor: Actor, version: Version, reason: str) -> Version:
    """Withdraw one published version: tag deleted, card notice when it is the newest."""
    _require_withdrawer(actor, version.artifact, reason)
    if version.state != Version.State.PUBLISHED:
        raise InvalidTransition(f"version {version.number} is {version.state}, not published", field="state")
    publication = Publication.objects.get(version=version)
    api = hub_api()
    try:
        _untag(api, publication)
        _mark_card(api, publication, version, reason)
    except (HfHubHTTPError, httpx2.TransportError, OSError) as exc:
        raise UpstreamFailed(f"the Hub did not take the withdrawal ({exc}); nothing was recorded: try again") from exc
    return _record(actor, version, publication, reason)


def artifact_withdraw(*, actor: Actor, artifact: Artifact, reason: str) -> Artifact:
    """Withdraw every published version of the artifact and make its Hub repo private. The decision
    is recorded first (it stops new publications at once); asking again finishes what the Hub did
    not take."""
    _require_withdrawer(actor, artifact, reason)
    with transaction.atomic():
        if Artifact.objects.filter(pk=artifact.pk, withdrawn_at__isnull=True).update(withdrawn_at=timezone.now()):
            audit_record(
                actor=actor,
                action="artifact.withdrawn",
                target=artifact,
                organization=artifact.organization,
                data={"reason": reason},
            )
    publications = list(
        Publication.objects.filter(version__artifact=artifact, version__state=Version.State.PUBLISHED).select_related(
            "version"
        )
    )
    repo = Publication.objects.filter(version__artifact=artifact).exclude(repo_id="").first()
    api = hub_api()
    try:
        for publication in publications:
            _untag(api, publication)
        if repo is not None:
            with suppress(RepositoryNotFoundError):  # nothing left on the Hub to hide
                api.update_repo_settings(repo.repo_id, repo_type=repo.repo_type, private=True)
    except (HfHubHTTPError, httpx2.TransportError, OSError) as exc:
        raise UpstreamFailed(
            f"the withdrawal is recorded and nothing more of it will be published, but the Hub did not take "
            f"all of it ({exc}): ask again to finish"
        ) from exc
    for publication in publications:
        _record(actor, publication.version, publication, reason)
    artifact.refresh_from_db()
    return artifact


def _untag(api: HfApi, publication: Publication) -> None:
    try:
        api.delete_tag(publication.repo_id, tag=publication.tag, repo_type=publication.repo_type)
    except (RevisionNotFoundError, RepositoryNotFoundError):
        log.info("withdrawal.tag_already_gone", repo=publication.repo_id, tag=publication.tag)


def _mark_card(api: HfApi, publication: Publication, version: Version, reason: str) -> None:
    """Put a withdrawal notice at the top of the card on `main`, keeping its metadata, when that card
    is this version's (a newer version's card is left alone)."""
    repo_id, repo_type = publication.repo_id, publication.repo_type
    head = api.repo_info(repo_id, repo_type=repo_type, revision="main").sha
    downloaded = api.hf_hub_download(
        repo_id, "README.md", repo_type=repo_type, revision=head, cache_dir=hub_cache_dir()
    )
    card = Path(downloaded).read_text(encoding="utf-8")
    if f"[`{version.public_id}`]" not in card:  # the card's "Registry version" line
        return  # main carries another version's card
    if publication.marker in card and "This version was withdrawn" in card:
        return  # an earlier attempt already did it
    notice = (
        f"> **This version was withdrawn** on {timezone.now():%Y-%m-%d} by {version.artifact.organization.name}: "
        f"{' '.join(reason.split())}\n>\n> Its tag `{publication.tag}` was removed. ({publication.marker})\n\n"
    )
    found = FRONT_MATTER.match(card)
    updated = card[: found.end()] + "\n" + notice + card[found.end() :] if found else notice + card
    api.create_commit(
        repo_id,
        repo_type=repo_type,
        operations=[CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=updated.encode())],
        commit_message=f"Withdraw {version.artifact.slug} v{version.number}",
        commit_description=f"{' '.join(reason.split())}\n\n{publication.marker}",
        parent_commit=head,
    )


def _record(actor: Actor, version: Version, publication: Publication, reason: str) -> Version:
    with transaction.atomic():
        version = Version.objects.select_for_update().get(pk=version.pk)
        if version.state == Version.State.PUBLISHED:
            version.transition(Version.State.WITHDRAWN)
        Publication.objects.filter(pk=publication.pk).update(status=Publication.Status.WITHDRAWN)
        audit_record(
            actor=actor,
            action="version.withdrawn",
            target=version,
            organization=version.artifact.organization,
            data={"reason": reason, "repo": publication.repo_id, "tag": publication.tag},
        )
    return version
