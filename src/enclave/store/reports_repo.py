"""SQL implementation of the reports' ReportStore: the period's figures aggregated from
the registry, events, monitor, disclosure and ledger tables, and the published reports.

Event figures (requests, refusals, sessions held and terminated) count only events the
audit log had sequenced into its latest signed checkpoint: the leaves are consecutive in
``seq`` order (docs/audit-log.md), so "in the first N leaves" is "seq <= the seq of leaf
N-1". A reader holding that checkpoint can recount them from the log. Everything is read
in one transaction; on PostgreSQL at REPEATABLE READ, so every query sees one snapshot
(SQLite's read transaction in WAL mode is a snapshot already).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, and_, func, insert, or_, select
from sqlalchemy.exc import OperationalError

from enclave.errors import StoreError
from enclave.events import canonical_json
from enclave.reports.interface import (
    CaseTimes,
    Checkpoint,
    Gathered,
    OrgActivity,
    Period,
    Published,
    ReportId,
)
from enclave.store.engine import read_connection, write_connection
from enclave.store.events_repo import SqlEvents
from enclave.store.tables import (
    applications,
    disclosure_cases,
    disclosure_findings,
    events,
    ledger_accounts,
    ledger_transfers,
    log_checkpoints,
    log_leaves,
    monitor_alerts,
    monitor_held_calls,
    organisations,
    transparency_reports,
)

UNAUTHENTICATED = "(unauthenticated)"
NO_PURPOSE = "(none)"
NO_CATEGORY = "(policy, no risk category)"


def _published(row: Any) -> Published:
    return Published(
        id=ReportId(row.id),
        period_from=row.period_from,
        period_to=row.period_to,
        created_at=row.created_at,
        created_by=row.created_by,
        checkpoint_size=row.checkpoint_size,
        digest=row.digest,
        body=orjson.loads(row.body),
    )


class SqlReportUnit(SqlEvents):
    def __init__(self, conn: Connection) -> None:
        super().__init__(conn)
        self._c = conn

    def insert_report(self, report: Published) -> None:
        self._c.execute(
            insert(transparency_reports).values(
                id=report.id,
                period_from=report.period_from,
                period_to=report.period_to,
                created_at=report.created_at,
                created_by=report.created_by,
                checkpoint_size=report.checkpoint_size,
                digest=report.digest,
                # Canonical JSON, byte for byte what the digest covers.
                body=canonical_json(report.body).decode("utf-8"),
            )
        )


class _Gatherer:
    def __init__(self, conn: Connection, period: Period) -> None:
        self._c = conn
        self._since, self._until = period.since, period.until

    def _within(self, column: Any) -> Any:
        return and_(column >= self._since, column < self._until)

    def checkpoint(self) -> tuple[Checkpoint | None, int]:
        """The latest signed checkpoint and the last event seq it covers (0: none)."""
        row = self._c.execute(
            select(log_checkpoints).order_by(log_checkpoints.c.tree_size.desc()).limit(1)
        ).first()
        if row is None:
            return None, 0
        fence = 0
        if row.tree_size > 0:
            last = self._c.execute(
                select(log_leaves.c.event_seq).where(log_leaves.c.idx == row.tree_size - 1)
            ).scalar()
            fence = int(last or 0)
        found = Checkpoint(int(row.tree_size), bytes(row.root_hash), row.note, row.created_at)
        return found, fence

    def access(self) -> list[tuple[str, str, str, str, bool]]:
        """Organisations whose approval overlapped the period, whatever their status now
        (a suspension or revocation later does not erase the access they had)."""
        o = organisations.c
        rows = self._c.execute(
            select(o.id, o.kind, o.sector, o.tier, o.report_opt_in).where(
                o.approved_at.is_not(None),
                o.approved_at < self._until,
                o.approval_expires_at > self._since,
            )
        )
        return [(r.id, r.kind, r.sector, r.tier, bool(r.report_opt_in)) for r in rows]

    def applications(self) -> dict[tuple[str, str], int]:
        a = applications.c
        rows = self._c.execute(
            select(a.tier, a.status, func.count())
            .where(self._within(a.decided_at), a.status.in_(("approved", "rejected")))
            .group_by(a.tier, a.status)
        )
        return {(r[0], r[1]): int(r[2]) for r in rows}

    def requests(self, fence: int) -> tuple[Counter[Any], Counter[Any], Counter[Any], Counter[str]]:
        """(tier, purpose) counts, per-day (requests, refused), refusals by risk
        category, and requests per organisation id. Streamed: one event at a time."""
        by_tier: Counter[tuple[str, str]] = Counter()
        daily: Counter[tuple[date, int]] = Counter()
        blocked: Counter[str] = Counter()
        per_org: Counter[str] = Counter()
        e = events.c
        query = select(e.at, e.data).where(
            e.kind == "gateway.request", e.seq <= fence, self._within(e.at)
        )
        for at, data in self._c.execute(query.execution_options(yield_per=2000)):
            record = orjson.loads(data)
            by_tier[
                (record.get("tier") or UNAUTHENTICATED, record.get("purpose") or NO_PURPOSE)
            ] += 1
            day = at.date()
            daily[(day, 0)] += 1
            if record.get("org"):
                per_org[record["org"]] += 1
            decision = record.get("decision")
            if decision is not None and not decision.get("allowed", False):
                daily[(day, 1)] += 1
                verdict = record.get("safeguards") or {}
                category = verdict.get("category")
                blocked[category if category and category != "none" else NO_CATEGORY] += 1
        return by_tier, daily, blocked, per_org

    def distinct_subjects(self, kind: str, fence: int) -> int:
        e = events.c
        return int(
            self._c.execute(
                select(func.count(func.distinct(e.subject))).where(
                    e.kind == kind, e.seq <= fence, self._within(e.at)
                )
            ).scalar_one()
        )

    def grouped(self, table: Any, *columns: str) -> dict[Any, int]:
        cols = [table.c[name] for name in columns]
        rows = self._c.execute(
            select(*cols, func.count()).where(self._within(table.c.created_at)).group_by(*cols)
        )
        return {(tuple(r[:-1]) if len(cols) > 1 else r[0]): int(r[-1]) for r in rows}

    def findings(self) -> dict[tuple[str, str], int]:
        f, c = disclosure_findings.c, disclosure_cases.c
        rows = self._c.execute(
            select(f.cvss_severity, c.state, func.count())
            .select_from(disclosure_findings.join(disclosure_cases, f.case_id == c.id))
            .where(self._within(f.created_at))
            .group_by(f.cvss_severity, c.state)
        )
        return {(str(r[0]).lower(), r[1]): int(r[2]) for r in rows}

    def cases(self) -> list[CaseTimes]:
        c = disclosure_cases.c
        rows = self._c.execute(
            select(c.state, c.notified_at, c.fix_released_at, c.deadline).where(
                or_(self._within(c.fix_released_at), self._within(c.deadline))
            )
        )
        return [CaseTimes(r.state, r.notified_at, r.fix_released_at, r.deadline) for r in rows]

    def credits(self, code: str, phase: str) -> dict[tuple[str, str], int]:
        """(organisation kind, organisation id) -> micro-credits moved into the
        organisation's account (grants) or its consumed account (posted usage)."""
        t, a, o = ledger_transfers.c, ledger_accounts.c, organisations.c
        rows = self._c.execute(
            select(o.kind, o.id, func.sum(t.amount))
            .select_from(
                ledger_transfers.join(ledger_accounts, t.credit_account == a.id).join(
                    organisations, a.org_id == o.id
                )
            )
            .where(t.code == code, t.phase == phase, self._within(t.created_at))
            .group_by(o.kind, o.id)
        )
        return {(r[0], r[1]): int(r[2] or 0) for r in rows}

    def named(self) -> dict[str, tuple[str, str, str]]:
        o = organisations.c
        rows = self._c.execute(
            select(o.id, o.name, o.kind, o.tier).where(o.report_opt_in.is_(True))
        )
        return {r.id: (r.name, r.kind, r.tier) for r in rows}


