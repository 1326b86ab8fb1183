"""SQL implementation of the monitor's MonitorStore, and the composition helper that builds
the MonitorService from Settings."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from enclave.clock import Clock, utcnow
from enclave.config import Settings
from enclave.monitor.actions import ActionDecider, CedarActions, TableActions
from enclave.monitor.engine import RuleEngine
from enclave.monitor.interface import (
    Action,
    Alert,
    AlertId,
    AlertStatus,
    Category,
    HeldCall,
    HeldCallId,
    HeldStatus,
    Session,
    SessionId,
    SessionStatus,
    Severity,
)
from enclave.monitor.rules import RuleSet, load_rules
from enclave.monitor.service import MonitorService
from enclave.monitor.state import MemoryStates, SessionStates
from enclave.policy import PolicyEngine
from enclave.registry import ApiKey
from enclave.store.database import Database
from enclave.store.engine import read_connection, write_connection
from enclave.store.events_repo import SqlEvents
from enclave.store.monitor_redis import RedisStates
from enclave.store.tables import monitor_alerts, monitor_held_calls, monitor_sessions

S = monitor_sessions.c
A = monitor_alerts.c
H = monitor_held_calls.c


def _session(row: Any) -> Session:
    return Session(
        id=SessionId(row.id),
        client_session_id=row.client_session_id,
        org_id=row.org_id,
        key_id=row.key_id,
        tier=row.tier,
        purpose=row.purpose,
        status=SessionStatus(row.status),
        created_at=row.created_at,
        updated_at=row.updated_at,
        events=row.events,
        alerts=row.alerts,
        status_reason=row.status_reason,
        status_by=row.status_by,
    )


def _session_values(s: Session) -> dict[str, Any]:
    return {
        "id": s.id,
        "client_session_id": s.client_session_id,
        "org_id": s.org_id,
        "key_id": s.key_id,
        "tier": s.tier,
        "purpose": s.purpose,
        "status": s.status.value,
        "created_at": s.created_at,
        "updated_at": s.updated_at,
        "events": s.events,
        "alerts": s.alerts,
        "status_reason": s.status_reason,
        "status_by": s.status_by,
    }


def _alert(row: Any) -> Alert:
    return Alert(
        id=AlertId(row.id),
        session_id=SessionId(row.session_id),
        category=Category(row.category),
        rule_id=row.rule_id,
        title=row.title,
        severity=Severity(row.severity),
        action=Action(row.action),
        tool_call_id=row.tool_call_id,
        status=AlertStatus(row.status),
        created_at=row.created_at,
        evidence=row.evidence,
        event_seqs=tuple(row.event_seqs),
        acked_by=row.acked_by,
        acked_at=row.acked_at,
        resolved_by=row.resolved_by,
        resolved_at=row.resolved_at,
        resolution=row.resolution,
    )


def _alert_values(a: Alert) -> dict[str, Any]:
    return {
        "id": a.id,
        "session_id": a.session_id,
        "category": a.category.value,
        "rule_id": a.rule_id[:200],
        "title": a.title[:300],
        "severity": a.severity.value,
        "action": a.action.value,
        "tool_call_id": a.tool_call_id[:200],
        "status": a.status.value,
        "created_at": a.created_at,
        "evidence": dict(a.evidence),
        "event_seqs": list(a.event_seqs),
        "acked_by": a.acked_by,
        "acked_at": a.acked_at,
        "resolved_by": a.resolved_by,
        "resolved_at": a.resolved_at,
        "resolution": a.resolution,
    }


def _held(row: Any) -> HeldCall:
    return HeldCall(
        id=HeldCallId(row.id),
        session_id=SessionId(row.session_id),
        tool_call_id=row.tool_call_id,
        tool=row.tool,
        arguments=row.arguments,
        alert_ids=tuple(AlertId(a) for a in row.alert_ids),
        status=HeldStatus(row.status),
        created_at=row.created_at,
        deadline=row.deadline,
        decided_at=row.decided_at,
        decided_by=row.decided_by,
        reason=row.reason,
    )


def _held_values(h: HeldCall) -> dict[str, Any]:
    return {
        "id": h.id,
        "session_id": h.session_id,
        "tool_call_id": h.tool_call_id,
        "tool": h.tool,
        "arguments": h.arguments,
        "alert_ids": list(h.alert_ids),
        "status": h.status.value,
        "created_at": h.created_at,
        "deadline": h.deadline,
        "decided_at": h.decided_at,
        "decided_by": h.decided_by,
        "reason": h.reason,
    }


class SqlMonitorUnit(SqlEvents):
    def __init__(self, conn: Connection) -> None:
        super().__init__(conn)
        self._c = conn

    def get_session(self, session_id: SessionId) -> Session | None:
        row = self._c.execute(select(monitor_sessions).where(S.id == session_id)).first()
        return _session(row) if row else None

    def insert_session(self, session: Session) -> None:
        self._c.execute(insert(monitor_sessions).values(**_session_values(session)))

    def update_session(self, session: Session) -> None:
        values = _session_values(session)
        del values["id"], values["events"], values["alerts"]  # counters move by increments
        self._c.execute(update(monitor_sessions).where(S.id == session.id).values(**values))

    def add_session_counts(
        self, session_id: SessionId, *, events: int, alerts: int, at: datetime
    ) -> None:
        self._c.execute(
            update(monitor_sessions)
            .where(S.id == session_id)
            .values(events=S.events + events, alerts=S.alerts + alerts, updated_at=at)
        )

    def list_sessions(
        self, *, status: SessionStatus | None = None, limit: int = 100
    ) -> list[Session]:
        query = select(monitor_sessions).order_by(S.updated_at.desc(), S.id).limit(limit)
        if status is not None:
            query = query.where(S.status == status.value)
        return [_session(r) for r in self._c.execute(query)]

    def insert_alerts(self, alerts: Sequence[Alert]) -> None:
        if alerts:
            self._c.execute(insert(monitor_alerts), [_alert_values(a) for a in alerts])

    def get_alert(self, alert_id: AlertId) -> Alert | None:
        row = self._c.execute(select(monitor_alerts).where(A.id == alert_id)).first()
        return _alert(row) if row else None

    def update_alert(self, alert: Alert) -> None:
        values = _alert_values(alert)
        del values["id"]
        self._c.execute(update(monitor_alerts).where(A.id == alert.id).values(**values))

    def list_alerts(
        self,
        *,
        status: AlertStatus | None = None,
        session_id: SessionId | None = None,
        category: Category | None = None,
        limit: int = 100,
    ) -> list[Alert]:
        query = select(monitor_alerts).order_by(A.created_at.desc(), A.id).limit(limit)
        if status is not None:
            query = query.where(A.status == status.value)
        if session_id is not None:
            query = query.where(A.session_id == session_id)
        if category is not None:
            query = query.where(A.category == category.value)
        return [_alert(r) for r in self._c.execute(query)]

    def insert_held(self, held: Sequence[HeldCall]) -> None:
        if held:
            self._c.execute(insert(monitor_held_calls), [_held_values(h) for h in held])

    def get_held(self, held_id: HeldCallId) -> HeldCall | None:
        row = self._c.execute(select(monitor_held_calls).where(H.id == held_id)).first()
        return _held(row) if row else None

    def update_held(self, held: HeldCall) -> None:
        values = _held_values(held)
        del values["id"]
        self._c.execute(update(monitor_held_calls).where(H.id == held.id).values(**values))

    def list_held(
        self, *, session_id: SessionId | None = None, status: HeldStatus | None = None
    ) -> list[HeldCall]:
        query = select(monitor_held_calls).order_by(H.created_at, H.id).limit(10_000)
        if session_id is not None:
            query = query.where(H.session_id == session_id)
        if status is not None:
            query = query.where(H.status == status.value)
        return [_held(r) for r in self._c.execute(query)]


class SqlMonitorStore:
    """MonitorStore over the Database's engine."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @contextmanager
    def unit(self) -> Iterator[SqlMonitorUnit]:
        with write_connection(self._engine) as conn:
            yield SqlMonitorUnit(conn)

    @contextmanager
    def reader(self) -> Iterator[SqlMonitorUnit]:
        with read_connection(self._engine) as conn:
            yield SqlMonitorUnit(conn)


