"""A version's page, the checks and measurements partial it polls while they run, and its file downloads."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import prefetch_related_objects
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.safestring import mark_safe

from jobs import pipeline
from jobs.models import PipelineRun, Publication, Step
from jobs.publication.hub import hub_web_url
from registry import selectors, storage
from registry.actors import Actor
from registry.digests import version_digests
from registry.models import LineageEdge, Version
from registry.permissions import Capability
from registry.portal import lineage_graph
from registry.portal.measurements import MeasurementsView, measurements_view
from registry.portal.recipe_matches import prior_art_section
from registry.portal.scorecard import scorecard_section
from registry.services import reviews

AUDIT_SHOWN = 50  # the newest events of a version on its page; the org's audit log has them all


def version_or_404(request: HttpRequest, version_id: str) -> Version:
    found = selectors.version_lookup(actor=Actor.of(request)).filter(public_id=version_id).first()
    if found is None:
        raise Http404("no such version that you can see")
    return found


def _pipeline(version: Version) -> PipelineRun | None:
    try:
        return selectors.pipeline_get(version=version)
    except Http404:
        return None


def _pipeline_context(actor: Actor, version: Version) -> dict[str, Any]:
    """The gating checks and the measurements, and whether the page should keep polling them:
    while the checks run, and while a measurement of a run whose checks passed is queued or running."""
    run = _pipeline(version)
    measured = measurements_view(actor=actor, version=version, run=run)
    checks = [step for step in run.steps.all() if step.gating] if run else []
    measures = [m.step for m in measured.measurements] if measured else []
    return {
        "run": run,
        "checks": checks,
        "measured": measured,
        "rerunnable": _rerunnable(actor, version, run, checks + measures),
        "live": run is not None
        and (run.status == PipelineRun.Status.RUNNING or (measured is not None and measured.live)),
    }


def _rerunnable(actor: Actor, version: Version, run: PipelineRun | None, steps: list[Step]) -> set[int]:
    """The steps that get a re-run form: for stewards, those `step_rerun` would accept now."""
    if not actor.is_steward or run is None:
        return set()
    return {step.pk for step in steps if pipeline.step_rerun_refusal(step, run=run, version=version) is None}


def version_detail(request: HttpRequest, version_id: str) -> HttpResponse:
    """A version: what was declared, its files, every check with its evidence and its measurements
    (live while they run), its lineage, the reviews, its publication and audit trail; reviewers and
    stewards act here too."""
    actor = Actor.of(request)
    version = version_or_404(request, version_id)
    prefetch_related_objects([version], "files", "parent_edges__parent")  # what the digests read
    digests = version_digests(version)
    files = sorted(version.files.all(), key=lambda f: f.path)
    org_id = version.artifact.organization_id
    may_audit = actor.is_steward or actor.can(org_id, Capability.AUDIT)
    audit = list(selectors.version_audit_list(actor=actor, version=version)[: AUDIT_SHOWN + 1]) if may_audit else []
    pipeline_context = _pipeline_context(actor, version)
    measured: MeasurementsView | None = pipeline_context["measured"]
    context = {
        "version": version,
        **pipeline_context,
        "files": files,
        "total_size": sum(f.size for f in files),
        "lineage": _lineage(selectors.lineage_graph(actor=actor, version=version)),
        "prior_art": prior_art_section(actor, version),
        "scorecard": scorecard_section(actor, version, measured.found if measured else None),
        "summary": reviews.review_summary(version, actor.user, digests=digests),
        "reviews": selectors.review_list(version=version) if actor.is_authenticated else [],
        "digests": digests,
        "can_review": actor.is_reviewer
        and version.state == Version.State.IN_REVIEW
        and version.artifact.organization_id not in actor.org_ids,
        "can_override": actor.is_steward,
        "upload_url": _upload_url(actor, version),
        "hub_url": _hub_url(version),
        "audit": audit[:AUDIT_SHOWN],
        "audit_more": len(audit) > AUDIT_SHOWN,
        "audit_shown": AUDIT_SHOWN,
        "may_audit": may_audit,
        "audit_hidden_from_member": not may_audit and org_id in actor.org_ids,
        "audit_log_url": reverse("portal-org-audit", args=[version.artifact.organization.slug]) if may_audit else "",
    }
    return render(request, "registry/version.html", context)


def version_checks(request: HttpRequest, version_id: str) -> HttpResponse:
    """The checks and measurements alone: what the version page polls (htmx) while they run."""
    actor = Actor.of(request)
    version = version_or_404(request, version_id)
    return render(request, "registry/_pipeline.html", {"version": version, **_pipeline_context(actor, version)})


def version_file_download(request: HttpRequest, version_id: str, file_id: int) -> HttpResponse:
    """A file of a visible version, through a short-lived presigned GET on its verified blob; the
    object key comes from the blob (org and digest), never from the file's name."""
    version = version_or_404(request, version_id)
    found = version.files.filter(pk=file_id).select_related("blob").first()
    if found is None:
        raise Http404("this version has no such file")
    if found.blob is None:
        raise Http404(f"{found.path} has not been uploaded yet: there is nothing to download")
    url = storage.download_url(found.blob.key, filename=found.path, expires=settings.DOWNLOAD_URL_TTL)
    response = HttpResponseRedirect(url)
    response["Cache-Control"] = "private, no-store"  # the signed URL must not outlive its request
    return response


