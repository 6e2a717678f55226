"""File paths in a version's manifest: relative POSIX paths, checked before anything is stored.

A path is display metadata (and the path a file gets on the Hub), never a storage key. Every rule
below answers an attack seen in the field (MLflow's traversal CVEs): `..`, absolute and drive
paths, backslashes, NUL and control characters, percent-encoded dots, Unicode look-alikes that
normalize to something else, and names that collide on case-insensitive filesystems.
"""

from __future__ import annotations

import re
import unicodedata

MAX_FILES = 10_000
MAX_PATH = 1024
MAX_SEGMENT = 255
_PERCENT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
# Control, format (zero-width, bidi overrides), surrogate, private-use, unassigned, line/paragraph separators.
_FORBIDDEN_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


class PathError(ValueError):
    """A manifest path that may not be stored; the message says why."""


def check_path(path: str) -> str:
    """`path` if it is a safe relative POSIX path, else PathError naming the rule it breaks."""
    if not isinstance(path, str) or not path:
        raise PathError("a path is required")
    if len(path) > MAX_PATH:
        raise PathError(f"longer than {MAX_PATH} characters")
    bad = next((c for c in path if unicodedata.category(c) in _FORBIDDEN_CATEGORIES), None)
    if bad is not None:
        raise PathError(f"contains the control or invisible character U+{ord(bad):04X}")
    if unicodedata.normalize("NFKC", path) != path:
        raise PathError("contains characters that normalize to others (Unicode look-alikes); use plain forms")
    if "\\" in path:
        raise PathError("contains a backslash; separate directories with '/'")
    if _PERCENT_ESCAPE.search(path):
        raise PathError("contains a percent-escape such as %2e; give the path as plain text")
    if path.startswith("/") or re.match(r"^[A-Za-z]:", path):
        raise PathError("is absolute; give a path relative to the version's root")
    for segment in path.split("/"):
        if segment in ("", ".", ".."):
            raise PathError("has an empty, '.' or '..' segment")
        if len(segment) > MAX_SEGMENT:
            raise PathError(f"has a segment longer than {MAX_SEGMENT} characters")
        if segment != segment.strip():
            raise PathError("has a segment starting or ending with whitespace")
    return path


def check_manifest_paths(paths: list[str]) -> dict[int, str]:
    """Problems by index for a whole manifest: each path's own, plus duplicates (also those that
    differ only in case, which collide on macOS and Windows checkouts) and the file-count limit."""
    problems: dict[int, str] = {}
    if len(paths) > MAX_FILES:
        problems[MAX_FILES] = f"a version holds at most {MAX_FILES} files, not {len(paths)}"
        return problems
    seen: dict[str, int] = {}
    for i, path in enumerate(paths):
        try:
            check_path(path)
        except PathError as exc:
            problems[i] = str(exc)
            continue
        folded = path.casefold()
        if folded in seen:
            first = paths[seen[folded]]
            problems[i] = f"repeats '{first}'" if first == path else f"differs from '{first}' only in case"
            continue
        seen[folded] = i
    return problems
