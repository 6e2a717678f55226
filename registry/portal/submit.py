"""The Submit page: a draft version, of a new artifact or of one the org already has, with what it
declares (license, release, README, metadata, lineage, compute), created through the same service
checks as the API; its files come next, on the draft's upload page."""

from __future__ import annotations

import json
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from registry import selectors
from registry.actors import Actor
from registry.api.serializers import LineageItemIn
from registry.errors import DomainError
from registry.models import Artifact, Kind, Organization, ReleaseTarget, Sharing, Version
from registry.permissions import Capability
from registry.services.drafts import DraftIn, NewArtifact, draft_create
from registry.services.versions import ComputeIn, LineageIn

NEW, EXISTING = "new", "existing"
LINEAGE_EXAMPLE = (
    '[{"relation": "derived_from", "hub_repo": "meta-llama/Llama-3.1-8B",\n'
    '  "revision": "<40-hex commit>", "license": "LicenseRef-Llama-3.1"},\n'
    ' {"relation": "trained_on", "version": "<a registry version id>"}]'
)


def pushable_orgs(actor: Actor) -> QuerySet[Organization]:
    """The orgs the actor sees and may push in, by slug."""
    ids = [org_id for org_id in actor.org_ids if actor.can(org_id, Capability.PUSH)]
    return selectors.organization_list(actor=actor).filter(pk__in=ids)


def _drf_errors(detail: Any, prefix: str) -> list[str]:
    """A DRF serializer's errors as sentences naming the entry and key (`entry 2, revision: …`)."""
    if isinstance(detail, dict):
        return [
            msg
            for key, value in detail.items()
            for msg in _drf_errors(value, f"{prefix}entry {key + 1}, " if isinstance(key, int) else f"{prefix}{key}: ")
        ]
    if isinstance(detail, list) and any(isinstance(item, dict | list) for item in detail):
        return [msg for i, item in enumerate(detail) for msg in _drf_errors(item, f"{prefix}entry {i + 1}, ") if item]
    items = detail if isinstance(detail, list) else [detail]
    return [f"{prefix}{item}" for item in items]


