"""Monitor domain: the values that flow from a tool call to an alert, and the stores.

A tool call (from a model response) or a tool result (from the next request) becomes a
:class:`ToolEvent`: a flat record of named fields (see ``FIELDS``) that Sigma rules match.
Matches become :class:`Alert` values, each with a category from ``Category``; the policy
turns alerts into an :class:`Action`. Nothing here imports a web framework or a database
driver: storage is behind :class:`MonitorStore`, implemented in ``enclave.store``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal, NewType, Protocol

from enclave.errors import Conflict, EnclaveError, InputError, NotFound
from enclave.events import EventReader, EventWriter

SessionId = NewType("SessionId", str)  # internal id: hash of (organisation, client session id)
AlertId = NewType("AlertId", str)
HeldCallId = NewType("HeldCallId", str)

Api = Literal["openai", "anthropic"]


class Category(StrEnum):
    """The shipped categories (exact strings: alerts, policies and reports use them)."""

    SCOPE_VIOLATION = "scope-violation"
    CREDENTIAL_ACCESS = "credential-access"
    SANDBOX_ESCAPE = "sandbox-escape"
    PRIVILEGE_ESCALATION = "privilege-escalation"
    LATERAL_MOVEMENT = "lateral-movement"
    EXFILTRATION = "exfiltration"
    PUBLIC_DISCLOSURE = "public-disclosure"
    UNSOLICITED_CONTACT = "unsolicited-contact"
    TRACK_COVERING = "track-covering"
    PERSISTENCE = "persistence"


class Severity(StrEnum):
    """Sigma's `level` values, in increasing order."""

    INFORMATIONAL = "informational"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {s: i for i, s in enumerate(Severity)}


class Action(StrEnum):
    """What the gateway does with a tool call; the same strings as the policy's advice."""

    ALLOW = "allow"
    FLAG = "flag"
    HOLD = "hold"
    BLOCK = "block"
    TERMINATE = "terminate"

    @property
    def rank(self) -> int:
        return _ACTION_RANK[self]


_ACTION_RANK = {a: i for i, a in enumerate(Action)}


class SessionStatus(StrEnum):
    ACTIVE = "active"
    HELD = "held"  # an operator holds the session: every tool call waits for review
    TERMINATED = "terminated"  # further calls with this session id are refused


class AlertStatus(StrEnum):
    OPEN = "open"
    ACKED = "acked"
    RESOLVED = "resolved"


class HeldStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"  # the timeout rejected it


class EventKind(StrEnum):
    SHELL = "shell"
    FILE_READ = "file_read"
    FILE_WRITE = "file_write"
    FILE_DELETE = "file_delete"
    HTTP = "http"
    EMAIL = "email"
    MESSAGE = "message"  # a post to a chat, forum, issue tracker or social site
    CODE = "code"
    SEARCH = "search"
    TOOL_RESULT = "tool_result"
    OTHER = "other"


# The fields a normalised event may carry, each a tuple of strings (possibly empty) except
# `tool`, `kind`, `api` and `tool_call_id`. Operator rules naming any other field are
# rejected at load: a typo would otherwise be a rule that silently never matches.
FIELDS: frozenset[str] = frozenset(
    {
        "tool",  # the tool's name as the model called it
        "kind",  # EventKind value
        "api",
        "tool_call_id",
        "command",  # the whole command line(s) as given
        "commands",  # each simple command, after unwrapping bash -c, eval, base64|sh
        "executable",  # basename of each simple command's program, lower case
        "args",  # every argument of every simple command
        "paths",  # every path mentioned
        "paths_read",
        "paths_written",
        "paths_deleted",
        "urls",
        "hosts",  # hosts and addresses contacted (targets)
        "ports",
        "methods",  # HTTP methods of requests made
        "recipients",  # e-mail addresses written to
        "external_recipients",  # recipients outside the session's scope domains
        "out_of_scope",  # targets outside the session's scope
        "code",  # program text (python -c, code tools)
        "content",  # data written, posted or mailed
        "decoded",  # payloads decoded from base64
        "raw",  # the raw arguments (bounded)
        "result",  # a tool result's text (bounded)
        "parse_error",  # why arguments could not be parsed, if they could not
    }
)


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One tool call as the model emitted it (arguments unparsed, as the API carried them)."""

    id: str
    name: str
    arguments: str  # JSON text for OpenAI; JSON-serialised `input` for Anthropic
    api: Api
    index: int = 0


@dataclass(frozen=True, slots=True)
class ToolResult:
    """A tool's output, sent back by the harness in the following request."""

    tool_call_id: str
    content: str
    api: Api
    is_error: bool = False
    tool: str = ""  # the called tool's name, when the request's history names it


