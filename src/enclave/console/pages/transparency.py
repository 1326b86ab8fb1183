"""Transparency reports (issue 10; docs/transparency.md): the published reports, newest
first, with links to their public pages; a form to publish one for a period (admin,
confirmed: a published report is never changed); a preview of a period's report that
publishes nothing.

Computing and publishing go through ``ReportService`` (console/report_views.py), the
service behind `enclave report --publish`: admin only, recorded as ``report.published``
with the document's digest. Every operator role may read the list and preview a period,
as every role may run `enclave report` without ``--publish``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from enclave.console.framework import Posted, Who, console, extra, redirect, render
from enclave.console.report_views import ReportsConsole, preview_body
from enclave.console.tables import Column, paginate
from enclave.console.transparency import PREFIX as PUBLIC
from enclave.errors import NotFound
from enclave.registry import Role
from enclave.reports import Published, document, encode
from enclave.reports.charts import charts

router = APIRouter()

COLUMNS: tuple[Column[Published], ...] = (
    Column("period", "Period", lambda p: (p.period_from, p.period_to)),
    Column("created", "Published", lambda p: p.created_at),
    Column("by", "By"),
    Column("checkpoint", "Checkpoint size", lambda p: p.checkpoint_size or 0),
    Column("digest", "Digest"),
    Column("links", "Public page"),
)


def reports_console(request: Request) -> ReportsConsole:
    return extra(request, "reports", ReportsConsole, "the transparency reports")


@router.get("/transparency", name="transparency")
def transparency(request: Request, who: Who) -> HTMLResponse:
    c = console(request)
    reports = reports_console(request)
    view = paginate(
        reports.published(),
        request.query_params,
        COLUMNS,
        default_sort="created",
        default_desc=True,
    )
    names = {f"operator:{op.id}": op.name for op in c.registry.list_operators(who.operator)}
    default = reports.default_period()
    return render(
        request,
        "transparency/index.html",
        who,
        view=view,
        names=names,
        public=PUBLIC,
        default_from=default.start.isoformat(),
        default_to=default.end.isoformat(),
        can_publish=Role.ADMIN in who.operator.roles,
    )


@router.post("/transparency/publish", name="transparency_publish")
def publish(request: Request, form: Posted) -> RedirectResponse:
    reports = reports_console(request)
    period = reports.period(
        form.text("from", required=False, limit=40), form.text("to", required=False, limit=40)
    )
    form.require_confirmed()
    reports.publish(form.actor, period)
    return redirect("/transparency", done="report-published")


@router.get("/transparency/preview", name="transparency_preview")
def preview(request: Request, who: Who) -> HTMLResponse:
    reports = reports_console(request)
    params = request.query_params
    period = reports.period(params.get("from", "")[:40], params.get("to", "")[:40])
    doc = document(reports.compute(who.operator, period))
    base = f"/console/transparency/preview/{period.start}/{period.end}"
    body = preview_body(doc, chart_base=f"{base}/charts/", json_href=f"{base}.json")
    return render(
        request,
        "transparency/preview.html",
        who,
        period=period,
        # Rendered by the report's own autoescaped template (enclave/reports/render.py).
        report=Markup(body),
    )


def _preview_doc(request: Request, who: Who, start: str, end: str) -> dict[str, object]:
    reports = reports_console(request)
    return document(reports.compute(who.operator, reports.period(start[:40], end[:40])))


@router.get("/transparency/preview/{start}/{end}.json", name="transparency_preview_json")
def preview_json(request: Request, who: Who, start: str, end: str) -> Response:
    return Response(encode(_preview_doc(request, who, start, end)), media_type="application/json")


@router.get(
    "/transparency/preview/{start}/{end}/charts/{name}.svg", name="transparency_preview_chart"
)
def preview_chart(request: Request, who: Who, start: str, end: str, name: str) -> Response:
    drawn = charts(_preview_doc(request, who, start, end))
    if name not in drawn:
        raise NotFound(f"this preview has no chart {name[:64]!r}")
    return Response(drawn[name][1], media_type="image/svg+xml")


__all__ = ["reports_console", "router"]