class SubmitForm(forms.Form):
    organization = forms.ChoiceField(
        label="Organization", error_messages={"invalid_choice": "'%(value)s' is not an organization you may push to."}
    )
    target = forms.ChoiceField(
        label="Artifact",
        choices=[(NEW, "A new artifact"), (EXISTING, "A new version of an existing artifact")],
        widget=forms.RadioSelect,
        initial=NEW,
    )
    artifact = forms.ChoiceField(
        label="Existing artifact",
        required=False,
        error_messages={"invalid_choice": "that artifact is not one you may push to."},
    )
    slug = forms.CharField(
        label="Name (slug)", required=False, max_length=64, help_text="Lowercase letters, digits and hyphens."
    )
    kind = forms.ChoiceField(label="Kind", required=False, choices=[("", "Choose a kind"), *Kind.choices])
    sharing = forms.ChoiceField(
        label="Shared with",
        choices=[(Sharing.ORG, "Your organization only"), (Sharing.CONSORTIUM, "Every member organization")],
        initial=Sharing.ORG,
    )
    description = forms.CharField(label="Description", required=False, max_length=20_000, widget=forms.Textarea)
    number = forms.CharField(label="Version number", max_length=64, help_text="Like 1, 1.2, 1.2.3 or 1.2.3-rc.1.")
    license = forms.CharField(
        label="License", max_length=500, help_text="An SPDX expression, like Apache-2.0 or 'Apache-2.0 OR MIT'."
    )
    release_target = forms.ChoiceField(
        label="Release",
        choices=[
            (ReleaseTarget.HUB, "Publish to the Hugging Face Hub after approval"),
            (ReleaseTarget.CONSORTIUM, "Inside the consortium only (approval is the end)"),
        ],
        initial=ReleaseTarget.HUB,
        widget=forms.RadioSelect,
    )
    release_at = forms.DateTimeField(
        label="Publish no earlier than (UTC, optional)",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
    )
    readme = forms.CharField(
        label="README", required=False, widget=forms.Textarea, help_text="Intended use, limitations (Markdown)."
    )
    metadata = forms.CharField(
        label="Metadata (JSON object, optional)", required=False, widget=forms.Textarea(attrs={"rows": 4})
    )
    lineage = forms.CharField(
        label="Lineage (JSON list, optional)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": LINEAGE_EXAMPLE}),
        help_text="What it comes from: registry versions by id, or Hub repos pinned to a commit.",
    )
    gpu_hours = forms.FloatField(label="Compute: GPU-hours (optional)", required=False, min_value=0)
    hardware = forms.CharField(label="Compute: hardware (optional)", required=False, max_length=200)

    def __init__(self, *args: Any, orgs: list[Organization], artifacts: list[Artifact], **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.orgs = {org.slug: org for org in orgs}
        self.artifacts = {str(a.public_id): a for a in artifacts}
        cast(forms.ChoiceField, self.fields["organization"]).choices = [
            (org.slug, f"{org.name} ({org.slug})") for org in orgs
        ]
        groups: dict[str, list[tuple[str, str]]] = {}
        for a in artifacts:
            groups.setdefault(a.organization.slug, []).append((str(a.public_id), f"{a.slug} ({a.get_kind_display()})"))
        cast(forms.ChoiceField, self.fields["artifact"]).choices = [("", "Choose an artifact"), *groups.items()]

    def clean_metadata(self) -> dict[str, Any]:
        raw = self.cleaned_data["metadata"].strip()
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise ValidationError(f"not valid JSON: {exc}") from None
        if not isinstance(value, dict):
            raise ValidationError('metadata is a JSON object, like {"context_length": 8192}')
        return value

    def clean_lineage(self) -> list[LineageIn]:
        raw = self.cleaned_data["lineage"].strip()
        if not raw:
            return []
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise ValidationError(f"not valid JSON: {exc}") from None
        if not isinstance(value, list):
            value = [value]
        items = LineageItemIn(data=value, many=True)  # the API's own reading of lineage
        if not items.is_valid():
            raise ValidationError(_drf_errors(items.errors, ""))
        return [LineageIn(**item) for item in items.validated_data]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("target") == EXISTING:
            if not data.get("artifact"):
                self.add_error("artifact", "choose the artifact this version belongs to.")
        elif data.get("target") == NEW:
            for name, what in (("slug", "a name"), ("kind", "a kind")):
                if not data.get(name):
                    self.add_error(name, f"a new artifact needs {what}.")
        return data

    def compute(self) -> ComputeIn:
        return ComputeIn(gpu_hours=self.cleaned_data.get("gpu_hours"), hardware=self.cleaned_data.get("hardware") or "")


# A service's refusal goes next to its field (declared compute is under GPU-hours), else on top.
SERVICE_FIELDS = {"compute": "gpu_hours"}


def _place_errors(form: SubmitForm, exc: DomainError | ValidationError) -> None:
    if isinstance(exc, DomainError):
        target = SERVICE_FIELDS.get(exc.field or "", exc.field)
        form.add_error(target if target in form.fields else None, exc.message)
        return
    for name, problems in exc.message_dict.items():
        field: str | None = SERVICE_FIELDS.get(name, name)
        if name.startswith("lineage["):
            field, entry = "lineage", int(name[len("lineage[") : -1]) + 1
            problems = [f"entry {entry}: {p}" for p in problems]
        if field == NON_FIELD_ERRORS:
            field = None
        elif field not in form.fields:
            field, problems = None, [f"{name}: {p}" for p in problems]
        for problem in problems:
            form.add_error(field, problem)


def _create(request: HttpRequest, actor: Actor, form: SubmitForm) -> Version | None:
    """The draft the valid form asks for, or None with the refusals placed on the form."""
    data = form.cleaned_data
    existing = form.artifacts.get(data["artifact"]) if data["target"] == EXISTING else None
    # A new version belongs to its artifact's org; the chosen org is for a new artifact.
    organization = existing.organization if existing else form.orgs[data["organization"]]
    new = None
    if existing is None:
        new = NewArtifact(
            slug=data["slug"].strip(), kind=data["kind"], sharing=data["sharing"], description=data["description"]
        )
        if selectors.artifact_list(actor=actor, org=organization.slug, slug=new.slug).exists():
            message = f"'{organization.slug}/{new.slug}' already exists: choose another name, or add a version to it."
            form.add_error("slug", message)
            return None
    draft = DraftIn(
        number=data["number"].strip(),
        license=data["license"].strip(),
        readme=data["readme"],
        metadata=data["metadata"],
        compute=form.compute(),
        release_target=data["release_target"],
        release_at=data["release_at"],
        lineage=data["lineage"],
    )
    try:
        version, created = draft_create(
            actor=actor, organization=organization, draft=draft, artifact=existing, new_artifact=new
        )
    except (DomainError, ValidationError) as exc:
        _place_errors(form, exc)
        return None
    label = f"{organization.slug}/{version.artifact.slug} {version.number}"
    if created:
        messages.success(request, f"Draft {label} created. Now add its files.")
    else:
        messages.info(request, f"{label} already exists with these declarations ({version.state}): here it is.")
    return version


@login_required
def submit(request: HttpRequest) -> HttpResponse:
    """Create a draft; on success, go to its upload page. Errors come back next to their fields and
    nothing is created."""
    actor = Actor.of(request)
    orgs = list(pushable_orgs(actor))
    artifacts = list(
        selectors.artifact_list(actor=actor)
        .filter(organization__in=orgs, withdrawn_at__isnull=True)
        .order_by("organization__slug", "slug")
    )
    active = request.session.get("active_org")
    default_org = active if active in {o.slug for o in orgs} else (orgs[0].slug if orgs else None)
    initial = {"organization": default_org, "target": NEW, "sharing": Sharing.ORG, "release_target": ReleaseTarget.HUB}
    wanted = request.GET.get("artifact", "")
    if any(str(a.public_id) == wanted for a in artifacts):  # "new version" links from an artifact's page
        initial.update(target=EXISTING, artifact=wanted)
    form = SubmitForm(request.POST or None, initial=initial, orgs=orgs, artifacts=artifacts)
    if request.method == "POST" and orgs and form.is_valid():
        version = _create(request, actor, form)
        if version is not None:
            return redirect("portal-version-upload", version_id=version.public_id)
    status = 400 if request.method == "POST" else 200
    return render(request, "registry/submit.html", {"form": form, "orgs": orgs}, status=status)
