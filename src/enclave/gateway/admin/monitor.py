"""The monitored perimeter's triage (issue 7): sessions, alerts and held tool calls.

Every role reads; admins and reviewers act (hold, release, terminate, acknowledge,
resolve, decide). The roles are checked by the monitor service, never here. A change
that does not apply to the current state (acknowledging a resolved alert, deciding a
held call already decided or expired) answers 409 ``conflict`` and changes nothing.
See docs/monitor.md, "Admin API".
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import Field

from enclave.errors import ConfigError
from enclave.gateway.admin.deps import Actor, Registry
from enclave.gateway.admin.requests import Body
from enclave.gateway.admin.views import EventView, Listing, View
from enclave.monitor import (
    Alert,
    AlertStatus,
    Category,
    HeldCall,
    MonitorService,
    Session,
    SessionStatus,
)
from enclave.monitor.service import MAX_REASON

router = APIRouter(tags=["monitor"])
# The events a session's detail carries; the rest page through GET /events?subject=.
SESSION_EVENTS = 100


def get_monitor(request: Request) -> MonitorService:
    service = getattr(request.app.state, "monitor", None)
    if not isinstance(service, MonitorService):
        raise ConfigError("the monitor is not configured")
    return service


Monitor = Annotated[MonitorService, Depends(get_monitor)]
Ref = Annotated[str, Path(min_length=1, max_length=80)]
Limit = Annotated[int, Query(ge=1, le=1000)]
Note = Annotated[str, Field(max_length=MAX_REASON, description="Why; recorded.")]


class WithReason(Body):
    reason: Note = ""


class Release(Body):
    reject: Annotated[
        bool, Field(description="Reject the session's pending held calls instead of approving.")
    ] = False
    reason: Note = ""


class Ack(Body):
    note: Note = ""


class Resolve(Body):
    resolution: Annotated[
        str,
        Field(min_length=1, max_length=MAX_REASON, examples=["false positive: own host"]),
    ]


class HeldDecision(Body):
    decision: Literal["approve", "reject"]
    reason: Note = ""


class SessionView(View):
    id: str
    client_session_id: str
    org_id: str
    key_id: str
    tier: str
    purpose: str
    status: SessionStatus
    created_at: datetime
    updated_at: datetime
    events: int
    alerts: int
    status_reason: str | None
    status_by: str | None

    @classmethod
    def of(cls, s: Session) -> SessionView:
        return cls(
            id=s.id,
            client_session_id=s.client_session_id,
            org_id=s.org_id,
            key_id=s.key_id,
            tier=s.tier,
            purpose=s.purpose,
            status=s.status,
            created_at=s.created_at,
            updated_at=s.updated_at,
            events=s.events,
            alerts=s.alerts,
            status_reason=s.status_reason,
            status_by=s.status_by,
        )


class AlertView(View):
    id: str
    session_id: str
    category: Category
    rule_id: str
    title: str
    severity: str
    action: str
    tool_call_id: str
    status: AlertStatus
    created_at: datetime
    evidence: dict[str, Any]  # the matched event's fields, each bounded
    event_seqs: list[int]  # rows of the events table, which the audit log sequences
    acked_by: str | None
    acked_at: datetime | None
    resolved_by: str | None
    resolved_at: datetime | None
    resolution: str | None

    @classmethod
    def of(cls, a: Alert) -> AlertView:
        return cls(
            id=a.id,
            session_id=a.session_id,
            category=a.category,
            rule_id=a.rule_id,
            title=a.title,
            severity=a.severity.value,
            action=a.action.value,
            tool_call_id=a.tool_call_id,
            status=a.status,
            created_at=a.created_at,
            evidence=dict(a.evidence),
            event_seqs=list(a.event_seqs),
            acked_by=a.acked_by,
            acked_at=a.acked_at,
            resolved_by=a.resolved_by,
            resolved_at=a.resolved_at,
            resolution=a.resolution,
        )


class HeldView(View):
    id: str
    session_id: str
    tool_call_id: str
    tool: str
    arguments: str  # a bounded copy, for the reviewer
    alert_ids: list[str]
    status: str  # pending | approved | rejected | expired
    created_at: datetime
    deadline: datetime
    decided_at: datetime | None
    decided_by: str | None
    reason: str | None

    @classmethod
    def of(cls, h: HeldCall) -> HeldView:
        return cls(
            id=h.id,
            session_id=h.session_id,
            tool_call_id=h.tool_call_id,
            tool=h.tool,
            arguments=h.arguments,
            alert_ids=list(h.alert_ids),
            status=h.status.value,
            created_at=h.created_at,
            deadline=h.deadline,
            decided_at=h.decided_at,
            decided_by=h.decided_by,
            reason=h.reason,
        )


class SessionDetail(View):
    session: SessionView
    held: list[HeldView]
    alerts: list[AlertView]
    events: list[EventView]  # the first SESSION_EVENTS, in sequence order
    next_after: int  # page on with GET /events?subject=<id>&after=<next_after>


# -- sessions ----------------------------------------------------------------------------


@router.get("/sessions")
def list_sessions(
    actor: Actor,
    monitor: Monitor,
    status: SessionStatus | None = None,
    limit: Limit = 100,
) -> Listing[SessionView]:
    """Most recently active sessions first."""
    found = monitor.list_sessions(actor, status=status, limit=limit)
    return Listing[SessionView](items=[SessionView.of(s) for s in found])


@router.get("/sessions/{session_id}")
def show_session(
    session_id: Ref, actor: Actor, monitor: Monitor, registry: Registry
) -> SessionDetail:
    """A session with its held tool calls, its alerts and its first events."""
    session, held, alerts = monitor.get_session(actor, session_id)
    events = [
        EventView.of(e)
        for e in registry.list_events(actor, subject=session.id, limit=SESSION_EVENTS)
    ]
    return SessionDetail(
        session=SessionView.of(session),
        held=[HeldView.of(h) for h in held],
        alerts=[AlertView.of(a) for a in alerts],
        events=events,
        next_after=events[-1].seq if events else 0,
    )


@router.post("/sessions/{session_id}/hold")
def hold_session(session_id: Ref, body: WithReason, actor: Actor, monitor: Monitor) -> SessionView:
    """Hold an active session: every further tool call waits for an operator's review."""
    return SessionView.of(monitor.hold_session(actor, session_id, reason=body.reason))