def monitor_rules(settings: Settings) -> RuleSet:
    """The shipped pack plus the operator's directory (monitor.rules_dir)."""
    extra = [settings.monitor.rules_dir] if settings.monitor.rules_dir else []
    return load_rules(operator_dirs=extra)


def session_states(settings: Settings) -> SessionStates:
    if settings.redis_url is not None:
        return RedisStates.from_url(
            settings.redis_url.get_secret_value(), ttl_seconds=settings.monitor.state_ttl_seconds
        )
    return MemoryStates(max_sessions=settings.monitor.max_sessions_in_memory)


def build_monitor(
    settings: Settings,
    db: Database,
    *,
    policy: PolicyEngine | None = None,
    rules: RuleSet | None = None,
    states: SessionStates | None = None,
    clock: Clock = utcnow,
    scope_of: Callable[[ApiKey], Sequence[str]] | None = None,
) -> MonitorService:
    """Compose the monitor: rules (shipped + operator), state (Redis when configured),
    actions (the table, or Cedar when monitor.actions = "cedar")."""
    actions: ActionDecider = TableActions()
    if settings.monitor.actions == "cedar":
        actions = CedarActions(policy or PolicyEngine.from_settings(settings))
    return MonitorService(
        store=SqlMonitorStore(db.engine),
        engine=RuleEngine(rules or monitor_rules(settings)),
        states=states or session_states(settings),
        actions=actions,
        hold_timeout=timedelta(seconds=settings.monitor.hold_timeout_seconds),
        clock=clock,
        scope_of=scope_of,
    )


__all__ = [
    "SqlMonitorStore",
    "SqlMonitorUnit",
    "build_monitor",
    "monitor_rules",
    "session_states",
]