def _upload_url(actor: Actor, version: Version) -> str:
    """The upload page of a draft, for those who may push in its org."""
    if version.state != Version.State.DRAFT or not actor.can(version.artifact.organization_id, Capability.PUSH):
        return ""
    return reverse("portal-version-upload", args=[version.public_id])


def _hub_url(version: Version) -> str:
    publication = getattr(version, "publication", None)
    if publication is None or publication.status != Publication.Status.PUBLISHED:
        return ""
    return hub_web_url(publication.repo_type, publication.repo_id, revision=publication.tag)


def _node(version: Version, current: Version) -> lineage_graph.Node:
    artifact = version.artifact
    return lineage_graph.Node(
        key=f"v{version.pk}",
        name=f"{artifact.organization.slug}/{artifact.slug}",
        detail=f"{version.number} · {artifact.kind.replace('_', ' ')}",
        status=version.state.replace("_", " "),
        layer=lineage_graph.KIND_LAYER[artifact.kind],
        href=reverse("portal-version", args=[version.public_id]),
        current=version.pk == current.pk,
    )


def _hub_node(edge: LineageEdge) -> lineage_graph.Node:
    repo_type = edge.external_repo_type or "model"
    return lineage_graph.Node(
        key=f"hub:{edge.external_repo}@{edge.external_revision}",
        name=edge.external_repo,
        detail=f"Hub {repo_type}",
        status=f"@ {edge.external_revision[:12]}",
        layer=lineage_graph.layer_of_hub_repo(edge.external_repo_type, edge.relation),
        href=hub_web_url(repo_type, edge.external_repo, revision=edge.external_revision),
        note=f"declared license {edge.external_license}" if edge.external_license else "",
    )


def _lineage(graph: selectors.LineageGraph) -> dict[str, Any]:
    """The picture and, for screen readers and copying, the same links as a list."""
    version = graph.version
    nodes = {f"v{version.pk}": _node(version, version)}
    edges = []
    for edge in graph.edges:
        child = nodes.setdefault(f"v{edge.child_id}", _node(edge.child, version))
        parent = _hub_node(edge) if edge.parent is None else _node(edge.parent, version)
        parent = nodes.setdefault(parent.key, parent)
        edges.append(lineage_graph.Edge(child.key, parent.key, edge.relation))
    name = f"{version.artifact.organization.slug}/{version.artifact.slug} {version.number}"
    description = (
        f"{len(nodes) - 1} versions and Hub repos linked to {name}, laid out left to right from recipes "
        "and data to checkpoints, adapters and eval suites; the list below names every link."
    )
    svg = lineage_graph.render_svg(
        list(nodes.values()),
        edges,
        title=f"Lineage of {name}",
        description=description,
        hidden_ancestors=graph.hidden_ancestors,
        hidden_descendants=graph.hidden_descendants,
    )
    return {
        "svg": mark_safe(svg),  # noqa: S308 - render_svg escapes every label it draws
        "links": [(nodes[e.child], e.label, nodes[e.parent]) for e in edges],
        "hidden_ancestors": graph.hidden_ancestors,
        "hidden_descendants": graph.hidden_descendants,
    }