@router.post("/sessions/{session_id}/release")
def release_session(session_id: Ref, body: Release, actor: Actor, monitor: Monitor) -> SessionView:
    """Back to active; the session's pending held calls are approved (or rejected)."""
    return SessionView.of(
        monitor.release_session(actor, session_id, reject=body.reject, reason=body.reason)
    )


@router.post("/sessions/{session_id}/terminate")
def terminate_session(
    session_id: Ref, body: WithReason, actor: Actor, monitor: Monitor
) -> SessionView:
    """End a session: its pending held calls are rejected, further calls refused."""
    return SessionView.of(monitor.terminate_session(actor, session_id, reason=body.reason))


# -- alerts ------------------------------------------------------------------------------


@router.get("/alerts")
def list_alerts(
    actor: Actor,
    monitor: Monitor,
    status: AlertStatus | None = None,
    category: Category | None = None,
    session: Annotated[str | None, Query(min_length=1, max_length=80)] = None,
    limit: Limit = 100,
) -> Listing[AlertView]:
    """Newest alerts first."""
    found = monitor.list_alerts(
        actor, status=status, category=category, session=session, limit=limit
    )
    return Listing[AlertView](items=[AlertView.of(a) for a in found])


@router.get("/alerts/{alert_id}")
def show_alert(alert_id: Ref, actor: Actor, monitor: Monitor) -> AlertView:
    """One alert with its evidence and its events-table entries."""
    return AlertView.of(monitor.get_alert(actor, alert_id))


@router.post("/alerts/{alert_id}/ack")
def ack_alert(alert_id: Ref, body: Ack, actor: Actor, monitor: Monitor) -> AlertView:
    """Acknowledge an open alert (someone is looking at it)."""
    return AlertView.of(monitor.ack_alert(actor, alert_id, note=body.note))


@router.post("/alerts/{alert_id}/resolve")
def resolve_alert(alert_id: Ref, body: Resolve, actor: Actor, monitor: Monitor) -> AlertView:
    """Resolve an open or acknowledged alert with its outcome."""
    return AlertView.of(monitor.resolve_alert(actor, alert_id, resolution=body.resolution))


# -- held tool calls ---------------------------------------------------------------------


@router.post("/held/{held_id}/decide")
def decide_held(held_id: Ref, body: HeldDecision, actor: Actor, monitor: Monitor) -> HeldView:
    """Approve or reject a pending held tool call; the waiting response is then released
    as it was, or with the call replaced by a refusal. Past its deadline the call has
    already expired (409)."""
    decided = monitor.decide_held(
        actor, held_id, approve=body.decision == "approve", reason=body.reason
    )
    return HeldView.of(decided)


__all__ = ["router"]
