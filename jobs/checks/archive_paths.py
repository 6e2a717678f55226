"""Archive entry names and links, judged as extraction would meet them: traversal, absolute paths,
drive letters, backslashes, control characters, and links whose chain leads out of the root."""

from __future__ import annotations

import re

_DRIVE = re.compile(r"[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def name_problems(name: str) -> list[tuple[str, str]]:
    """What is wrong with an entry's name, as (code, message) pairs."""
    problems: list[tuple[str, str]] = []
    if not name.strip("/"):
        problems.append(("archive_traversal", "has an empty name"))
    if "\\" in name:
        problems.append(("archive_traversal", "name contains a backslash (a Windows path separator)"))
    if name.startswith(("/", "\\")):
        problems.append(("archive_traversal", "is an absolute path"))
    if _DRIVE.match(name):
        problems.append(("archive_traversal", "starts with a drive letter"))
    if ".." in re.split(r"[/\\]", name):
        problems.append(("archive_traversal", "climbs out of the archive root with '..'"))
    if _CONTROL.search(name):
        problems.append(("archive_name", "name contains control characters"))
    return problems


def _parts(path: str) -> list[str]:
    return re.split(r"[/\\]", path)


def escapes(base: list[str], target: str, links: dict[str, str]) -> bool:
    """Whether a link at directory `base` to `target` leads out of the root."""
    return _is_absolute(target) or resolve([*base, *_parts(target)], links) is None


def _is_absolute(path: str) -> bool:
    return path.startswith(("/", "\\")) or bool(_DRIVE.match(path))


def resolve(parts: list[str], links: dict[str, str]) -> list[str] | None:
    """`parts`, resolved inside the root through the archive's own symlinks; None when it leaves the
    root (or takes more than 256 link hops, as a loop would)."""
    hops = 0

    def walk(parts: list[str]) -> list[str] | None:
        nonlocal hops
        out: list[str] = []
        for part in parts:
            if part in ("", "."):
                continue
            if part == "..":
                if not out:
                    return None
                out.pop()
                continue
            out.append(part)
            target = links.get("/".join(out))
            if target is not None:
                hops += 1
                if hops > 256 or _is_absolute(target):
                    return None
                resolved = walk([*out[:-1], *_parts(target)])
                if resolved is None:
                    return None
                out = resolved
        return out

    return walk(parts)
