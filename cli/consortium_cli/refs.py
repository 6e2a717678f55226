"""`org/name[@version|@latest]` references, resolved through the API."""

from __future__ import annotations

from typing import Any

from consortium_cli.client import Api, ApiError

PREFERENCE = ("published", "approved")  # what @latest means, best first


def parse(ref: str) -> tuple[str, str, str | None]:
    name, _, version = ref.partition("@")
    org, sep, artifact = name.partition("/")
    if not sep or not org or not artifact:
        raise ValueError(f"'{ref}' is not a reference like org/name, org/name@1.0 or org/name@latest")
    return org, artifact, version or None


def artifact_of(api: Api, org: str, slug: str) -> dict[str, Any] | None:
    found = api.get("/artifacts/", org=org, slug=slug)["results"]
    return found[0] if found else None


def version_of(api: Api, ref: str) -> dict[str, Any]:
    """The version a reference names: a number, `latest` (newest published, else newest approved),
    or a version id."""
    if "/" not in ref:
        return api.get(f"/versions/{ref}/")
    org, slug, number = parse(ref)
    artifact = artifact_of(api, org, slug)
    if artifact is None:
        raise ApiError(404, "not_found", f"no artifact {org}/{slug} that you can see")
    versions = list(api.pages("/versions/", artifact=artifact["id"]))
    if number in (None, "latest"):
        for state in PREFERENCE:
            newest = [v for v in versions if v["state"] == state]
            if newest:
                return newest[0]  # lists come newest first
        raise ApiError(404, "not_found", f"{org}/{slug} has no published or approved version you can see")
    match = [v for v in versions if v["number"] == number]
    if not match:
        raise ApiError(404, "not_found", f"{org}/{slug} has no version {number} that you can see")
    return match[0]


def pinned_version(api: Api, ref: str, action: str) -> dict[str, Any]:
    """The version a command that changes it acts on: review decisions, withdrawals and publication
    retries name one version exactly (org/name@NUMBER or a version id). `@latest` picks the newest
    published or approved version, rarely the one meant, so it is refused, not guessed."""
    if "/" in ref:
        org, slug, number = parse(ref)
        if number in (None, "latest"):
            raise ValueError(
                f"{action} needs one exact version: {org}/{slug}@NUMBER or a version id (never @latest, "
                f"which could pick another version than the one you mean)"
            )
    return version_of(api, ref)
