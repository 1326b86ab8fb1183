"""What the console's transparency page uses: the period a form asks for, and a report
computed and published through ``ReportService``, the service behind `enclave report`
(same role checks, same ``report.published`` event), with the subtraction table of the
gateway's own policy engine (what `enclave report` computes from ``policy_dir``).

Framework-free: ``console/pages/transparency.py`` renders these values.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from enclave.policy import PolicyEngine
from enclave.registry import Operator
from enclave.registry.service import ADMIN_ROLES, require
from enclave.reports import (
    Period,
    Published,
    Report,
    ReportInputError,
    ReportService,
)
from enclave.reports.render import html


class ReportsConsole:
    """The report service, the policy engine (reloaded on SIGHUP, so a report states the
    policies in force when it is made) and the console's clock ("today")."""

    def __init__(
        self, *, service: ReportService, engine: PolicyEngine, clock: Callable[[], datetime]
    ) -> None:
        self.service = service
        self._engine = engine
        self._clock = clock

    def today(self) -> date:
        return self._clock().date()

    def default_period(self) -> Period:
        """The last 90 whole days before today (UTC), as `enclave report` defaults."""
        return Period.parse(None, None, today=self.today())

    def period(self, start: str | None, end: str | None) -> Period:
        """From the form's ``YYYY-MM-DD`` fields (empty: the CLI's default). A period that
        ends after today is refused: it would publish a day not yet over, and a published
        report never changes (ReportInputError: a 400 page, nothing computed)."""
        today = self.today()
        period = Period.parse(start or None, end or None, today=today)
        if period.end > today:
            raise ReportInputError(
                f"the period ends after today ({period.end} > {today}): "
                "a report covers whole days that are over",
                hint=f"'to' is the first day not covered; at most {today}",
            )
        return period

    def compute(self, actor: Operator, period: Period) -> Report:
        table = self._engine.subtraction_table(actions=["invoke"])
        return self.service.compute(actor, period, table=table)

    def publish(self, actor: Operator, period: Period) -> Published:
        # Refused before anything is computed, as `enclave report --publish` does; the
        # service checks again when it stores the report.
        require(actor, ADMIN_ROLES, "publishing a transparency report")
        return self.service.publish(actor, self.compute(actor, period))

    def published(self) -> list[Published]:
        return self.service.published()


def preview_body(doc: dict[str, Any], *, chart_base: str, json_href: str) -> str:
    """The report's HTML (enclave.reports.render, autoescaped) without its document
    shell, to show inside a console page: the body only, its <main> and <header> as
    <div>s (a page has one <main>). The standalone page's inline <style> is left out;
    the console's Content-Security-Policy would refuse it."""
    page = html(doc, chart_base=chart_base, json_href=json_href)
    start, end = page.find("<body>"), page.rfind("</body>")
    if start < 0 or end < start:
        raise RuntimeError("the report template has no <body>")
    body = page[start + len("<body>") : end]
    # The console styles <header> as its top bar: the report's heading block becomes a div.
    for tag, div in (("main", '<div class="report">'), ("header", '<div class="report-head">')):
        body = body.replace(f"<{tag}>", div, 1).replace(f"</{tag}>", "</div>", 1)
    return body


__all__ = ["ReportsConsole", "preview_body"]
