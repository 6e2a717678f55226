"""What the commands print about a version: its checks and their evidence, its lineage, reviews
and publication. `status`, `show`, `wait` and `review show` share it, so a version reads the same
in each. Everything here is plain text: what the registry stores (README, reasons, comments) is
never read as rich markup."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.console import Console

from consortium_cli.client import Api, ApiError

err = Console(stderr=True)

EVIDENCE_ITEMS = 12  # key=value pairs of a step's evidence; --json has all of it
EVIDENCE_DEPTH = 2  # nested keys followed before an object is summarized by its keys
VALUE_CHARS = 80
README_LINES = 12


def emit(args: argparse.Namespace, data: Any, human: str) -> None:
    """JSON on stdout with --json, else the human text."""
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        Console().print(human, markup=False)


def reference(version: dict[str, Any]) -> str:
    return f"{version['artifact']['organization']}/{version['artifact']['slug']}@{version['number']}"


def version_text(version: dict[str, Any], checks: dict[str, Any] | None = None, *, with_checks: bool = False) -> str:
    """A version's reference and state, its checks (`with_checks`) and its publication."""
    lines = [f"{reference(version)}: {version['state']}", checks_text(checks) if with_checks else ""]
    return "\n".join(filter(None, [*lines, publication_text(version)]))


def when(timestamp: str | None) -> str:
    """An API timestamp to the minute, as people read it."""
    return timestamp[:16].replace("T", " ") if timestamp else "-"


def checks_of(api: Api, version: dict[str, Any]) -> dict[str, Any] | None:
    """The version's check pipeline, or None before it is finalized."""
    try:
        return api.get(f"/versions/{version['id']}/checks/")
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise


def step_line(step: dict[str, Any]) -> str:
    progress = step["progress"]
    line = f"  {step['name']:<10} {step['status']:<8}"
    if step["status"] == "running" and progress["total"]:
        line += f" {100 * progress['done'] / progress['total']:5.1f}% of {progress['total']} {progress['unit']}"
    elif step["duration"] is not None:
        line += f" {step['duration']:.1f} s"
    if step["summary"]:
        line += f"  {step['summary']}"
    if step["status"] in ("queued", "errored") and step["last_error"]:
        line += f"  (last error: {step['last_error'].splitlines()[-1][:200]})"
    return line


def _reason(reason: dict[str, Any]) -> str:
    return f"  {reason['step']}: {reason['path'] + ': ' if reason['path'] else ''}{reason['message']}"


def checks_text(checks: dict[str, Any] | None, *, evidence: bool = False) -> str:
    """Each step's status and summary, every failing reason, and with `evidence` the key facts
    each step recorded for reviewers."""
    if checks is None:
        return "checks: not started (the version is not finalized)"
    lines = [f"checks: {checks['status']}"]
    for step in checks["steps"]:
        lines.append(step_line(step))
        if evidence and step["details"]:
            lines.append(f"    evidence: {'; '.join(evidence_items(step['details']))}")
    if checks["reasons"]:
        lines.append("reasons:")
        lines += [_reason(r) for r in checks["reasons"]]
    return "\n".join(lines)


def _brief(value: Any) -> str:
    if isinstance(value, dict):
        keys = list(value)
        return "{" + ", ".join(map(str, keys[:4])) + (", …" if len(keys) > 4 else "") + "}"
    if isinstance(value, list):
        if all(not isinstance(v, dict | list) for v in value):
            shown = ", ".join(_brief(v) for v in value[:5])
            return f"[{shown}{f', … {len(value)} in all' if len(value) > 5 else ''}]"
        return f"[{len(value)} items]"
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= VALUE_CHARS else text[: VALUE_CHARS - 1] + "…"


def _flatten(value: Any, key: str, depth: int, out: list[str]) -> None:
    if isinstance(value, dict) and value and depth < EVIDENCE_DEPTH:
        for name, item in value.items():
            _flatten(item, f"{key}.{name}" if key else str(name), depth + 1, out)
    else:
        out.append(f"{key}={_brief(value)}")


def evidence_items(details: Any, limit: int = EVIDENCE_ITEMS) -> list[str]:
    """A step's evidence as key=value items: nested keys joined by dots, deeper objects and long
    lists summarized, at most `limit` items."""
    items: list[str] = []
    _flatten(details, "", 0, items)
    if len(items) > limit:
        items = [*items[:limit], f"… {len(items) - limit} more (--json has all)"]
    return items


def lineage_lines(lineage: dict[str, Any]) -> list[str]:
    lines = []
    for edge in lineage["parents"]:
        if edge["version"]:
            target = f"{edge['version']['artifact']}@{edge['version']['number']} ({edge['version']['state']})"
        else:
            hub = edge["hub"]
            target = f"hub:{hub['repo']}@{hub['revision'][:12]} ({hub['license']})"
        lines.append(f"{edge['relation']} {target}")
    return lines


def readme_excerpt(readme: str, lines: int = README_LINES) -> list[str]:
    text = readme.strip().splitlines()
    if not text:
        return ["(no README)"]
    more = [f"… {len(text) - lines} more lines (--json has all)"] if len(text) > lines else []
    return [*text[:lines], *more]


def publication_text(version: dict[str, Any]) -> str | None:
    """Where the version stands on its way to the Hub: status, repo, commit and, while it waits,
    its release date. None before it is approved for the Hub."""
    publication = version.get("publication")
    if not publication:
        return None
    status = publication["status"]
    attempts = f", {publication['attempts']} attempt(s)" if publication["attempts"] and status != "published" else ""
    lines = [f"publication: {status}{attempts}", f"  repo   {publication['repo_url']} (tag {publication['tag']})"]
    if publication["commit_url"]:
        lines.append(f"  commit {publication['commit_url']}")
    if status == "published":
        lines.append(f"  published {when(publication['published_at'])}")
    elif version.get("release_at"):
        lines.append(f"  embargoed until {when(version['release_at'])}")
    if status == "failed" and publication["last_error"]:
        lines.append(f"  last error: {publication['last_error'].strip().splitlines()[-1][:300]}")
    return "\n".join(lines)


def reviews_text(reviews: dict[str, Any]) -> str:
    lines = [f"reviews: {reviews['approvals']}/{reviews['approvals_required']} approvals"]
    for review in reviews["reviews"]:
        stale = review["decision"] == "approve" and not review["current"]
        comment = f": {review['comment']}" if review["comment"] else ""
        lines.append(
            f"  {when(review['created_at'])} {review['reviewer']} ({review['organization']}) "
            f"{review['decision']}{' (stale: the version changed since)' if stale else ''}{comment}"
        )
    if not reviews["reviews"]:
        lines.append("  none yet")
    return "\n".join(lines)