@dataclass(frozen=True, slots=True)
class ToolEvent:
    """A normalised tool call or result: `fields` maps names in FIELDS to values."""

    tool_call_id: str
    tool: str
    kind: EventKind
    fields: Mapping[str, str | tuple[str, ...]]

    def values(self, name: str) -> tuple[str, ...]:
        value = self.fields.get(name, ())
        return (value,) if isinstance(value, str) else value


@dataclass(frozen=True, slots=True)
class RuleMatch:
    """A rule that fired on an event (or, for a correlation, on a sequence of events)."""

    rule_id: str
    title: str
    category: Category
    severity: Severity
    tool_call_id: str
    correlation: bool = False
    related: tuple[str, ...] = ()  # tool call ids of earlier events a correlation joined


@dataclass(frozen=True, slots=True)
class Alert:
    id: AlertId
    session_id: SessionId
    category: Category
    rule_id: str
    title: str
    severity: Severity
    action: Action
    tool_call_id: str
    status: AlertStatus
    created_at: datetime
    evidence: Mapping[str, object] = field(default_factory=dict)
    event_seqs: tuple[int, ...] = ()  # rows of the events table (audit-log entries)
    acked_by: str | None = None
    acked_at: datetime | None = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    resolution: str | None = None


@dataclass(frozen=True, slots=True)
class Session:
    id: SessionId
    client_session_id: str
    org_id: str
    key_id: str
    tier: str
    purpose: str
    status: SessionStatus
    created_at: datetime
    updated_at: datetime
    events: int = 0
    alerts: int = 0
    status_reason: str | None = None
    status_by: str | None = None


@dataclass(frozen=True, slots=True)
class HeldCall:
    id: HeldCallId
    session_id: SessionId
    tool_call_id: str
    tool: str
    arguments: str  # bounded copy, for the reviewer
    alert_ids: tuple[AlertId, ...]
    status: HeldStatus
    created_at: datetime
    deadline: datetime
    decided_at: datetime | None = None
    decided_by: str | None = None
    reason: str | None = None


class MonitorError(EnclaveError):
    code = "monitor_error"


class MonitorInputError(MonitorError, InputError):
    code = "invalid_input"


class RuleError(MonitorInputError):
    """A rule file that cannot be loaded; the message names the file and line."""

    code = "invalid_rule"


class UnknownMonitorEntity(MonitorError, NotFound):
    code = "not_found"


class MonitorConflict(MonitorError, Conflict):
    code = "conflict"


class SessionTerminated(MonitorConflict):
    """A call arrived for a session an operator (or a policy) terminated."""

    code = "session_terminated"


class MonitorUnit(EventWriter, EventReader, Protocol):
    """One transaction over the monitor tables and the events table."""

    def get_session(self, session_id: SessionId) -> Session | None: ...
    def insert_session(self, session: Session) -> None: ...
    def update_session(self, session: Session) -> None: ...
    def add_session_counts(
        self, session_id: SessionId, *, events: int, alerts: int, at: datetime
    ) -> None: ...
    def list_sessions(
        self, *, status: SessionStatus | None = None, limit: int = 100
    ) -> list[Session]: ...

    def insert_alerts(self, alerts: Sequence[Alert]) -> None: ...
    def get_alert(self, alert_id: AlertId) -> Alert | None: ...
    def update_alert(self, alert: Alert) -> None: ...
    def list_alerts(
        self,
        *,
        status: AlertStatus | None = None,
        session_id: SessionId | None = None,
        category: Category | None = None,
        limit: int = 100,
    ) -> list[Alert]: ...

    def insert_held(self, held: Sequence[HeldCall]) -> None: ...
    def get_held(self, held_id: HeldCallId) -> HeldCall | None: ...
    def update_held(self, held: HeldCall) -> None: ...
    def list_held(
        self, *, session_id: SessionId | None = None, status: HeldStatus | None = None
    ) -> list[HeldCall]: ...


class MonitorStore(Protocol):
    def unit(self) -> AbstractContextManager[MonitorUnit]: ...
    def reader(self) -> AbstractContextManager[MonitorUnit]: ...


__all__ = [
    "FIELDS",
    "Action",
    "Alert",
    "AlertId",
    "AlertStatus",
    "Api",
    "Category",
    "EventKind",
    "HeldCall",
    "HeldCallId",
    "HeldStatus",
    "MonitorConflict",
    "MonitorError",
    "MonitorInputError",
    "MonitorStore",
    "MonitorUnit",
    "RuleError",
    "RuleMatch",
    "Session",
    "SessionId",
    "SessionStatus",
    "SessionTerminated",
    "Severity",
    "ToolCall",
    "ToolEvent",
    "ToolResult",
    "UnknownMonitorEntity",
]
