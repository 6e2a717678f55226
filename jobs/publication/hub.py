"""The Hub as the publisher reaches it: one configured endpoint and token, web URLs for people,
and what the client's errors say (status, message, whether trying again later can help)."""

from __future__ import annotations

from urllib.parse import quote

from django.conf import settings
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError

PUBLIC_HUB = "https://huggingface.co"


def hub_endpoint() -> str:
    return (settings.HF_ENDPOINT or PUBLIC_HUB).rstrip("/")


def hub_api() -> HfApi:
    """A client bound to the configured endpoint (never the import-time environment's)."""
    return HfApi(endpoint=hub_endpoint(), token=settings.HF_TOKEN or False, library_name="consortium-registry")


def hub_web_url(repo_type: str, repo_id: str, *, revision: str | None = None, endpoint: str | None = None) -> str:
    """A repo's page on the Hub (`endpoint`, else the configured one), at `revision` when given."""
    prefix = "datasets/" if repo_type == "dataset" else ""
    url = f"{(endpoint or hub_endpoint()).rstrip('/')}/{prefix}{quote(repo_id)}"
    return f"{url}/tree/{quote(revision, safe='')}" if revision else url


def hub_cache_dir() -> str:
    """Where files read back from the Hub (verification, card updates) are cached."""
    return str(settings.VAR_DIR / "hub-cache")


def hub_status(exc: HfHubHTTPError) -> int:
    return exc.response.status_code if exc.response is not None else 0


def hub_message(exc: HfHubHTTPError) -> str:
    """What the Hub said, for a reason a person reads."""
    return exc.server_message or str(exc).splitlines()[0]


def hub_transient(exc: HfHubHTTPError) -> bool:
    """Worth trying again later: rate limits, timeouts and the Hub's own errors."""
    return hub_status(exc) in (408, 429) or hub_status(exc) >= 500