class SqlReportStore:
    """ReportStore over the Database's engine."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @contextmanager
    def _snapshot(self) -> Iterator[Connection]:
        if self._engine.dialect.name != "postgresql":
            with read_connection(self._engine) as conn:
                yield conn
            return
        try:
            with (
                self._engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn,
                conn.begin(),
            ):
                yield conn
        except OperationalError as exc:
            raise StoreError(f"database unavailable: {exc.orig}") from None

    def gather(self, period: Period, *, as_of: datetime) -> Gathered:
        with self._snapshot() as conn:
            g = _Gatherer(conn, period)
            checkpoint, fence = g.checkpoint()
            access = g.access()
            by_tier, daily, blocked, per_org = g.requests(fence)
            granted = g.credits("grant", "single")
            spent = g.credits("usage", "post")
            sums: dict[str, list[int]] = {}
            orgs: defaultdict[str, set[str]] = defaultdict(set)
            for index, moved in enumerate((granted, spent)):
                for (kind, org_id), amount in moved.items():
                    sums.setdefault(kind, [0, 0])[index] += amount
                    orgs[kind].add(org_id)
            spent_by_org: Counter[str] = Counter()
            for (_, org_id), amount in spent.items():
                spent_by_org[org_id] += amount
            had_access = {org_id for org_id, *_ in access}
            named = [
                OrgActivity(name, kind, tier, per_org[org_id], spent_by_org[org_id])
                for org_id, (name, kind, tier) in g.named().items()
                if org_id in had_access or per_org[org_id] or spent_by_org[org_id]
            ]
            return Gathered(
                as_of=as_of,
                checkpoint=checkpoint,
                access=[(kind, sector, tier) for _, kind, sector, tier, _ in access],
                applications=g.applications(),
                requests=dict(by_tier),
                daily={day: (daily[(day, 0)], daily[(day, 1)]) for day, flag in daily if flag == 0},
                blocked=dict(blocked),
                alerts=g.grouped(monitor_alerts, "category", "action"),
                alert_status=g.grouped(monitor_alerts, "status"),
                sessions_opened=g.distinct_subjects("monitor.session.opened", fence),
                sessions_held=g.distinct_subjects("monitor.session.held", fence),
                sessions_terminated=g.distinct_subjects("monitor.session.terminated", fence),
                held_calls=g.grouped(monitor_held_calls, "status"),
                findings=g.findings(),
                cases=g.cases(),
                credits={kind: (s[0], s[1], len(orgs[kind])) for kind, s in sums.items()},
                named=named,
            )

    @contextmanager
    def unit(self) -> Iterator[SqlReportUnit]:
        with write_connection(self._engine) as conn:
            yield SqlReportUnit(conn)

    def list_reports(self) -> list[Published]:
        r = transparency_reports.c
        with read_connection(self._engine) as conn:
            rows = conn.execute(
                select(transparency_reports).order_by(r.created_at.desc(), r.id.desc())
            )
            return [_published(row) for row in rows]

    def get_report(self, report_id: ReportId) -> Published | None:
        with read_connection(self._engine) as conn:
            row = conn.execute(
                select(transparency_reports).where(transparency_reports.c.id == report_id)
            ).first()
            return _published(row) if row else None


__all__ = ["NO_CATEGORY", "NO_PURPOSE", "SqlReportStore", "SqlReportUnit", "UNAUTHENTICATED"]
