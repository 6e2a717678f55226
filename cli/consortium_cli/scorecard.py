"""What `show` prints of a checkpoint's or adapter's adoption scorecard (the API's `scorecard`):
one line per factor with its status and headline, what is missing, and the scores a contamination
declaration flags. Text the registry stores is never read as rich markup."""

from __future__ import annotations

from typing import Any

from rich.console import Console


def scorecard_lines(card: dict[str, Any]) -> list[str]:
    lines = ["scorecard (from what you can see; missing evidence is shown as missing):"]
    for key, factor in card.get("factors", {}).items():
        lines.append(f"  {key:<12} {factor['status']:<8} {factor['headline']}")
        if factor.get("missing") and key != "readiness":
            lines.append(f"  {'':<12} {'':<8} missing: {'; '.join(factor['missing'])}")
    for flag in card.get("contamination", []):
        suite, by = flag["suite"], flag["declared_by"]
        lines.append(
            f"  contamination: {suite['name']}@{suite['number']} {flag['task']} ({flag['metric']}): "
            f"{by['name']}@{by['number']} declares {flag['overlap']}"
        )
    return lines


def print_scorecard(console: Console, version: dict[str, Any]) -> None:
    card = version.get("scorecard")
    if not card:
        return
    for line in scorecard_lines(card):
        console.print(line, markup=False, highlight=False)
