"""Transparency reports: compute one for a period, publish it (an event records who
published which figures), read what was published (public)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from enclave.clock import Clock, utcnow
from enclave.events import Event
from enclave.policy.interface import SubtractionTable
from enclave.registry import Operator
from enclave.registry.service import ADMIN_ROLES, READ_ROLES, require
from enclave.reports import charts, compute, jsondoc, render
from enclave.reports.interface import (
    Period,
    Published,
    Report,
    ReportId,
    ReportStore,
    UnknownReport,
)


class ReportService:
    def __init__(self, *, store: ReportStore, clock: Clock = utcnow) -> None:
        self._store = store
        self._clock = clock

    def compute(self, actor: Operator, period: Period, *, table: SubtractionTable | None) -> Report:
        """The public report for ``period`` (suppressed, opted-in organisations named);
        ``table`` is the policy's subtraction table in force (None leaves it out)."""
        require(actor, READ_ROLES, "computing a transparency report")
        return compute.build(self._store.gather(period, as_of=self._clock()), period, table=table)

    def publish(self, actor: Operator, report: Report) -> Published:
        """Store the report's document for the public pages; recorded as an event with
        its digest, so the audit log commits to exactly what was published."""
        require(actor, ADMIN_ROLES, "publishing a transparency report")
        doc = jsondoc.document(report)
        published = Published(
            id=ReportId(f"rep_{secrets.token_hex(8)}"),
            period_from=report.period.start,
            period_to=report.period.end,
            created_at=self._clock(),
            created_by=f"operator:{actor.id}",
            checkpoint_size=None if report.checkpoint is None else report.checkpoint.tree_size,
            digest=jsondoc.digest(doc),
            body=doc,
        )
        with self._store.unit() as unit:
            unit.insert_report(published)
            unit.append(
                Event(
                    kind="report.published",
                    actor=published.created_by,
                    subject=published.id,
                    at=published.created_at,
                    data={
                        "from": published.period_from.isoformat(),
                        "to": published.period_to.isoformat(),
                        "digest": published.digest,
                        "checkpoint_size": published.checkpoint_size,
                    },
                )
            )
        return published

    # Public reads: the published reports are meant for everyone (DESIGN.md principle 5).
    def published(self) -> list[Published]:
        return self._store.list_reports()

    def get(self, report_id: str) -> Published:
        found = self._store.get_report(ReportId(report_id))
        if found is None:
            raise UnknownReport(f"no published report {report_id!r}")
        return found


def artefacts(doc: Mapping[str, Any], *, chart_base: str = "") -> dict[str, str]:
    """File name -> text for everything `enclave report --out` writes."""
    from_doc = dict(doc)
    files = {
        # Exactly the canonical bytes, so `sha256sum report.json` is the published digest.
        "report.json": jsondoc.encode(from_doc).decode("utf-8"),
        "report.md": render.markdown(from_doc, chart_base=chart_base),
        "report.html": render.html(from_doc, chart_base=chart_base),
    }
    for stem, (_, svg) in charts.charts(from_doc).items():
        files[f"{stem}.svg"] = svg
    return files


__all__ = ["ReportService", "artefacts"]
