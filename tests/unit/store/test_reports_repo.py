"""The reports' store: the period is [from, to), and event figures stop at the signed
checkpoint (an event the log has not sequenced is not counted)."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import select

from enclave.auditlog import AuditLog, ensure_signing_key, load_signer
from enclave.config import Settings
from enclave.events import Event
from enclave.registry import Operator, RegistryService, RoleDenied
from enclave.reports import Period, ReportService, UnknownReport, digest, document
from enclave.store import Database
from enclave.store.auditlog_repo import SqlAuditLog
from enclave.store.reports_repo import NO_CATEGORY, UNAUTHENTICATED, SqlReportStore
from enclave.store.tables import transparency_reports

PERIOD = Period(date(2026, 10, 1), date(2026, 10, 8))
AS_OF = datetime(2026, 10, 9, tzinfo=UTC)


def request(db: Database, at: datetime, **data: Any) -> None:
    record = {"tier": "partner", "purpose": "vuln-detection", "org": "org_1", "decision": None}
    record.update(data)
    with db.unit() as unit:
        unit.append(Event("gateway.request", "key:k", "req", at, record))


def test_period_bounds_and_the_checkpoint_fence(db: Database, settings: Settings) -> None:
    store = SqlReportStore(db.engine)
    request(db, datetime(2026, 9, 30, 23, 59, 59, tzinfo=UTC))  # before: out
    request(db, datetime(2026, 10, 1, tzinfo=UTC))  # the first instant: in
    request(db, datetime(2026, 10, 7, 23, 59, 59, tzinfo=UTC), tier=None, purpose=None)
    refused = {"allowed": False, "advice": "block"}
    request(db, datetime(2026, 10, 3, tzinfo=UTC), decision=refused,
            safeguards={"category": "malware", "score": 0.9})  # fmt: skip
    request(db, datetime(2026, 10, 4, tzinfo=UTC), decision=refused,
            safeguards={"category": "none", "score": 0.1})  # fmt: skip
    request(db, datetime(2026, 10, 8, tzinfo=UTC))  # `to` itself: out

    # No checkpoint yet: no event figure is anchored, so none is counted.
    bare = store.gather(PERIOD, as_of=AS_OF)
    assert bare.checkpoint is None and bare.requests == {} and bare.daily == {}

    ensure_signing_key(settings.log_key_path, settings.log_origin)
    log = AuditLog(store=SqlAuditLog(db.engine), signer=load_signer(settings.log_key_path))
    log.integrate()
    request(db, datetime(2026, 10, 2, tzinfo=UTC))  # after the checkpoint: not counted

    got = store.gather(PERIOD, as_of=AS_OF)
    assert got.checkpoint is not None and got.checkpoint.tree_size == 6
    assert got.checkpoint.note.startswith(settings.log_origin + "\n6\n")
    assert got.requests == {("partner", "vuln-detection"): 3, (UNAUTHENTICATED, "(none)"): 1}
    assert got.blocked == {"malware": 1, NO_CATEGORY: 1}
    assert got.daily == {
        date(2026, 10, 1): (1, 0),
        date(2026, 10, 3): (1, 1),
        date(2026, 10, 4): (1, 1),
        date(2026, 10, 7): (1, 0),
    }
    assert got.named == []  # nobody opted in


def test_publish_is_admin_only_recorded_and_read_back_exactly(
    db: Database, registry: RegistryService, admin: Operator
) -> None:
    service = ReportService(store=SqlReportStore(db.engine))
    reviewer = registry.create_operator(admin, name="rev", roles=["reviewer"]).operator
    report = service.compute(reviewer, PERIOD, table=None)  # any operator role computes
    with pytest.raises(RoleDenied, match="needs role admin"):
        service.publish(reviewer, report)
    assert service.published() == []

    first = service.publish(admin, report)
    second = service.publish(admin, report)
    assert [p.id for p in service.published()] == [second.id, first.id]  # newest first
    stored = service.get(first.id)
    assert stored.body == document(report) and stored.digest == digest(stored.body)
    assert stored.created_by == f"operator:{admin.id}" and stored.checkpoint_size is None
    with db.engine.connect() as conn:
        text = conn.execute(
            select(transparency_reports.c.body).where(transparency_reports.c.id == first.id)
        ).scalar_one()
    assert "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest() == first.digest
    events = registry.list_events(admin, kind="report.published")
    assert [(e.event.subject, e.event.data["digest"]) for e in events] == [
        (first.id, first.digest),
        (second.id, second.digest),
    ]
    with pytest.raises(UnknownReport):
        service.get("rep_0000000000000000")
