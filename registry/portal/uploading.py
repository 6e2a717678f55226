"""A draft's upload page: the browser hashes small files and sends them straight to S3 through the
same REST endpoints as the `consortium` CLI (upload.js), then finalizes; the CLI commands for large
files; deleting the draft."""

from __future__ import annotations

import re
from typing import Any

import yaml
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from registry.actors import Actor
from registry.models import Version
from registry.permissions import Capability
from registry.portal.actions import act
from registry.portal.versions import version_or_404
from registry.services import versions

# Bigger files go through the CLI: the page reads a whole file into memory to hash it.
BROWSER_MAX_FILE_BYTES = 512 * 1024**2


def readme_filename(version: Version) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]", "-", f"{version.artifact.slug}-{version.number}")
    return f"README-{safe}.md"


def cli_spec(version: Version) -> str:
    """consortium.yaml for pushing to this draft: the same declarations, so the CLI finds this
    version instead of conflicting with it."""
    spec: dict[str, Any] = {
        "organization": version.artifact.organization.slug,
        "artifact": version.artifact.slug,
        "version": version.number,
        "license": version.license,
        "release_target": version.release_target,
        # Outside the directory, so the README is not pushed as one of the files.
        "readme": f"../{readme_filename(version)}" if version.readme else "",
    }
    if version.release_at:
        spec["release_at"] = version.release_at.isoformat()
    if version.metadata:
        spec["metadata"] = version.metadata
    if version.compute:
        spec["compute"] = version.compute
    lineage = []
    for edge in version.parent_edges.select_related("parent").order_by("id"):
        if edge.parent is not None:
            lineage.append({"relation": edge.relation, "version": str(edge.parent.public_id)})
        else:
            lineage.append(
                {
                    "relation": edge.relation,
                    "hub_repo": edge.external_repo,
                    "hub_repo_type": edge.external_repo_type,
                    "revision": edge.external_revision,
                    "license": edge.external_license,
                }
            )
    if lineage:
        spec["lineage"] = lineage
    return yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)


def cli_commands(version: Version) -> str:
    url = settings.PUBLIC_URL
    org = version.artifact.organization.slug
    lines = [
        "# in a directory holding every file of this version (those already uploaded are not sent again)",
        "cat > consortium.yaml <<'CONSORTIUM_YAML'",
        cli_spec(version).rstrip("\n"),
        "CONSORTIUM_YAML",
    ]
    if version.readme:
        lines.append(f"# and this draft's README saved beside the directory as ../{readme_filename(version)}")
    lines += [
        f"consortium --url {url} login   # a token of {org} with the push scope",
        f"consortium --url {url} push .   # uploads what is missing, then finalizes",
    ]
    return "\n".join(lines) + "\n"


@login_required
def version_upload(request: HttpRequest, version_id: str) -> HttpResponse:
    """The draft's files and the browser upload; for other states, why nothing can be added."""
    actor = Actor.of(request)
    version = version_or_404(request, version_id)
    can_push = actor.can(version.artifact.organization_id, Capability.PUSH)
    is_draft = version.state == Version.State.DRAFT
    files = list(version.files.order_by("path"))
    context = {
        "version": version,
        "files": files,
        "can_push": can_push,
        "is_draft": is_draft,
        "can_finalize": bool(files) and all(f.blob_id is not None for f in files),
        "manifest": [
            {
                "path": f.path,
                "size": f.size,
                "sha256": f.sha256,
                "status": "missing" if f.blob_id is None else "verified",
            }
            for f in files
        ],
        "max_file_bytes": BROWSER_MAX_FILE_BYTES,
        "cli": cli_commands(version) if can_push and is_draft else "",
        "readme_filename": readme_filename(version),
    }
    return render(request, "registry/submit_upload.html", context, status=200 if can_push else 403)


@login_required
def version_readme(request: HttpRequest, version_id: str) -> HttpResponse:
    """The draft's README as a file, for the CLI's consortium.yaml to point at."""
    version = version_or_404(request, version_id)
    response = HttpResponse(version.readme, content_type="text/markdown; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{readme_filename(version)}"'
    return response


@login_required
@require_POST
def version_delete(request: HttpRequest, version_id: str) -> HttpResponse:
    """Delete a draft (its uploads are aborted), once the person confirmed it."""
    version = version_or_404(request, version_id)
    label = f"{version.artifact.organization.slug}/{version.artifact.slug} {version.number}"
    if request.POST.get("confirm") != "yes":
        messages.error(request, f"Nothing was deleted: tick the box to confirm deleting draft {label}.")
        return redirect("portal-version-upload", version_id=version.public_id)
    done = act(
        request,
        lambda: versions.version_delete(actor=Actor.of(request), version=version),
        f"Draft {label} deleted; its uploads were aborted.",
    )
    if done:
        return redirect("portal-artifact", artifact_id=version.artifact.public_id)
    return redirect("portal-version-upload", version_id=version.public_id)
