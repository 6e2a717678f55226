"""`consortium ledger` and `consortium acknowledge`: the compute ledger (GPU-hours and FLOPs spent
and avoided, per org and month, from what your token can see), and stating that your org will not
re-run another member's run, so its compute counts as avoided by your org."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from consortium_cli import refs
from consortium_cli.client import Api
from consortium_cli.display import emit


def register(sub: argparse._SubParsersAction) -> None:
    ledger = sub.add_parser("ledger", help="compute spent and avoided per org and month")
    ledger.add_argument("--csv", action="store_true", help="the ledger's entries as CSV on stdout")
    ledger.add_argument("--org", help="one org's slug")
    ledger.add_argument("--since", help="first month, YYYY-MM")
    ledger.add_argument("--until", help="last month, YYYY-MM")
    ack = sub.add_parser("acknowledge", help="your org will not re-run another member's run")
    ack.add_argument("source", help="ORG/ARTIFACT@NUMBER (or a version id): the run not re-run")
    ack.add_argument("--org", required=True, help="your org (you need push in it)")
    ack.add_argument("--via", help="your own version the match was found for (ORG/ARTIFACT@NUMBER or an id)")
    ack.add_argument("--note", default="", help="why, in a sentence")


def figure(value: float | None, missing: int, unit: str) -> str:
    """A total with its unknowns said, never a 0 for 'unknown'."""
    text = "unknown" if value is None else f"{value:,.6g}" if unit == "h" else f"{value:.3g}"
    return text + (f" ({missing} unknown)" if missing and value is not None else "")


def _tally(tally: dict[str, Any]) -> tuple[str, str]:
    return figure(tally["gpu_hours"], tally["gpu_hours_missing"], "h"), figure(
        tally["flops"], tally["flops_missing"], "flops"
    )


def cmd_ledger(args: argparse.Namespace, api: Api) -> int:
    params = {"org": args.org, "since": args.since, "until": args.until}
    if args.csv:
        sys.stdout.write(api.text("/ledger.csv", **params))
        return 0
    found = api.get("/ledger/", **params)
    if args.json:
        print(json.dumps(found, indent=2))
        return 0
    table = Table(
        "org", "month", "GPU-h spent", "FLOPs spent", "GPU-h avoided", "FLOPs avoided", title="Compute ledger"
    )
    for row in [*found["by_organization_month"], {**found["totals"], "organization": "all", "month": "all"}]:
        table.add_row(escape(row["organization"]), row["month"], *_tally(row["spent"]), *_tally(row["avoided"]))
    console = Console()
    console.print(table)
    totals = found["totals"]
    console.print(
        f"{totals['spent']['count']} run(s) spent, {totals['avoided']['count']} run(s) avoided, "
        "counted from the versions you can see",
        markup=False,
    )
    return 0


def cmd_acknowledge(args: argparse.Namespace, api: Api) -> int:
    source = refs.pinned_version(api, args.source, "acknowledge")
    body: dict[str, Any] = {"organization": args.org, "source": source["id"], "note": args.note}
    if args.via:
        body["via"] = refs.pinned_version(api, args.via, "--via")["id"]
    found = api.post("/acknowledgements/", body)
    name = found["source"]["artifact"] + "@" + found["source"]["number"]
    emit(args, found, f"{found['organization']} will not re-run {name}: its compute counts as avoided by {args.org}")
    return 0
