"""The report as a JSON document (schema ``enclave.transparency-report/1``, described in
docs/transparency.md). It is the published form: the Markdown, HTML and charts are all
rendered from this document, so a stored report renders exactly as it was published,
and its digest covers everything a reader sees."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from enclave.events import canonical_json
from enclave.ledger.models import format_credits
from enclave.reports.interface import SCHEMA, Breakdown, Cell, Report, ReportInputError


def _cell(c: Cell) -> dict[str, Any]:
    return {"value": c.value, "shown": c.shown}


def _breakdown(b: Breakdown) -> dict[str, Any]:
    return {
        "columns": list(b.columns),
        "rows": [{"keys": list(r.keys), **_cell(r.cell)} for r in b.rows],
        "total": _cell(b.total),
    }


def _stamp(value: Any) -> str:
    return str(value.isoformat().replace("+00:00", "Z"))


def document(report: Report) -> dict[str, Any]:
    cp = report.checkpoint
    sub = report.subtraction
    return {
        "schema": SCHEMA,
        "period": {
            "from": report.period.start.isoformat(),
            "to": report.period.end.isoformat(),
            "days": report.period.days,
        },
        "generated_at": _stamp(report.generated_at),
        "suppression": {"threshold": report.threshold},
        "checkpoint": None
        if cp is None
        else {
            "tree_size": cp.tree_size,
            "root_hash": base64.b64encode(cp.root_hash).decode("ascii"),
            "created_at": _stamp(cp.created_at),
            "note": cp.note,
        },
        "access": {
            "organisations": _cell(report.organisations),
            "by_kind": _breakdown(report.by_kind),
            "by_sector": _breakdown(report.by_sector),
            "by_tier": _breakdown(report.by_tier),
            "applications": _breakdown(report.applications),
        },
        "requests": {
            "by_tier_purpose": _breakdown(report.requests),
            "daily": [
                {"date": day.isoformat(), "requests": n, "refused": refused}
                for day, n, refused in report.daily
            ],
        },
        "blocked": _breakdown(report.blocked),
        "alerts": {
            "by_category_action": _breakdown(report.alerts),
            "by_status": _breakdown(report.alert_status),
        },
        "sessions": {
            "opened": _cell(report.sessions.opened),
            "held": _cell(report.sessions.held),
            "terminated": _cell(report.sessions.terminated),
            "held_calls": _breakdown(report.sessions.held_calls),
        },
        "findings": _breakdown(report.findings),
        "disclosure": {
            "fixed": report.disclosure.fixed,
            "median_days_to_fix": report.disclosure.median_days_to_fix,
            "deadlines_met": report.disclosure.deadlines_met,
            "deadlines_missed": report.disclosure.deadlines_missed,
        },
        "credits": [
            {
                "kind": r.kind,
                "organisations": _cell(r.organisations),
                "granted": r.granted,
                "spent": r.spent,
            }
            for r in report.credits
        ],
        "subtraction": None
        if sub is None
        else {
            "policy_digest": sub.policy_digest,
            "thresholds": list(sub.thresholds),
            "lines": [
                {
                    "tier": line.tier,
                    "purposes": list(line.purposes),
                    "categories": list(line.categories),
                    "outcome": line.outcome,
                }
                for line in sub.lines
            ],
        },
        "organisations": [
            {
                "name": o.name,
                "kind": o.kind,
                "tier": o.tier,
                "requests": o.requests,
                "credits_spent": format_credits(o.credits_spent),
            }
            for o in report.named
        ],
    }


def encode(doc: dict[str, Any]) -> bytes:
    """Canonical JSON (sorted keys, UTF-8): what is stored and what the digest covers."""
    return canonical_json(doc)


def digest(doc: dict[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(encode(doc)).hexdigest()


def check(doc: Any) -> dict[str, Any]:
    """A stored or supplied document, refused unless it claims this schema."""
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise ReportInputError(f"not a transparency report document ({SCHEMA})")
    return doc


__all__ = ["check", "digest", "document", "encode"]
