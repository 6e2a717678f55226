"""The version a command that changes it acts on. Review decisions, withdrawals and publication
retries name one version exactly (org/name@NUMBER or a version id): `@latest` picks the newest
published or approved version, which is rarely the one meant, so it is refused, not guessed."""

from __future__ import annotations

from typing import Any

from consortium_cli import refs
from consortium_cli.client import Api


def pinned_version(api: Api, ref: str, action: str) -> dict[str, Any]:
    if "/" in ref:
        org, slug, number = refs.parse(ref)
        if number in (None, "latest"):
            raise ValueError(
                f"{action} needs one exact version: {org}/{slug}@NUMBER or a version id (never @latest, "
                f"which could pick another version than the one you mean)"
            )
    return refs.version_of(api, ref)
