"""One client-API request as the governed path sees it: its headers, and the record it
leaves (the `gateway.request` event; docs/gateway.md, "Events")."""

from __future__ import annotations

import secrets
from time import perf_counter
from typing import Any

from starlette.types import Scope

from enclave.clock import Clock
from enclave.errors import EnclaveError
from enclave.events import Event
from enclave.gateway import sessions
from enclave.gateway.client_errors import (
    Api,
    BadRequest,
    HeadersTooLarge,
    MissingCredential,
    UpstreamError,
    UpstreamTimeout,
)
from enclave.gateway.streaming import Usage
from enclave.monitor import Action
from enclave.monitor import Verdict as MonitorVerdict
from enclave.policy.interface import PolicyDecision
from enclave.registry import Principal
from enclave.safeguards.interface import Verdict

PURPOSE_HEADER = b"x-enclave-purpose"
_FORWARDED = (b"anthropic-version", b"anthropic-beta")


class Call:
    """Everything one request learns on its way, for the response, metrics and record."""

    __slots__ = (
        "api",
        "at",
        "bodies",
        "bytes_in",
        "bytes_out",
        "decision",
        "delivered",
        "held",
        "model",
        "monitor",
        "outcome",
        "principal",
        "provider",
        "purpose",
        "request_hash",
        "request_id",
        "response_hash",
        "response_started",
        "session",
        "started",
        "status",
        "stream",
        "charged",
        "charged_amount",
        "transfer",
        "upstream_wait",
        "usage",
        "variant",
        "verdict",
    )

    def __init__(self, api: Api, clock: Clock) -> None:
        self.started = perf_counter()
        self.at = clock()
        self.api: Api = api
        self.request_id = "req_" + secrets.token_hex(12)
        self.principal: Principal | None = None
        self.model: str | None = None
        self.variant: str | None = None
        self.provider: str | None = None
        self.purpose: str | None = None
        self.session: str | None = None
        self.decision: PolicyDecision | None = None
        self.status = 500
        self.outcome = "error"
        self.stream = False
        self.bytes_in = 0
        self.bytes_out = 0
        self.usage: Usage | None = None
        self.delivered: dict[str, int] | None = None
        self.upstream_wait = 0.0
        self.request_hash: str | None = None
        self.response_hash: str | None = None
        self.response_started = False
        self.verdict: Verdict | None = None
        self.monitor: dict[str, Any] | None = None
        self.held: dict[str, str] = {}
        self.charged = False
        self.transfer: str | None = None  # the ledger's pending transfer id
        self.charged_amount: int | None = None  # micro-credits posted (0 when voided)
        self.bodies: list[tuple[str, bytes]] = []

    def note_monitor(self, verdict: MonitorVerdict) -> None:
        """What the monitor decided (actions and rule ids; never the arguments)."""
        seen = [*verdict.calls, *verdict.results]
        previous = self.monitor or {}
        self.monitor = {
            "action": max(
                [verdict.action.value, previous.get("action", "allow")],
                key=lambda a: Action(a).rank,
            ),
            "tool_calls": previous.get("tool_calls", 0) + len(verdict.calls),
            "tool_results": previous.get("tool_results", 0) + len(verdict.results),
            "alerts": [*previous.get("alerts", []), *(str(a.id) for c in seen for a in c.alerts)],
            "actions": {
                **previous.get("actions", {}),
                **{c.tool_call_id: c.action.value for c in verdict.calls},
            },
        }

    def headers(self, content_type: bytes) -> list[tuple[bytes, bytes]]:
        headers = [
            (b"content-type", content_type),
            (b"x-enclave-request-id", self.request_id.encode()),
        ]
        if self.session is not None:
            headers.append((sessions.HEADER, self.session.encode("latin-1")))
        return headers

    def event(self, total: float, overhead: float) -> Event:
        principal = self.principal
        decision = self.decision
        data: dict[str, Any] = {
            "request_id": self.request_id,
            "api": self.api,
            "org": principal.org.id if principal else None,
            "tier": principal.tier if principal else None,
            "key": principal.key.id if principal else None,
            "model": self.model,
            "variant": self.variant,
            "provider": self.provider,
            "purpose": self.purpose,
            "session": self.session,
            "decision": None
            if decision is None
            else {
                "allowed": decision.allowed,
                "advice": decision.advice.value,
                "policies": list(decision.policies),
                "errors": list(decision.errors),
            },
            "status": self.status,
            "outcome": self.outcome,
            "stream": self.stream,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "usage": self.usage.as_dict() if self.usage else None,
            "delivered": self.delivered,
            "request_sha256": self.request_hash,
            "response_sha256": self.response_hash,
            "monitor": None if self.monitor is None else {**self.monitor, "held": self.held},
            "screened": self.verdict is not None,
            # The verdict, never the text: category and score (and what produced it).
            "safeguards": None
            if self.verdict is None
            else {
                "category": str(self.verdict.category),
                "score": round(self.verdict.score, 4),
                "source": self.verdict.source,
            },
            "charged": self.charged,
            "transfer": self.transfer,
            "amount": self.charged_amount,
            "latency_ms": round(total * 1000, 3),
            "upstream_ms": round(self.upstream_wait * 1000, 3),
            "overhead_ms": round(overhead * 1000, 3),
        }
        return Event(
            kind="gateway.request",
            actor=f"key:{principal.key.id}" if principal else "anonymous",
            subject=self.session or self.request_id,
            at=self.at,
            data=data,
        )


