"""README front matter: split for display, parsed for repo info, and validated the way the Hub's
`/api/validate-yaml` does, using huggingface_hub's own card data classes."""

from __future__ import annotations

from typing import Any

import yaml
from huggingface_hub.repocard import REGEX_YAML_BLOCK
from huggingface_hub.repocard_data import DatasetCardData, ModelCardData, SpaceCardData

_CARD_DATA = {"model": ModelCardData, "dataset": DatasetCardData, "space": SpaceCardData}
MISSING_METADATA = "empty or missing yaml metadata in repo card"


def split(text: str) -> tuple[str | None, str]:
    """(the YAML between the `---` fences or None, the markdown after them)."""
    match = REGEX_YAML_BLOCK.search(text)
    if match is None:
        return None, text
    return match.group(2), text[match.end() :]


def metadata(text: str) -> dict[str, Any] | None:
    """The front matter as a dict, or None when absent or unreadable (repo info never fails on it)."""
    front, _ = split(text)
    if front is None:
        return None
    try:
        data = yaml.safe_load(front)
    except yaml.YAMLError:
        return None
    return data if isinstance(data, dict) else None


def validate(content: str, repo_type: str) -> tuple[list[str], list[str]]:
    """(errors, warnings). A card without metadata only warns, as on the Hub; YAML that does not parse,
    is not a mapping, or that the card data class refuses (a model-index it cannot read) is an error."""
    front, _ = split(content)
    if front is None or not front.strip():
        return [], [MISSING_METADATA]
    try:
        data = yaml.safe_load(front)
    except yaml.YAMLError as exc:
        return [f"YAML metadata does not parse: {exc}"], []
    if not isinstance(data, dict):
        return [f"YAML metadata must be a mapping, not {type(data).__name__}"], []
    try:
        _CARD_DATA.get(repo_type, ModelCardData)(**data)
    except (ValueError, TypeError, KeyError) as exc:
        return [f"Invalid metadata: {exc}"], []
    return [], []
