"""The bad-input corpus, built by code (never downloaded): each case is a version's files and the
reason it must end with. Modules here each contribute a `CASES` list."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Case:
    """Pushed as a `kind` version, it must end in `changes_requested` with a reason whose path is
    `path` and whose message contains every one of `words` (case-insensitive)."""

    name: str
    kind: str
    files: dict[str, bytes]
    path: str
    words: tuple[str, ...]
    metadata: dict[str, Any] = field(default_factory=dict)