class ClientHeaders:
    """What a request's headers say: its key, purpose, session and forwarded headers."""

    __slots__ = ("forwarded", "purpose", "secret", "session")

    def __init__(self) -> None:
        self.secret: str | None = None
        self.purpose: bytes | None = None
        self.session: bytes | None = None
        self.forwarded: list[tuple[str, str]] = []


def header_text(name: bytes, value: bytes) -> str:
    # RFC 9110 §5.5: field values are visible ASCII and spaces; nothing else is forwarded.
    if len(value) > 512 or not all(32 <= b < 127 for b in value):
        raise BadRequest(f"header {name.decode()} is malformed", param=name.decode())
    return value.decode("ascii")


def read_headers(scope: Scope, max_bytes: int) -> ClientHeaders:
    """The headers the gateway acts on, in one pass; the key from ``Authorization:
    Bearer`` (OpenAI SDK) or ``x-api-key`` (Anthropic SDK)."""
    found = ClientHeaders()
    size = 0
    bearer: str | None = None
    api_key: str | None = None
    for name, value in scope["headers"]:
        size += len(name) + len(value)
        if name == b"authorization":
            scheme, _, token = value.partition(b" ")
            if scheme.lower() != b"bearer" or not token.strip():
                raise MissingCredential(
                    "Authorization must be 'Bearer <key>'", hint="or send the key in x-api-key"
                )
            bearer = token.strip().decode("latin-1")
        elif name == b"x-api-key":
            api_key = value.strip().decode("latin-1")
        elif name == PURPOSE_HEADER:
            found.purpose = value
        elif name == sessions.HEADER:
            found.session = value
        elif name in _FORWARDED:
            found.forwarded.append((name.decode(), header_text(name, value)))
    if size > max_bytes:
        raise HeadersTooLarge(f"request headers exceed {max_bytes} bytes")
    if bearer is not None and api_key is not None and bearer != api_key:
        raise BadRequest("Authorization and x-api-key carry different keys; send one")
    found.secret = bearer if bearer is not None else api_key
    if not found.secret:
        raise MissingCredential(
            "no API key", hint="send 'Authorization: Bearer enc_...' or 'x-api-key: enc_...'"
        )
    return found


def outcome_of(error: EnclaveError) -> str:
    if isinstance(error, UpstreamTimeout):
        return "upstream_timeout"
    if isinstance(error, UpstreamError):
        return "upstream_error"
    if error.code == "session_terminated":
        return "session_terminated"
    if error.status == 401:
        return "unauthenticated"
    if error.status == 403:
        return "denied"
    if error.code == "insufficient_quota":
        return "insufficient_credits"
    if error.status == 429:
        return "rate_limited"
    if error.status >= 500:
        return "error"
    return "invalid"


__all__ = ["PURPOSE_HEADER", "Call", "ClientHeaders", "header_text", "outcome_of", "read_headers"]
