"""The Hub as the publisher reaches it: one configured endpoint and token, web URLs for people,
and the classification of the client's errors into retry, re-plan and give up."""

from __future__ import annotations

from django.conf import settings
from huggingface_hub import HfApi

PUBLIC_HUB = "https://huggingface.co"


def hub_endpoint() -> str:
    return (settings.HF_ENDPOINT or PUBLIC_HUB).rstrip("/")


def hub_api() -> HfApi:
    """A client bound to the configured endpoint (never the import-time environment's)."""
    return HfApi(endpoint=hub_endpoint(), token=settings.HF_TOKEN or False, library_name="consortium-registry")


def hub_web_url(repo_type: str, repo_id: str, *, revision: str | None = None) -> str:
    prefix = "datasets/" if repo_type == "dataset" else ""
    url = f"{hub_endpoint()}/{prefix}{repo_id}"
    return f"{url}/tree/{revision}" if revision else url


def hub_cache_dir() -> str:
    """Where files read back from the Hub (verification, card updates) are cached."""
    return str(settings.VAR_DIR / "hub-cache")
