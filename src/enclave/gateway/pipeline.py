"""The governed path of one model call, as a pure ASGI handler.

    headers -> key -> principal -> body -> purpose, session -> route (tier -> variant)
      -> safeguards -> policy -> ledger reserve -> upstream -> response, chunk by chunk
      -> ledger post/void -> metrics -> event (queued; written in batches)

Pure ASGI rather than FastAPI endpoints: no dependency injection, no request object, no
response model on the hot path; each step is a plain call. Every failure is an
EnclaveError rendered once, in the API's native error shape (client_errors); anything
else is logged with the request id and answered as a 500 without a traceback.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from time import perf_counter
from typing import Any

import orjson
from starlette.types import Message, Receive, Scope, Send

from enclave.clock import Clock, utcnow
from enclave.config import Settings
from enclave.errors import EnclaveError
from enclave.events import content_hash
from enclave.gateway import sessions
from enclave.gateway.auth import Authenticator
from enclave.gateway.call import (
    PURPOSE_HEADER,
    Call,
    ClientHeaders,
    header_text,
    outcome_of,
    read_headers,
)
from enclave.gateway.client_errors import (
    Api,
    BadRequest,
    InternalError,
    MethodNotAllowed,
    PolicyDenied,
    PurposeDenied,
    SafeguardsBlocked,
    UpstreamError,
    UpstreamTimeout,
    error_body,
)
from enclave.gateway.metrics import GatewayMetrics
from enclave.gateway.providers.base import UpstreamCall, UpstreamReply
from enclave.gateway.recorder import Recorder
from enclave.gateway.routing import Route, Router
from enclave.gateway.seams import (
    Charge,
    Ledger,
    PolicyDecider,
    Reservation,
    Safeguards,
    Settlement,
)
from enclave.gateway.stream_guard import ToolCallGate
from enclave.gateway.streaming import StreamMeter, ToolCallStream, error_event, usage_of
from enclave.gateway.toolguard import refuse_calls
from enclave.gateway.validation import check, parse_body
from enclave.monitor import (
    Action,
    AnthropicStream,
    HeldCallId,
    HeldStatus,
    MonitorService,
    OpenAIStream,
    SessionContext,
    SessionTerminated,
    ToolCall,
    Verdict,
)
from enclave.policy.interface import Advice, PolicyRequest
from enclave.registry import Principal
from enclave.safeguards.interface import NONE

logger = logging.getLogger("enclave.gateway")

_SERVE = frozenset({Advice.ALLOW, Advice.FLAG})
# Every tool call in a response carries one of these keys or block types (enclave.monitor
# .extract: OpenAI tool_calls / legacy function_call; Anthropic tool_use,
# server_tool_use, mcp_tool_use). Providers serialise them as plain ASCII.
# How long an open session is trusted without reading its status again (see _open_session).
SESSION_TTL = timedelta(seconds=1)
# How often a running stream's usage is checkpointed to the ledger: at most this much
# output goes unbilled if the gateway dies mid-stream (docs/credits.md).
CHECKPOINT_SECONDS = 1.0
_MAX_SESSIONS = 10_000
_CALL_MARKERS = (b'"tool_calls"', b'"function_call"', b'tool_use"')
# Upstream refusals that are about the client's request: passed back unchanged.
_PASS_BACK = frozenset({400, 404, 409, 413, 422, 429})


class Pipeline:
    def __init__(
        self,
        *,
        settings: Settings,
        auth: Authenticator,
        policy: PolicyDecider,
        router: Router,
        recorder: Recorder,
        metrics: GatewayMetrics,
        safeguards: Safeguards | None = None,
        ledger: Ledger | None = None,
        monitor: MonitorService | None = None,
        clock: Clock = utcnow,
        hold_poll: float = 0.1,
    ) -> None:
        self._settings = settings
        self._purposes = frozenset(settings.purposes)
        self._auth = auth
        self._policy = policy
        self._router = router
        self._recorder = recorder
        self._metrics = metrics
        self._safeguards = safeguards
        self._ledger = ledger
        self._monitor = monitor
        self._hold_poll = hold_poll
        self._sessions: dict[tuple[str, str, str, str, str], tuple[datetime, SessionContext]] = {}
        self._clock = clock
        self._max_header_bytes = settings.gateway.max_header_bytes
        self._max_body = settings.max_body_bytes
        self._store_bodies = settings.gateway.store_bodies

    # -- the ASGI entry points -------------------------------------------------------

    async def chat_completions(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.handle("openai", scope, receive, send)

    async def messages(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.handle("anthropic", scope, receive, send)

    async def handle(self, api: Api, scope: Scope, receive: Receive, send: Send) -> None:
        call = Call(api, self._clock)
        try:
            if scope["method"] != "POST":
                raise MethodNotAllowed(f"{scope['method']} is not allowed here; use POST")
            await self._serve(call, scope, receive, send)
        except EnclaveError as exc:
            await self._fail(call, exc, send)
        except Exception:
            logger.exception("request %s failed", call.request_id)
            await self._fail(
                call, InternalError(f"internal error (request {call.request_id})"), send
            )
        finally:
            self._finish(call)

    # -- the governed path -------------------------------------------------------------

    def authenticate(self, scope: Scope) -> tuple[Principal, ClientHeaders]:
        headers = read_headers(scope, self._max_header_bytes)
        assert headers.secret is not None
        return self._auth.authenticate(headers.secret), headers

    async def read_body(self, receive: Receive) -> bytes:
        # RequestLimits (enclave.gateway.limits) has already bounded and buffered the body;
        # the cap here keeps this handler safe if it is ever mounted without it.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                raise BadRequest("the client closed the connection before sending the body")
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self._max_body:
                raise BadRequest(f"the request body is larger than {self._max_body} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def purpose(self, principal: Principal, header: bytes | None) -> str:
        on_key = principal.key.purposes
        if header is None:
            if len(on_key) == 1:
                return on_key[0]
            raise BadRequest(
                "X-Enclave-Purpose is required: this key was issued for " + ", ".join(on_key),
                param="X-Enclave-Purpose",
            )
        purpose = header_text(PURPOSE_HEADER, header).strip()
        if purpose not in self._purposes:
            raise BadRequest(
                f"unknown purpose {purpose!r}",
                hint="one of " + ", ".join(sorted(self._purposes)),
                param="X-Enclave-Purpose",
            )
        # Also a Cedar forbid (purpose-not-on-key); checked here too so that the binding
        # holds even if an operator's policy edit drops that forbid.
        if purpose not in on_key:
            raise PurposeDenied(
                f"purpose {purpose!r} is not on this key",
                hint="this key was issued for " + ", ".join(on_key),
                param="X-Enclave-Purpose",
            )
        if purpose not in self._settings.tiers[principal.tier].purposes:
            raise PurposeDenied(
                f"purpose {purpose!r} is not allowed for the {principal.tier} tier",
                param="X-Enclave-Purpose",
            )
        return purpose

    async def _serve(self, call: Call, scope: Scope, receive: Receive, send: Send) -> None:
        principal, headers = self.authenticate(scope)
        call.principal = principal
        body = await self.read_body(receive)
        call.bytes_in = len(body)
        call.request_hash = content_hash(body)
        if self._store_bodies:
            call.bodies.append((call.request_hash, body))
        request = parse_body(body)
        model, stream = check(call.api, request)
        call.model, call.stream = model, stream
        call.purpose = self.purpose(principal, headers.purpose)
        if headers.session is not None:
            call.session = sessions.parse(headers.session)
        else:
            call.session = sessions.derive(call.api, principal.org.id, request)
        route = self._router.resolve(model, principal.tier, call.api)
        call.variant, call.provider = route.variant, route.provider.name
        watch: SessionContext | None = None
        if self._monitor is not None:
            # First: a terminated session is refused before anything else is spent on it.
            watch = self._open_session(call, principal, model, route.variant)

        context: Mapping[str, Any] = {}
        if self._safeguards is not None:
            verdict = self._safeguards.classify_request(request, call.api)
            if self._safeguards.needs_judge(verdict):
                # Only uncertain verdicts with a judge configured leave the fast path.
                verdict = await self._safeguards.assess_request(request, call.api, principal.tier)
            call.verdict = verdict
            context = verdict.cedar_context()
        decision = self._policy.decide(
            PolicyRequest(
                principal=principal,
                action="invoke",
                model=model,
                variant=route.variant,
                purpose=call.purpose,
                session_id=call.session,
                context=context,
            )
        )
        call.decision = decision
        self._metrics.decided(decision.advice.value)
        if not decision.allowed or decision.advice not in _SERVE:
            # HOLD from a permit ("serve after review") or a forbid ("refuse pending
            # review"): either way nothing is served now; the monitor owns held sessions.
            held = decision.advice is Advice.HOLD
            seen = call.verdict
            if not held and seen is not None and seen.category != NONE:
                # The reference is the request id: it is in the recorded event (and the
                # x-enclave-request-id header), so an appeal can find the verdict.
                raise SafeguardsBlocked(
                    f"refused by policy ({', '.join(decision.policies) or 'default deny'}): "
                    f"the request was classified as {seen.category} "
                    f"(score {seen.score:.4f}); to appeal, quote reference "
                    f"{call.request_id}",
                    category=str(seen.category),
                    reference=call.request_id,
                )
            raise PolicyDenied(
                ("held for an operator's review: " if held else "refused by policy: ")
                + decision.reason
            )

        if watch is not None:
            await self._watch_request(call, watch, request)

        reservation: Reservation | None = None
        if self._ledger is not None:
            # Last before the upstream: a request refused above reserved nothing.
            reservation = await self._ledger.reserve(
                Charge(
                    call.request_id, principal, model, route.variant, request, len(body), call.api
                )
            )
            call.charged = True
            call.transfer = reservation.id
        try:
            await self._forward(call, route, request, headers, receive, send, watch, reservation)
        except BaseException:
            if reservation is not None and self._ledger is not None and not call.delivered:
                await self._ledger.void(reservation, call.outcome)
                call.charged_amount = 0
                reservation = None
            raise
        finally:
            if reservation is not None and self._ledger is not None:
                settlement = Settlement(call.usage, call.outcome, call.delivered or {})
                if call.outcome == "ok" or call.delivered:
                    call.charged_amount = await self._ledger.post(reservation, settlement)
                else:
                    await self._ledger.void(reservation, call.outcome)
                    call.charged_amount = 0

    async def _forward(
        self,
        call: Call,
        route: Route,
        request: dict[str, Any],
        headers: ClientHeaders,
        receive: Receive,
        send: Send,
        watch: SessionContext | None = None,
        hold: Reservation | None = None,
    ) -> None:
        request["model"] = route.variant
        hide_usage = False
        if call.stream and call.api == "openai" and route.provider.stream_usage:
            options = request.get("stream_options") or {}
            if options.get("include_usage") is not True:
                request["stream_options"] = {**options, "include_usage": True}
                hide_usage = True
        upstream = UpstreamCall(
            call.api,
            orjson.dumps(request),
            call.stream,
            tuple(headers.forwarded),
        )
        began = perf_counter()
        try:
            reply = await route.provider.send(upstream)
        except UpstreamError as exc:
            call.upstream_wait += perf_counter() - began
            self._upstream_failed(call, exc)
            raise
        if hold is not None and self._ledger is not None:
            # Nothing reaches the client before its reservation has committed.
            try:
                await self._ledger.confirm(hold)
            except BaseException:
                reply.abort()  # refused: the upstream's answer is never read
                call.charged = False
                call.transfer = None
                raise
        if reply.status != 200 or not call.stream:
            try:
                body = await reply.read()
            except UpstreamError as exc:
                call.upstream_wait += perf_counter() - began
                self._upstream_failed(call, exc)
                raise
            call.upstream_wait += perf_counter() - began
            await reply.release()
            if reply.status != 200:
                await self._upstream_refused(call, reply, body, send)
                return
            call.usage = usage_of(call.api, body)
            extra = reply.passthrough
            if watch is not None:
                changed = await self._watch_response(call, watch, body)
                if changed is not None:
                    # Rewritten: the upstream's content-length no longer applies.
                    body = changed
                    extra = tuple(h for h in extra if h[0] != b"content-length")
            await self._respond(call, 200, reply.content_type, body, send, extra)
            call.outcome = "ok"
            return
        call.upstream_wait += perf_counter() - began
        await self._stream(call, reply, hide_usage, receive, send, watch, hold)

    # -- the monitor (issue 7; docs/monitor.md "The gateway's contract") -------------------

    def _open_session(
        self, call: Call, principal: Principal, model: str, variant: str
    ) -> SessionContext:
        """monitor.open_session, remembered for SESSION_TTL: the check is a database
        read (measured ~0.13 ms alone, ~0.35 ms of added p50 in `make bench-gateway`),
        and an agent sends many calls per session. A termination by the monitor's
        policy in this process applies at once (the entry is dropped); one by an
        operator, or in another gateway process, within SESSION_TTL."""
        assert self._monitor is not None and call.session is not None
        assert call.purpose is not None
        key = (principal.key.id, call.session, call.purpose, model, variant)
        now = self._clock()
        found = self._sessions.get(key)
        if found is not None and now - found[0] < SESSION_TTL:
            return found[1]
        ctx = self._monitor.open_session(
            principal,
            client_session_id=call.session,
            purpose=call.purpose,
            model=model,
            variant=variant,
        )
        if len(self._sessions) >= _MAX_SESSIONS:
            self._sessions.clear()  # bounded; refilled by the next calls
        self._sessions[key] = (now, ctx)
        return ctx

    def _forget_session(self, session: str | None) -> None:
        for key in [k for k in self._sessions if k[1] == session]:
            del self._sessions[key]

    async def _watch_request(
        self, call: Call, watch: SessionContext, request: dict[str, Any]
    ) -> None:
        """The tool results the request brings; a result that terminates the session
        refuses this very call."""
        assert self._monitor is not None
        seen = self._monitor.observe_request(watch, call.api, request)
        if seen.results:
            call.note_monitor(seen)
        if seen.action is Action.TERMINATE:
            self._forget_session(call.session)
            raise SessionTerminated(
                f"session {call.session!r} was terminated by the monitor",
                hint="; ".join(r.reason for r in seen.results if r.reason) or None,
            )

    async def _watch_response(self, call: Call, watch: SessionContext, body: bytes) -> bytes | None:
        """Apply the monitor's actions to a whole response; the new body when a call was
        refused, else None (sent unchanged)."""
        assert self._monitor is not None
        if not any(marker in body for marker in _CALL_MARKERS):
            return None  # no tool call in it: nothing to decode again (most responses)
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None  # not JSON: no tool calls to see (the client gets what came)
        if not isinstance(parsed, dict):
            return None
        verdict = self._monitor.observe_response(watch, call.api, parsed)
        refused = await self._refusals(call, verdict)
        if not refused:
            return None
        return refuse_calls(call.api, parsed, refused)

    async def _refusals(self, call: Call, verdict: Verdict) -> dict[str, str]:
        """The monitor's verdict applied: the calls to refuse (id -> reason), after
        waiting out every hold (whole responses and streams alike)."""
        if not verdict.calls:
            return {}
        call.note_monitor(verdict)
        if verdict.action is Action.TERMINATE:
            self._forget_session(call.session)
        refused: dict[str, str] = {}
        for seen in verdict.calls:
            if verdict.action is Action.TERMINATE:
                refused[seen.tool_call_id] = "the session was terminated by the monitor"
            elif seen.action is Action.BLOCK:
                refused[seen.tool_call_id] = "blocked by the monitor: " + seen.reason
            elif seen.action is Action.HOLD and seen.held_id is not None:
                # Withheld until an operator decides or the hold times out.
                outcome = await self._await_held(seen.held_id)
                call.held[seen.tool_call_id] = outcome.value
                if outcome is not HeldStatus.APPROVED:
                    refused[seen.tool_call_id] = (
                        f"held for an operator's review and {outcome.value}: " + seen.reason
                    )
        return refused

    async def _await_held(self, held_id: HeldCallId) -> HeldStatus:
        assert self._monitor is not None
        while True:
            # held_status applies the timeout itself (a pending call past its deadline
            # reads as expired), so this ends by the monitor's hold_timeout at the latest.
            status = self._monitor.held_status(held_id).status
            if status is not HeldStatus.PENDING:
                return status
            await asyncio.sleep(self._hold_poll)

    def _upstream_failed(self, call: Call, exc: UpstreamError) -> None:
        kind = "timeout" if isinstance(exc, UpstreamTimeout) else "connect"
        call.outcome = "upstream_timeout" if kind == "timeout" else "upstream_error"
        self._metrics.upstream_errors.labels(call.provider or "-", kind).inc()

    async def _upstream_refused(
        self, call: Call, reply: UpstreamReply, body: bytes, send: Send
    ) -> None:
        status = reply.status
        self._metrics.upstream_errors.labels(call.provider or "-", f"status_{status}").inc()
        if status in _PASS_BACK:
            # The same API on both sides: the upstream's error object is already native.
            call.outcome = "rate_limited" if status == 429 else "upstream_rejected"
            await self._respond(call, status, reply.content_type, body, send, reply.passthrough)
            return
        call.outcome = "upstream_error"
        if status in (408, 504):
            call.outcome = "upstream_timeout"
            raise UpstreamTimeout(f"provider {call.provider} timed out (HTTP {status})")
        if status in (401, 403):
            raise UpstreamError(f"provider {call.provider} refused the gateway's credentials")
        raise UpstreamError(f"provider {call.provider} failed with HTTP {status}")

    async def _respond(
        self,
        call: Call,
        status: int,
        content_type: bytes,
        body: bytes,
        send: Send,
        extra: tuple[tuple[bytes, bytes], ...] = (),
    ) -> None:
        headers = call.headers(content_type)
        headers.append((b"content-length", b"%d" % len(body)))
        headers.extend(extra)
        call.response_started = True
        call.status = status
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        call.bytes_out = len(body)
        call.response_hash = content_hash(body)
        if self._store_bodies:
            call.bodies.append((call.response_hash, body))

    # -- streams ----------------------------------------------------------------------

    async def _stream(
        self,
        call: Call,
        reply: UpstreamReply,
        hide_usage: bool,
        receive: Receive,
        send: Send,
        watch: SessionContext | None = None,
        hold: Reservation | None = None,
    ) -> None:
        calls: ToolCallStream | None = None
        if watch is not None:
            calls = OpenAIStream() if call.api == "openai" else AnthropicStream()
        gate = ToolCallGate(call.api, calls) if calls is not None else None
        meter = StreamMeter(call.api, hide_usage_chunk=hide_usage, gate=gate)
        headers = call.headers(reply.content_type)
        headers.append((b"cache-control", b"no-cache"))
        headers.append((b"x-accel-buffering", b"no"))  # proxies in front must not buffer
        call.response_started = True
        call.status = 200
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        digest = hashlib.sha256()
        kept: list[bytes] | None = [] if self._store_bodies else None
        pump = asyncio.create_task(
            self._pump(call, reply, meter, send, digest, kept, watch, calls, hold)
        )
        gone = asyncio.create_task(_disconnected(receive))
        try:
            await asyncio.wait((pump, gone), return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not pump.done():
                # The client went away (or the server is stopping): closing the upstream
                # connection is what cancels the generation there.
                pump.cancel()
                reply.abort()
                call.outcome = "client_disconnected"
                await asyncio.gather(pump, return_exceptions=True)
            gone.cancel()
            call.usage = meter.usage
            call.delivered = meter.delivered()
            call.bytes_out = meter.bytes
            call.response_hash = "sha256:" + digest.hexdigest()
            if kept is not None:
                joined = b"".join(kept)
                call.bodies.append((call.response_hash, joined))
            self._metrics.stream_bytes.labels(call.api).inc(meter.bytes)
        if pump.done() and not pump.cancelled() and pump.exception() is not None:
            raise pump.exception()  # type: ignore[misc]

    async def _pump(
        self,
        call: Call,
        reply: UpstreamReply,
        meter: StreamMeter,
        send: Send,
        digest: Any,
        kept: list[bytes] | None,
        watch: SessionContext | None = None,
        calls: ToolCallStream | None = None,
        hold: Reservation | None = None,
    ) -> None:
        waited = perf_counter()
        checkpointed = waited
        broken = b""
        try:
            async for data in reply.chunks():
                call.upstream_wait += perf_counter() - waited
                out = meter.feed(data)
                if meter.waiting and watch is not None:
                    # A tool call is complete: what came before it goes now; the call,
                    # and what follows it, once the monitor has judged it.
                    await _chunk(send, out, digest, kept)
                    out = meter.release(await self._judge(call, watch, meter.waiting))
                await _chunk(send, out, digest, kept)
                if hold is not None and perf_counter() - checkpointed >= CHECKPOINT_SECONDS:
                    # The crash contract (docs/credits.md, "Usage checkpoints"): if this
                    # process dies now, the sweeper bills what was recorded here.
                    assert self._ledger is not None
                    checkpointed = perf_counter()
                    usage = Settlement(meter.usage, "streaming", meter.delivered())
                    await self._ledger.checkpoint(hold, usage)
                waited = perf_counter()
            call.upstream_wait += perf_counter() - waited
            tail = meter.rest()
            call.outcome = "ok" if meter.complete else "upstream_incomplete"
            if meter.error is not None:
                call.outcome = "upstream_stream_error"
        except UpstreamError as exc:
            # Headers are sent: the client learns of the failure from a native in-stream
            # error event, and the record says how much it got before.
            call.upstream_wait += perf_counter() - waited
            timeout = isinstance(exc, UpstreamTimeout)
            call.outcome = "upstream_timeout" if timeout else "upstream_broken"
            kind = "stream_timeout" if timeout else "stream_broken"
            self._metrics.upstream_errors.labels(call.provider or "-", kind).inc()
            native = "timeout_error" if timeout else "api_error"
            tail = meter.rest()
            broken = error_event(call.api, native, exc.message)
        if watch is not None and calls is not None:
            meter.end_calls()
            if meter.waiting:
                tail += meter.release(await self._judge(call, watch, meter.waiting))
            tail += meter.flush()
        tail += broken
        if tail:
            digest.update(tail)
            if kept is not None:
                kept.append(tail)
        await send({"type": "http.response.body", "body": tail, "more_body": False})

    async def _judge(
        self, call: Call, watch: SessionContext, calls: Sequence[ToolCall]
    ) -> dict[str, str]:
        """A stream's completed tool calls, judged while their events are withheld
        (stream_guard): the refusals, as for a whole response. See docs/monitor.md."""
        assert self._monitor is not None
        return await self._refusals(call, self._monitor.observe_calls(watch, list(calls)))

    # -- failure, metrics, record ------------------------------------------------------

    async def _fail(self, call: Call, error: EnclaveError, send: Send) -> None:
        if call.outcome in ("error", "ok"):
            call.outcome = outcome_of(error)
        if call.response_started:
            return  # a stream already under way ends with its own in-stream error
        status, body = error_body(call.api, error, call.request_id)
        headers = call.headers(b"application/json")
        headers.append((b"content-length", b"%d" % len(body)))
        if status == 401:
            headers.append((b"www-authenticate", b'Bearer realm="enclave"'))  # RFC 6750 §3
        retry_after = getattr(error, "retry_after", None)
        if status == 429 and isinstance(retry_after, str):
            headers.append((b"retry-after", retry_after.encode("ascii")))  # RFC 9110 §10.2.3
        call.status = status
        call.response_started = True
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        call.bytes_out = len(body)

    def _finish(self, call: Call) -> None:
        total = perf_counter() - call.started
        overhead = max(total - call.upstream_wait, 0.0)
        self._metrics.observe(
            api=call.api,
            stream=call.stream,
            status=call.status,
            outcome=call.outcome,
            total=total,
            overhead=overhead,
        )
        self._recorder.record(call.event(total, overhead), call.bodies)


async def _chunk(send: Send, out: bytes, digest: Any, kept: list[bytes] | None) -> None:
    if out:
        await send({"type": "http.response.body", "body": out, "more_body": True})
        digest.update(out)
        if kept is not None:
            kept.append(out)


async def _disconnected(receive: Receive) -> None:
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            return


__all__ = ["Pipeline"]
