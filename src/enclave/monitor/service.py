"""The monitor service: the gateway's calls on the hot path, and the operator's triage.

Gateway (in request order; see docs/monitor.md for the exact contract):

1. ``open_session(principal, client_session_id=..., purpose=...)`` -> SessionContext, or
   SessionTerminated (refuse the call).
2. ``observe_request(ctx, api, body)``: the tool results the request brings.
3. ``observe_response(ctx, api, body)`` for a whole response, or feed
   ``OpenAIStream``/``AnthropicStream`` and pass the completed calls to
   ``observe_calls(ctx, calls)``. The returned Verdict says, per tool call, allow | flag
   | hold (with the HeldCall id to wait on: ``held_status``) | block | terminate.
4. ``tool_check(ctx, name=..., arguments=...)`` answers POST /v1/enclave/tool-check.

Every tool call and tool result is recorded as an event (hashes, never the arguments:
events.interface's threat-model note); alerts carry their evidence and the event's
sequence number, which the audit log sequences.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from enclave.clock import Clock, utcnow
from enclave.errors import Conflict
from enclave.events import Event
from enclave.monitor.actions import ActionDecider, strongest
from enclave.monitor.engine import RuleEngine
from enclave.monitor.extract import new_tool_results, response_calls
from enclave.monitor.facts import MAX_TEXT
from enclave.monitor.interface import (
    Action,
    Alert,
    AlertId,
    AlertStatus,
    Api,
    Category,
    HeldCall,
    HeldCallId,
    HeldStatus,
    MonitorConflict,
    MonitorInputError,
    MonitorStore,
    MonitorUnit,
    RuleMatch,
    Session,
    SessionId,
    SessionStatus,
    SessionTerminated,
    ToolCall,
    ToolEvent,
    ToolResult,
    UnknownMonitorEntity,
)
from enclave.monitor.normalise import call_event, result_event
from enclave.monitor.session import SessionContext
from enclave.monitor.state import SessionState, SessionStates
from enclave.registry import ApiKey, Operator, Principal, Role
from enclave.registry.service import require

READ_ROLES = frozenset({Role.ADMIN, Role.REVIEWER, Role.AUDITOR})
TRIAGE_ROLES = frozenset({Role.ADMIN, Role.REVIEWER})
EVIDENCE_CHARS = 2_048
MAX_REASON = 2_000


@dataclass(frozen=True, slots=True)
class CallVerdict:
    tool_call_id: str
    tool: str
    action: Action
    alerts: tuple[Alert, ...] = ()
    held_id: HeldCallId | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Verdict:
    calls: tuple[CallVerdict, ...]
    results: tuple[CallVerdict, ...] = ()

    @property
    def action(self) -> Action:
        return strongest([c.action for c in (*self.calls, *self.results)])

    def ids(self, action: Action) -> tuple[str, ...]:
        return tuple(c.tool_call_id for c in self.calls if c.action is action)


@dataclass(frozen=True, slots=True)
class ToolCheck:
    allowed: bool
    action: Action
    reason: str
    alerts: tuple[RuleMatch, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "action": self.action.value,
            "reason": self.reason,
            "alerts": [
                {"category": m.category.value, "rule": m.rule_id, "severity": m.severity.value}
                for m in self.alerts
            ],
        }


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


def _clean(text: str, limit: int = 200) -> str:
    """Model-chosen text bound for a database column: bounded, and without NUL, which
    PostgreSQL text refuses (a tool name or call id is the model's to choose)."""
    return text[:limit].replace("\x00", "\\x00")


def _digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _evidence(event: ToolEvent, match: RuleMatch) -> dict[str, object]:
    fields: dict[str, object] = {}
    for name, value in event.fields.items():
        if isinstance(value, str):
            fields[name] = _clean(value, EVIDENCE_CHARS)
        else:
            fields[name] = [_clean(v, EVIDENCE_CHARS) for v in value[:16]]
    evidence: dict[str, object] = {"event": fields}
    if match.related:
        evidence["related_tool_calls"] = list(match.related)
    return evidence


def _reason(text: str) -> str:
    cleaned = text.strip()
    if len(cleaned) > MAX_REASON:
        raise MonitorInputError(f"reason is longer than {MAX_REASON} characters")
    return cleaned


class MonitorService:
    def __init__(
        self,
        *,
        store: MonitorStore,
        engine: RuleEngine,
        states: SessionStates,
        actions: ActionDecider,
        hold_timeout: timedelta = timedelta(minutes=5),
        clock: Clock = utcnow,
        scope_of: Callable[[ApiKey], Sequence[str]] | None = None,
    ) -> None:
        # The key's live verified assets as scope entries (AssetService.scope_entries_for_key).
        # Without a resolver nothing is in scope: every network target is a scope-violation.
        self._scope_of = scope_of
        self._store = store
        self._engine = engine
        self._states = states
        self._actions = actions
        self._hold_timeout = hold_timeout
        self._clock = clock

    @property
    def engine(self) -> RuleEngine:
        return self._engine

    # -- the gateway's hot path ----------------------------------------------------

    def open_session(
        self,
        principal: Principal,
        *,
        client_session_id: str,
        purpose: str,
        model: str = "",
        variant: str = "",
    ) -> SessionContext:
        ctx = SessionContext.for_principal(
            principal,
            client_session_id=client_session_id,
            purpose=purpose,
            scope_entries=self._scope_of(principal.key) if self._scope_of else (),
            model=model,
            variant=variant,
        )
        session = self._ensure_session(ctx)
        if session.status is SessionStatus.TERMINATED:
            raise SessionTerminated(
                f"session {ctx.client_session_id!r} was terminated",
                hint=session.status_reason or "start a new session",
            )
        return ctx

    def _ensure_session(self, ctx: SessionContext) -> Session:
        with self._store.reader() as unit:
            found = unit.get_session(ctx.session_id)
        if found is not None:
            return found
        now = self._clock()
        session = Session(
            id=ctx.session_id,
            client_session_id=ctx.client_session_id,
            org_id=ctx.org_id,
            key_id=ctx.key_id,
            tier=ctx.tier,
            purpose=ctx.purpose,
            status=SessionStatus.ACTIVE,
            created_at=now,
            updated_at=now,
        )
        try:
            with self._store.unit() as unit:
                if unit.get_session(ctx.session_id) is None:
                    unit.insert_session(session)
                    unit.append(
                        Event(
                            "monitor.session.opened",
                            f"key:{ctx.key_id}",
                            ctx.session_id,
                            now,
                            {"org": ctx.org_id, "tier": ctx.tier, "purpose": ctx.purpose},
                        )
                    )
        except Conflict:
            pass  # another gateway process opened it first: theirs stands
        with self._store.reader() as unit:
            stored = unit.get_session(ctx.session_id)
        assert stored is not None
        return stored

    def observe_response(self, ctx: SessionContext, api: Api, body: Mapping[str, Any]) -> Verdict:
        return self.observe_calls(ctx, response_calls(api, body))

    def observe_request(self, ctx: SessionContext, api: Api, body: Mapping[str, Any]) -> Verdict:
        return self.observe(ctx, calls=(), results=new_tool_results(api, body))

    def observe_calls(self, ctx: SessionContext, calls: Sequence[ToolCall]) -> Verdict:
        return self.observe(ctx, calls=calls, results=())

    def observe(
        self,
        ctx: SessionContext,
        *,
        calls: Sequence[ToolCall],
        results: Sequence[ToolResult],
    ) -> Verdict:
        if not calls and not results:
            return Verdict(())
        now = self._clock()
        events = [call_event(c) for c in calls] + [result_event(r) for r in results]
        sizes = [len(c.arguments) for c in calls] + [len(r.content) for r in results]
        digests = [_digest(c.arguments) for c in calls] + [_digest(r.content) for r in results]
        matched = [self._engine.match(e, ctx.scope) for e in events]
        status = self._status(ctx.session_id)

        def fold(state: SessionState) -> list[tuple[list[RuleMatch], Action]]:
            out: list[tuple[list[RuleMatch], Action]] = []
            for item in matched:
                matches = self._engine.fold(state, item, now=now.timestamp())
                action = self._action(ctx, matches, status)
                state.remember(item.event.tool_call_id, action.value)
                out.append((matches, action))
            return out

        decided = self._states.apply(ctx.session_id, fold)
        verdicts = self._record(ctx, events, decided, sizes, digests, now)
        split = len(calls)
        return Verdict(tuple(verdicts[:split]), tuple(verdicts[split:]))

    def _action(
        self, ctx: SessionContext, matches: Sequence[RuleMatch], status: SessionStatus
    ) -> Action:
        action = strongest([self._actions.decide(ctx, m) for m in matches])
        if status is SessionStatus.TERMINATED:
            return Action.TERMINATE
        if status is SessionStatus.HELD and action.rank < Action.HOLD.rank:
            return Action.HOLD
        return action

    def _status(self, session_id: SessionId) -> SessionStatus:
        with self._store.reader() as unit:
            session = unit.get_session(session_id)
        return session.status if session is not None else SessionStatus.ACTIVE

    def _record(
        self,
        ctx: SessionContext,
        events: Sequence[ToolEvent],
        decided: Sequence[tuple[list[RuleMatch], Action]],
        sizes: Sequence[int],
        digests: Sequence[str],
        now: datetime,
    ) -> list[CallVerdict]:
        verdicts: list[CallVerdict] = []
        alert_count = 0
        with self._store.unit() as unit:
            terminate = False
            for event, (matches, action), size, digest in zip(
                events, decided, sizes, digests, strict=True
            ):
                kind = "monitor.tool_result" if event.kind == "tool_result" else "monitor.tool_call"
                seq = unit.append(
                    Event(
                        kind,
                        f"key:{ctx.key_id}",
                        ctx.session_id,
                        now,
                        {
                            "tool_call_id": _clean(event.tool_call_id),
                            "tool": _clean(event.tool),
                            "kind": event.kind.value,
                            "sha256": digest,
                            "bytes": size,
                            "action": action.value,
                            "rules": [m.rule_id for m in matches],
                        },
                    )
                )
                alerts = tuple(
                    Alert(
                        id=AlertId(_new_id("alr")),
                        session_id=ctx.session_id,
                        category=m.category,
                        rule_id=m.rule_id,
                        title=m.title,
                        severity=m.severity,
                        action=action,
                        tool_call_id=_clean(m.tool_call_id),
                        status=AlertStatus.OPEN,
                        created_at=now,
                        evidence=_evidence(event, m),
                        event_seqs=(seq,),
                    )
                    for m in matches
                )
                if alerts:
                    unit.insert_alerts(alerts)
                    unit.append_many(
                        [
                            Event(
                                "monitor.alert",
                                "system",
                                a.id,
                                now,
                                {
                                    "session": ctx.session_id,
                                    "category": a.category.value,
                                    "rule": a.rule_id,
                                    "severity": a.severity.value,
                                    "action": a.action.value,
                                    "event_seq": seq,
                                },
                            )
                            for a in alerts
                        ]
                    )
                alert_count += len(alerts)
                held_id = None
                if action is Action.HOLD and event.kind != "tool_result":
                    held = HeldCall(
                        id=HeldCallId(_new_id("hld")),
                        session_id=ctx.session_id,
                        tool_call_id=_clean(event.tool_call_id),
                        tool=_clean(event.tool),
                        arguments=_clean("".join(event.values("raw")[:1]), MAX_TEXT),
                        alert_ids=tuple(a.id for a in alerts),
                        status=HeldStatus.PENDING,
                        created_at=now,
                        deadline=now + self._hold_timeout,
                    )
                    unit.insert_held([held])
                    held_id = held.id
                terminate = terminate or action is Action.TERMINATE
                verdicts.append(
                    CallVerdict(
                        tool_call_id=event.tool_call_id,
                        tool=event.tool,
                        action=action,
                        alerts=alerts,
                        held_id=held_id,
                        reason="; ".join(f"{a.category.value}: {a.title}" for a in alerts),
                    )
                )
            unit.add_session_counts(ctx.session_id, events=len(events), alerts=alert_count, at=now)
            if terminate:
                self._set_status(
                    unit, ctx.session_id, SessionStatus.TERMINATED, "system", "policy terminated"
                )
        return verdicts

    def tool_check(
        self,
        ctx: SessionContext,
        *,
        name: str,
        arguments: str,
        tool_call_id: str | None = None,
    ) -> ToolCheck:
        """May the harness execute this tool call? Uses the same rules and session state as
        the gateway, without changing the state (the call was, or will be, observed)."""
        status = self._status(ctx.session_id)
        if status is SessionStatus.TERMINATED:
            return ToolCheck(False, Action.TERMINATE, "the session was terminated")
        state = self._states.peek(ctx.session_id)
        if tool_call_id and tool_call_id in state.decisions:
            return self._known_call(ctx, tool_call_id, Action(state.decisions[tool_call_id]))
        call = ToolCall(
            id=tool_call_id or "tool-check", name=name, arguments=arguments, api="openai"
        )
        event = call_event(call)
        matches = self._engine.fold(
            state, self._engine.match(event, ctx.scope), now=self._clock().timestamp()
        )
        action = self._action(ctx, matches, status)
        allowed = action in (Action.ALLOW, Action.FLAG)
        if status is SessionStatus.HELD:
            reason = "the session is held for an operator's review"
        elif matches:
            reason = "; ".join(f"{m.category.value}: {m.title}" for m in matches)
        else:
            reason = "no rule matched"
        with self._store.unit() as unit:
            unit.append(
                Event(
                    "monitor.tool_check",
                    f"key:{ctx.key_id}",
                    ctx.session_id,
                    self._clock(),
                    {
                        "tool": name[:200],
                        "sha256": _digest(arguments),
                        "action": action.value,
                        "rules": [m.rule_id for m in matches],
                    },
                )
            )
        return ToolCheck(allowed, action, reason, tuple(matches))

    def _known_call(self, ctx: SessionContext, tool_call_id: str, action: Action) -> ToolCheck:
        if action is Action.HOLD:
            with self._store.reader() as unit:
                held = [
                    h
                    for h in unit.list_held(session_id=ctx.session_id)
                    if h.tool_call_id == tool_call_id
                ]
            if held:
                current = self.held_status(held[-1].id)
                if current.status is HeldStatus.APPROVED:
                    return ToolCheck(True, Action.ALLOW, "approved by an operator")
                if current.status is HeldStatus.PENDING:
                    return ToolCheck(False, Action.HOLD, "held for an operator's review")
                return ToolCheck(False, Action.BLOCK, f"held call {current.status.value}")
        allowed = action in (Action.ALLOW, Action.FLAG)
        return ToolCheck(allowed, action, f"decided when the model emitted it: {action.value}")

    def held_status(self, held_id: HeldCallId) -> HeldCall:
        """The held call's state; a pending one past its deadline is rejected now."""
        with self._store.reader() as unit:
            held = unit.get_held(held_id)
        if held is None:
            raise UnknownMonitorEntity(f"unknown held call {held_id!r}")
        if held.status is HeldStatus.PENDING and self._clock() >= held.deadline:
            return self._expire(held)
        return held

    def _expire(self, held: HeldCall) -> HeldCall:
        now = self._clock()
        with self._store.unit() as unit:
            current = unit.get_held(held.id)
            assert current is not None
            if current.status is not HeldStatus.PENDING:
                return current  # decided meanwhile
            expired = replace(
                current,
                status=HeldStatus.EXPIRED,
                decided_at=now,
                decided_by="system",
                reason="no decision before the timeout",
            )
            unit.update_held(expired)
            unit.append(
                Event("monitor.held.expired", "system", held.id, now, {"session": held.session_id})
            )
        return expired

    def expire_held(self) -> int:
        """Reject every pending call past its deadline (a sweep; reads do it lazily too)."""
        with self._store.reader() as unit:
            due = [
                h for h in unit.list_held(status=HeldStatus.PENDING) if self._clock() >= h.deadline
            ]
        return sum(1 for h in due if self._expire(h).status is HeldStatus.EXPIRED)

    # -- the operator's triage ---------------------------------------------------

    def list_alerts(
        self,
        actor: Operator,
        *,
        status: AlertStatus | None = None,
        session: str | None = None,
        category: Category | None = None,
        limit: int = 100,
    ) -> list[Alert]:
        require(actor, READ_ROLES, "listing alerts")
        with self._store.reader() as unit:
            return unit.list_alerts(
                status=status,
                session_id=SessionId(session) if session else None,
                category=category,
                limit=max(1, min(limit, 1000)),
            )

    def get_alert(self, actor: Operator, alert_id: str) -> Alert:
        require(actor, READ_ROLES, "reading an alert")
        with self._store.reader() as unit:
            return self._alert(unit, alert_id)

    @staticmethod
    def _alert(unit: MonitorUnit, alert_id: str) -> Alert:
        alert = unit.get_alert(AlertId(alert_id))
        if alert is None:
            raise UnknownMonitorEntity(
                f"unknown alert {alert_id!r}", hint="list them with `enclave alerts list`"
            )
        return alert

    def ack_alert(self, actor: Operator, alert_id: str, *, note: str = "") -> Alert:
        require(actor, TRIAGE_ROLES, "acknowledging an alert")
        note = _reason(note)
        now = self._clock()
        with self._store.unit() as unit:
            alert = self._alert(unit, alert_id)
            if alert.status is not AlertStatus.OPEN:
                raise MonitorConflict(f"alert {alert_id} is {alert.status.value}, not open")
            updated = replace(
                alert, status=AlertStatus.ACKED, acked_by=f"operator:{actor.id}", acked_at=now
            )
            unit.update_alert(updated)
            unit.append(
                Event("monitor.alert.acked", f"operator:{actor.id}", alert.id, now, {"note": note})
            )
        return updated

    def resolve_alert(self, actor: Operator, alert_id: str, *, resolution: str) -> Alert:
        require(actor, TRIAGE_ROLES, "resolving an alert")
        resolution = _reason(resolution)
        if not resolution:
            raise MonitorInputError(
                "a resolution is required", hint="e.g. --resolution 'false positive: own host'"
            )
        now = self._clock()
        with self._store.unit() as unit:
            alert = self._alert(unit, alert_id)
            if alert.status is AlertStatus.RESOLVED:
                raise MonitorConflict(f"alert {alert_id} is already resolved")
            updated = replace(
                alert,
                status=AlertStatus.RESOLVED,
                resolved_by=f"operator:{actor.id}",
                resolved_at=now,
                resolution=resolution,
                acked_by=alert.acked_by or f"operator:{actor.id}",
                acked_at=alert.acked_at or now,
            )
            unit.update_alert(updated)
            unit.append(
                Event(
                    "monitor.alert.resolved",
                    f"operator:{actor.id}",
                    alert.id,
                    now,
                    {"resolution": resolution},
                )
            )
        return updated

    def list_sessions(
        self, actor: Operator, *, status: SessionStatus | None = None, limit: int = 100
    ) -> list[Session]:
        require(actor, READ_ROLES, "listing sessions")
        with self._store.reader() as unit:
            return unit.list_sessions(status=status, limit=max(1, min(limit, 1000)))

    def get_session(
        self, actor: Operator, session_id: str
    ) -> tuple[Session, list[HeldCall], list[Alert]]:
        require(actor, READ_ROLES, "reading a session")
        with self._store.reader() as unit:
            session = self._session(unit, session_id)
            return (
                session,
                unit.list_held(session_id=session.id),
                unit.list_alerts(session_id=session.id, limit=1000),
            )

    @staticmethod
    def _session(unit: MonitorUnit, session_id: str) -> Session:
        session = unit.get_session(SessionId(session_id))
        if session is None:
            raise UnknownMonitorEntity(
                f"unknown session {session_id!r}", hint="list them with `enclave sessions list`"
            )
        return session

    def _set_status(
        self,
        unit: MonitorUnit,
        session_id: SessionId,
        status: SessionStatus,
        actor: str,
        reason: str,
    ) -> Session:
        session = self._session(unit, session_id)
        now = self._clock()
        updated = replace(
            session, status=status, updated_at=now, status_reason=reason, status_by=actor
        )
        unit.update_session(updated)
        unit.append(
            Event(f"monitor.session.{status.value}", actor, session_id, now, {"reason": reason})
        )
        return updated

    def hold_session(self, actor: Operator, session_id: str, *, reason: str = "") -> Session:
        require(actor, TRIAGE_ROLES, "holding a session")
        reason = _reason(reason)
        with self._store.unit() as unit:
            session = self._session(unit, session_id)
            if session.status is not SessionStatus.ACTIVE:
                raise MonitorConflict(f"session {session_id} is {session.status.value}")
            return self._set_status(
                unit, session.id, SessionStatus.HELD, f"operator:{actor.id}", reason
            )

    def release_session(
        self, actor: Operator, session_id: str, *, reject: bool = False, reason: str = ""
    ) -> Session:
        """Back to active; the session's pending held calls are approved (or rejected)."""
        require(actor, TRIAGE_ROLES, "releasing a session")
        reason = _reason(reason)
        with self._store.unit() as unit:
            session = self._session(unit, session_id)
            if session.status is SessionStatus.TERMINATED:
                raise MonitorConflict(f"session {session_id} is terminated; it stays so")
            self._decide_pending(unit, session.id, actor, approve=not reject, reason=reason)
            return self._set_status(
                unit, session.id, SessionStatus.ACTIVE, f"operator:{actor.id}", reason
            )

    def terminate_session(self, actor: Operator, session_id: str, *, reason: str = "") -> Session:
        require(actor, TRIAGE_ROLES, "terminating a session")
        reason = _reason(reason)
        with self._store.unit() as unit:
            session = self._session(unit, session_id)
            if session.status is SessionStatus.TERMINATED:
                raise MonitorConflict(f"session {session_id} is already terminated")
            self._decide_pending(unit, session.id, actor, approve=False, reason=reason)
            updated = self._set_status(
                unit, session.id, SessionStatus.TERMINATED, f"operator:{actor.id}", reason
            )
        self._states.drop(session.id)
        return updated

    def decide_held(
        self, actor: Operator, held_id: str, *, approve: bool, reason: str = ""
    ) -> HeldCall:
        require(actor, TRIAGE_ROLES, "deciding a held call")
        reason = _reason(reason)
        current = self.held_status(HeldCallId(held_id))  # applies the timeout first
        if current.status is not HeldStatus.PENDING:
            raise MonitorConflict(f"held call {held_id} is {current.status.value}")
        with self._store.unit() as unit:
            decided = self._decide(unit, current, actor, approve=approve, reason=reason)
        return decided

    def _decide_pending(
        self,
        unit: MonitorUnit,
        session_id: SessionId,
        actor: Operator,
        *,
        approve: bool,
        reason: str,
    ) -> None:
        for held in unit.list_held(session_id=session_id, status=HeldStatus.PENDING):
            self._decide(unit, held, actor, approve=approve, reason=reason)

    def _decide(
        self, unit: MonitorUnit, held: HeldCall, actor: Operator, *, approve: bool, reason: str
    ) -> HeldCall:
        now = self._clock()
        status = HeldStatus.APPROVED if approve else HeldStatus.REJECTED
        if not approve or now < held.deadline:
            decided = replace(
                held,
                status=status,
                decided_at=now,
                decided_by=f"operator:{actor.id}",
                reason=reason,
            )
        else:  # the deadline passed: the timeout's rejection stands
            decided = replace(
                held,
                status=HeldStatus.EXPIRED,
                decided_at=now,
                decided_by="system",
                reason="no decision before the timeout",
            )
        unit.update_held(decided)
        unit.append(
            Event(
                f"monitor.held.{decided.status.value}",
                decided.decided_by or "system",
                held.id,
                now,
                {"session": held.session_id, "reason": reason},
            )
        )
        return decided


__all__ = ["CallVerdict", "MonitorService", "ToolCheck", "Verdict"]
