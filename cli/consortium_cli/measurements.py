"""What `show` prints of a version's measurements: each one's status (a skipped one says why), the
eval scores, the tooling compatibility matrix, fine-tunability and cost. They inform and never
gate. Text the registry stores is never read as rich markup."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Column, Table
from rich.text import Text

WAITING = {"queued": "queued (runs once the checks pass)", "running": "running"}


def size(n: float | None) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if abs(value) < 1000:
            return f"{value:.0f} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


def score(value: float | None, stderr: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.4f} ± {stderr:.4f}" if stderr is not None else f"{value:.4f}"


def _row(*cells: Any) -> list[Text]:
    return [Text("-" if cell is None else str(cell)) for cell in cells]


def status_lines(measurements: dict[str, Any]) -> list[str]:
    lines = ["measurements (inform, never gate):"]
    for name, m in measurements.items():
        summary = m["summary"] or WAITING.get(m["status"], "")
        lines.append(f"  {name:<13} {m['status']:<8} {summary}".rstrip())
    return lines


def evals_table(evals: list[dict[str, Any]]) -> Table:
    table = Table(
        "suite",
        "task",
        "metric",
        Column("value ± stderr", justify="right"),
        Column("samples", justify="right"),
        title="evals",
        title_justify="left",
    )
    for e in evals:
        metric = e["metric"] if e["filter"] in ("", "none") else f"{e['metric']} ({e['filter']})"
        suite = f"{e['suite']['name']}@{e['suite']['number']}"
        table.add_row(*_row(suite, e["task"], metric, score(e["value"], e["stderr"]), e["samples"]))
    return table


def compatibility_table(details: dict[str, Any]) -> Table:
    table = Table("check", "result", "detail", title="compatibility", title_justify="left")
    for c in details.get("checks", []):
        result = {True: "pass", False: "FAIL", None: "n.a."}.get(c.get("passed"), "?")
        table.add_row(*_row(c.get("check"), result, c.get("detail") or ""))
    libraries = details.get("libraries") or {}
    if libraries:
        table.caption = "libraries: " + ", ".join(f"{k} {v}" for k, v in sorted(libraries.items()))
        table.caption_justify = "left"
    return table


def finetune_line(d: dict[str, Any]) -> str:
    before, after, drop = d.get("heldout_loss_before"), d.get("heldout_loss_after"), d.get("relative_heldout_drop")
    loss = f"held-out loss {before:.3f} → " if isinstance(before, int | float) else "held-out loss - → "
    loss += f"{after:.3f}" if isinstance(after, int | float) else "n/a"
    change = f" ({-drop:+.1%})" if isinstance(drop, int | float) else ""
    per_step = d.get("seconds_per_step")
    speed = f", {per_step:.2f} s/step" if isinstance(per_step, int | float) else ""
    stable = "stable" if d.get("stable") else "UNSTABLE"
    return f"fine-tunability: {loss}{change}, {stable}{speed} ({d.get('steps', '?')} LoRA steps)"


def cost_line(d: dict[str, Any]) -> str:
    parameters = d.get("parameters")
    parts = [f"{parameters:,} parameters" if isinstance(parameters, int) else "parameters unknown"]
    if isinstance(d.get("adapter_parameters"), int):
        parts[0] += f" ({d['adapter_parameters']:,} in the adapter)"
    memory = d.get("memory_bytes") or {}
    parts.append(f"memory bf16 {size(memory.get('bf16'))}, int8 {size(memory.get('int8'))}")
    if isinstance(d.get("tokens_per_second"), int | float):
        parts.append(f"{d['tokens_per_second']:.1f} tokens/s")
    if isinstance(d.get("seconds_to_first_token"), int | float):
        parts.append(f"first token {d['seconds_to_first_token']:.3f} s")
    label = (d.get("hardware") or {}).get("label")
    if label:
        parts.append(f"on {label}")
    return "cost: " + "; ".join(parts)


def _taken(measurements: dict[str, Any], name: str) -> dict[str, Any] | None:
    """The figures of a measurement that ran to the end (passed, or failed with its evidence)."""
    m = measurements.get(name)
    if m is None or m["status"] not in ("passed", "failed") or not m["details"]:
        return None
    return m["details"]


def print_measurements(console: Console, version: dict[str, Any]) -> None:
    measurements: dict[str, Any] = version.get("measurements") or {}
    evals: list[dict[str, Any]] = version.get("evals") or []
    if not measurements and not evals:
        return
    for line in status_lines(measurements):
        console.print(line, markup=False, highlight=False)
    if evals:
        console.print(evals_table(evals))
    if (details := _taken(measurements, "compatibility")) is not None:
        console.print(compatibility_table(details))
    if (details := _taken(measurements, "finetune")) is not None:
        console.print(finetune_line(details), markup=False, highlight=False)
    if (details := _taken(measurements, "cost")) is not None:
        console.print(cost_line(details), markup=False, highlight=False)
