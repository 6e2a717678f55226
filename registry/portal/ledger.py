"""The compute ledger page: monthly spent vs avoided GPU-hours and per-org totals as server-drawn
SVG, the numbers in tables, and the same ledger as CSV (the API's /ledger.csv, same filters)."""

from __future__ import annotations

import re
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.safestring import mark_safe

from jobs.ledger.ledger import Row, ledger
from registry import selectors
from registry.actors import Actor
from registry.portal.ledger_plots import Group, bar_chart

MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
SERIES = ("spent", "avoided")


def _groups(rows: list[Row], label: str) -> list[Group]:
    return [Group(getattr(row, label) or "", (row.spent.gpu_hours, row.avoided.gpu_hours)) for row in rows]


@login_required
def ledger_page(request: HttpRequest) -> HttpResponse:
    """Compute spent and avoided, from what the signed-in member can see; filters org, since, until."""
    wanted = {name: request.GET.get(name, "").strip()[:64] for name in ("org", "since", "until")}
    problems = [
        f"{name}: '{wanted[name]}' is not a month like 2026-01"
        for name in ("since", "until")
        if wanted[name] and not MONTH.fullmatch(wanted[name])
    ]
    kept = {k: v for k, v in wanted.items() if v and not (k != "org" and not MONTH.fullmatch(v))}
    actor = Actor.of(request)
    found = ledger(actor, organization=kept.get("org"), since=kept.get("since"), until=kept.get("until"))
    scope = f" of {kept['org']}" if "org" in kept else " across the consortium"
    monthly = bar_chart(
        key="ledger-monthly",
        title=f"GPU-hours spent and avoided per month{scope}",
        description="Grouped bars per month: GPU-hours spent on runs, beside GPU-hours avoided by building "
        "on other members' runs. A question mark is a month whose figures are all unknown.",
        series=SERIES,
        groups=_groups(found.by_month, "month"),
        unit="GPU-hours",
    )
    per_org = bar_chart(
        key="ledger-orgs",
        title="GPU-hours spent and avoided per organization",
        description="Grouped bars per organization: total GPU-hours spent, beside total GPU-hours avoided.",
        series=SERIES,
        groups=_groups(found.by_organization, "organization"),
        unit="GPU-hours",
    )
    context = {
        "ledger": found,
        "monthly_svg": mark_safe(monthly),  # noqa: S308 -- every text is escaped by bar_chart
        "orgs_svg": mark_safe(per_org),  # noqa: S308 -- every text is escaped by bar_chart
        "orgs": list(selectors.organization_list(actor=actor).values_list("slug", flat=True)),
        "wanted": wanted,
        "problems": problems,
        "csv_url": "/api/v1/ledger.csv" + (f"?{urlencode(kept)}" if kept else ""),
    }
    return render(request, "registry/ledger.html", context, status=400 if problems else 200)
