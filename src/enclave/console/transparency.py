"""The public transparency pages (no sign-in: DESIGN.md principle 5).

    GET /transparency                         published reports, newest first; the latest shown
    GET /transparency/{id}                    one report (HTML)
    GET /transparency/{id}.json               its JSON document, byte for byte as published
    GET /transparency/{id}/charts/{name}.svg  one of its charts

Everything is rendered from the stored document (enclave.reports), so a page shows what
was published and nothing else. Pages carry a Content-Security-Policy that allows no
script and no source but this origin's images; the SVGs a stricter one (sandboxed, no
source at all), since a browser opening an SVG directly would run script in it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from html import escape

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from enclave.errors import EnclaveError
from enclave.reports import Published, ReportService, UnknownReport, encode
from enclave.reports.charts import charts
from enclave.reports.render import html

PREFIX = "/transparency"
_ID = re.compile(r"rep_[0-9a-f]{16}")
_CHART = re.compile(r"[a-z0-9-]{1,64}")
_COMMON = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "public, max-age=300",
}
PAGE_CSP = (
    "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"


def _page(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        body, status_code=status, headers={**_COMMON, "Content-Security-Policy": PAGE_CSP}
    )


def _message(title: str, text: str, status: int) -> HTMLResponse:
    body = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title></head><body><h1>{escape(title)}</h1>"
        f'<p>{escape(text)}</p><p><a href="{PREFIX}">All transparency reports</a></p>'
        "</body></html>\n"
    )
    return _page(body, status)


def _not_found() -> HTMLResponse:
    return _message("Report not found", "There is no published report with that id.", 404)


def _label(p: Published) -> str:
    return f"{p.period_from} to {p.period_to} (published {p.created_at:%Y-%m-%d})"


def _render(report: Published, index: list[Published]) -> HTMLResponse:
    base = f"{PREFIX}/{report.id}"
    return _page(
        html(
            report.body,
            chart_base=f"{base}/charts/",
            json_href=f"{base}.json",
            index=[(f"{PREFIX}/{p.id}", _label(p)) for p in index],
        )
    )


def build_router(service: ReportService) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    def find(report_id: str) -> Published | None:
        if not _ID.fullmatch(report_id):
            return None  # not an id we issue: no lookup
        try:
            return service.get(report_id)
        except UnknownReport:
            return None

    def guarded(render: Callable[[], Response]) -> Response:
        try:
            return render()
        except EnclaveError as exc:
            return _message("Transparency reports unavailable", exc.message, exc.status)

    @router.get(PREFIX)
    def index() -> Response:
        def render() -> Response:
            published = service.published()
            if not published:
                return _message(
                    "Transparency reports", "No transparency report has been published yet.", 200
                )
            return _render(published[0], published)

        return guarded(render)

    @router.get(PREFIX + "/{report_id}.json")
    def as_json(report_id: str) -> Response:
        def render() -> Response:
            found = find(report_id)
            if found is None:
                return _not_found()
            return Response(
                encode(dict(found.body)),
                media_type="application/json",
                headers={**_COMMON, "ETag": f'"{found.digest}"'},
            )

        return guarded(render)

    @router.get(PREFIX + "/{report_id}/charts/{name}.svg")
    def chart(report_id: str, name: str) -> Response:
        def render() -> Response:
            found = find(report_id)
            drawn = charts(found.body) if found is not None and _CHART.fullmatch(name) else {}
            if name not in drawn:
                return _not_found()
            return Response(
                drawn[name][1],
                media_type="image/svg+xml",
                headers={**_COMMON, "Content-Security-Policy": SVG_CSP},
            )

        return guarded(render)

    @router.get(PREFIX + "/{report_id}")
    def one(report_id: str) -> Response:
        def render() -> Response:
            found = find(report_id)
            if found is None:
                return _not_found()
            return _render(found, service.published())

        return guarded(render)

    return router


__all__ = ["PAGE_CSP", "PREFIX", "SVG_CSP", "build_router"]
