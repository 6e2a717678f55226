"""What a check sees and how it reports: the version's files as readable references, and a
context collecting reasons (every problem, never just the first), evidence and progress.

A check is a function `check(ctx) -> None`. Bad input is never an exception: a check turns it into
`ctx.fail(...)`. Anything a check raises is treated as an infrastructure error by the pipeline
(retried with backoff, then `errored`), so a storage or database hiccup never fails a version.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jobs.checks import s3io
from registry import storage
from registry.models import Version, VersionFile


@dataclass(frozen=True)
class FileRef:
    """One file of a version's verified manifest. `path` is display text, never a storage key."""

    path: str
    size: int
    sha256: str
    key: str

    @classmethod
    def of(cls, file: VersionFile) -> FileRef:
        if file.blob is None:
            raise ValueError(f"{file.path}: not verified; only finalized versions are checked")
        return cls(path=file.path, size=file.size, sha256=file.sha256, key=file.blob.key)

    def open(self) -> io.BufferedReader:
        """A seekable reader over the stored bytes (range requests; nothing lands on disk)."""
        return s3io.open_object(self.key, self.size)

    def read(self, start: int = 0, length: int | None = None) -> bytes:
        """Bytes [start, start+length) — for headers and small files; callers bound `length`."""
        length = self.size - start if length is None else min(length, self.size - start)
        return s3io.read_range(self.key, start, length)

    def digest(self, progress: Callable[[int], None] | None = None) -> tuple[int, str]:
        return storage.object_digest(self.key, progress)

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


def version_files(version: Version) -> list[FileRef]:
    return [FileRef.of(f) for f in version.files.select_related("blob").order_by("path")]


@dataclass(frozen=True)
class Reason:
    """One problem: which file (if any), a stable code, and a message a pusher can act on."""

    code: str
    message: str
    path: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "code": self.code, "message": self.message}

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


@dataclass
class CheckContext:
    version: Version
    files: list[FileRef]
    reasons: list[Reason] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    summary: str = ""
    # Facts about the version the pipeline stores on its row with the result (the portal filters on them).
    version_facts: dict[str, Any] = field(default_factory=dict)
    # A measurement not taken (too large, no base in the registry, the checks failed): why.
    skipped: str = ""
    # Writes of the result beyond the step's row (eval scores, lineage), made by the pipeline in the
    # transaction that records the step, and only while the step's lease is still the worker's.
    records: list[Callable[[], None]] = field(default_factory=list)
    # Set by the pipeline: records progress (throttled) and raises if the step's lease was lost.
    on_progress: Callable[[int, int, str], None] = lambda done, total, unit: None

    @classmethod
    def for_version(cls, version: Version) -> CheckContext:
        return cls(version=version, files=version_files(version))

    @property
    def kind(self) -> str:
        return self.version.artifact.kind

    def file(self, path: str) -> FileRef | None:
        return next((f for f in self.files if f.path == path), None)

    def fail(self, code: str, message: str, *, path: str = "") -> None:
        self.reasons.append(Reason(code=code, message=message, path=path))

    def skip(self, why: str) -> None:
        self.skipped = self.summary = why

    def progress(self, done: int, total: int, unit: str = "bytes") -> None:
        self.on_progress(done, total, unit)

    @property
    def passed(self) -> bool:
        return not self.reasons
