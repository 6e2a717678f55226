"""An org's audit log in the portal: filters (action prefix, who, dates), pages, and the filtered
rows as a streamed CSV that spreadsheets open without running anything in it."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.utils import timezone

from registry import selectors
from registry.actors import Actor
from registry.models import AuditEvent, Organization
from registry.permissions import Capability
from registry.portal.orgadmin import org_context, org_page

AUDIT_PAGE = 50
CSV_HEADER = ["time (UTC)", "actor", "action", "target type", "target id", "details"]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class AuditFilters:
    action: str
    by: str
    since: str
    until: str
    problems: list[str]

    @classmethod
    def parse(cls, request: HttpRequest) -> AuditFilters:
        raw = {name: request.GET.get(name, "").strip()[:100] for name in ("action", "by", "since", "until")}
        problems = []
        for name in ("since", "until"):
            if raw[name]:
                try:
                    date.fromisoformat(raw[name])
                except ValueError:
                    problems.append(f"{name}: '{raw[name]}' is not a date like 2026-01-31")
        return cls(problems=problems, **raw)

    @staticmethod
    def _day(value: str) -> datetime | None:
        try:
            return datetime.combine(date.fromisoformat(value), time.min, tzinfo=UTC) if value else None
        except ValueError:
            return None

    def rows(self, actor: Actor, organization: Organization) -> QuerySet[AuditEvent]:
        until = self._day(self.until)
        return selectors.audit_list(
            actor=actor,
            organization=organization,
            action=self.action or None,
            by=self.by or None,
            since=self._day(self.since),
            until=until + timedelta(days=1) if until else None,  # the whole "until" day is included
        )


@org_page(Capability.AUDIT)
def org_audit(request: HttpRequest, organization: Organization, actor: Actor) -> HttpResponse:
    filters = AuditFilters.parse(request)
    page = Paginator(filters.rows(actor, organization), AUDIT_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = org_context(actor, organization, "audit", page=page, filters=filters, query=query.urlencode())
    return render(request, "registry/org_audit.html", context, status=400 if filters.problems else 200)


def csv_cell(value: object) -> str:
    """A cell a spreadsheet shows as text: one that would start a formula gets a leading quote."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_lines(rows: QuerySet[AuditEvent]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_HEADER)
    for event in rows.iterator(chunk_size=500):
        cells = [
            event.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            event.actor_label,
            event.action,
            event.target_type,
            event.target_id,
            json.dumps(event.data, sort_keys=True, ensure_ascii=False) if event.data else "",
        ]
        yield writer.writerow([csv_cell(c) for c in cells])


@org_page(Capability.AUDIT)
def org_audit_csv(request: HttpRequest, organization: Organization, actor: Actor) -> HttpResponseBase:
    filters = AuditFilters.parse(request)
    if filters.problems:
        return HttpResponse("; ".join(filters.problems), status=400, content_type="text/plain; charset=utf-8")
    response = StreamingHttpResponse(_csv_lines(filters.rows(actor, organization)), content_type="text/csv")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="{organization.slug}-audit-{stamp}.csv"'
    return response
