"""Every case of the bad-input corpus, from each corpus module."""

from __future__ import annotations

from importlib import import_module
from pathlib import Path

from tests.corpus import Case

MODULES = ("pickles", "archives", "safetensors", "datasets", "recipes")


def all_cases(sentinel: Path) -> list[Case]:
    """Pickle payloads create `sentinel` if they ever run; nothing else uses it."""
    found: list[Case] = []
    for name in MODULES:
        module = import_module(f"tests.corpus.{name}")
        found += module.cases(sentinel) if hasattr(module, "cases") else module.CASES
    return found
