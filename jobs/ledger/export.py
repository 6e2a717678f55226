"""The ledger as CSV: one line per run (spent) and per credit (avoided); a missing figure is an
empty cell, never 0."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from jobs.ledger.compute import Compute
from jobs.ledger.ledger import Ledger
from registry.portal.orgaudit import csv_cell

HEADER = ["entry", "organization", "month", "run", "kind", "gpu_hours", "flops", "flops_estimated", "credited_as"]


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:g}" if abs(value) < 1e15 else f"{value:.6e}"


def _line(entry: str, org: str, month: str, name: str, kind: str, c: Compute, ways: tuple[str, ...]) -> list[str]:
    estimated = "yes" if c.flops is not None and c.flops_estimated else ""
    return [entry, org, month, name, kind, _number(c.gpu_hours), _number(c.flops), estimated, " ".join(ways)]


def csv_rows(ledger: Ledger) -> Iterator[list[str]]:
    yield HEADER
    for run in ledger.runs:
        yield _line("spent", run.organization, run.month, run.name, run.kind, run.compute, ())
    for credit in ledger.credits:
        source = credit.source
        yield _line("avoided", credit.organization, credit.month, source.name, source.kind, source.compute, credit.ways)


def csv_text(ledger: Ledger) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    for row in csv_rows(ledger):
        writer.writerow([csv_cell(cell) for cell in row])
    return out.getvalue()
