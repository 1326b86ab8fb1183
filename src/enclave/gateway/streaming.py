"""Server-sent events passing through: split, count, and read the usage on the way.

Bytes are forwarded per complete SSE event (the HTML Living Standard, "Server-sent
events", §9.2.5: an event ends at a blank line), as they arrive; nothing waits for the
end of the response. Each event is parsed only to count what was delivered and to read
the upstream's usage, which the record and later the ledger settle on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from enclave.gateway.client_errors import Api
from enclave.monitor import ToolCall


class ToolCallStream(Protocol):
    """enclave.monitor's OpenAIStream / AnthropicStream: tool calls out of decoded
    stream events, each returned once it is complete."""

    def feed(self, chunk: Mapping[str, Any]) -> list[ToolCall]: ...

    def finish(self) -> list[ToolCall]: ...


class EventGate(Protocol):
    """stream_guard.ToolCallGate: holds back the events of tool calls until judged."""

    waiting: list[ToolCall]

    def admit(self, raw: bytes, parsed: dict[str, Any] | None) -> bytes: ...

    def finish(self) -> None: ...

    def release(self, refused: Mapping[str, str]) -> bytes: ...

    def flush(self) -> bytes: ...


# An event ends at a blank line; CRLF, LF and CR line endings are all legal.
_BOUNDARY = re.compile(rb"\r\n\r\n|\n\n|\r\r")


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts as the upstream reported them, in one vocabulary for both APIs."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
        }


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def openai_usage(raw: Any) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    details = raw.get("prompt_tokens_details")
    cached = _int(details.get("cached_tokens")) if isinstance(details, dict) else 0
    return Usage(_int(raw.get("prompt_tokens")), _int(raw.get("completion_tokens")), cached)


def anthropic_usage(raw: Any, base: Usage | None = None) -> Usage | None:
    if not isinstance(raw, dict):
        return base
    base = base or Usage()
    # message_delta carries cumulative output_tokens and, since 2025, may repeat input.
    return Usage(
        _int(raw.get("input_tokens")) or base.input_tokens,
        _int(raw.get("output_tokens")) or base.output_tokens,
        _int(raw.get("cache_read_input_tokens")) or base.cache_read_tokens,
        _int(raw.get("cache_creation_input_tokens")) or base.cache_write_tokens,
    )


def usage_of(api: Api, body: bytes) -> Usage | None:
    """Usage from a whole (non-streamed) response body, if it has one."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(parsed, dict):
        return None
    if api == "openai":
        return openai_usage(parsed.get("usage"))
    return anthropic_usage(parsed.get("usage"))


def _data(event: bytes) -> bytes | None:
    """The event's data (multi-line data joined with LF), or None for comments etc."""
    lines = [
        line[5:].removeprefix(b" ") for line in event.splitlines() if line.startswith(b"data:")
    ]
    return b"\n".join(lines) if lines else None


class StreamMeter:
    """Counts one stream's delivery and keeps its usage.

    ``hide_usage_chunk``: the gateway asked an OpenAI upstream for usage the client did
    not ask for (stream_options.include_usage), so the extra usage-only chunk (empty
    ``choices``) is kept from the client, which gets the stream it asked for.
    ``gate``: given every event it forwards, with the JSON it already decoded, so that the
    monitor sees the stream's tool calls without decoding twice, and their events wait
    for its judgement (stream_guard).
    """

    __slots__ = (
        "_api",
        "_buffer",
        "_gate",
        "_hide",
        "_parsed",
        "bytes",
        "complete",
        "content_deltas",
        "error",
        "events",
        "usage",
    )

    def __init__(
        self, api: Api, *, hide_usage_chunk: bool = False, gate: EventGate | None = None
    ) -> None:
        self._api = api
        self._hide = hide_usage_chunk
        self._gate = gate
        self._parsed: dict[str, Any] | None = None
        self._buffer = b""
        self.events = 0  # events delivered to the client
        self.content_deltas = 0  # of which carried generated text or tool-call arguments
        self.bytes = 0
        self.usage: Usage | None = None
        self.complete = False  # the upstream said the stream ended ([DONE] / message_stop)
        self.error: str | None = None  # an error event from the upstream

    def feed(self, data: bytes) -> bytes:
        """Take upstream bytes; return the bytes to forward now: every complete event,
        byte for byte, except a hidden usage chunk. An incomplete event waits for the rest."""
        buffer = self._buffer + data if self._buffer else data
        out: list[bytes] = []
        start = 0
        for match in _BOUNDARY.finditer(buffer):
            end = match.end()
            if self._inspect(buffer[start : match.start()]):
                event = buffer[start:end]
                out.append(self._gate.admit(event, self._parsed) if self._gate else event)
            start = end
        self._buffer = buffer[start:]
        forwarded = b"".join(out) if len(out) != 1 else out[0]
        self.bytes += len(forwarded)
        return forwarded

    def rest(self) -> bytes:
        """Trailing bytes of an unterminated last event, forwarded as they are."""
        tail, self._buffer = self._buffer, b""
        if self._gate is not None and tail:
            tail = self._gate.admit(tail, None)
        self.bytes += len(tail)
        return tail

    # -- the gate's side (tool calls waiting for the monitor) --------------------------

    @property
    def waiting(self) -> Sequence[ToolCall]:
        """Tool calls complete and not yet judged; their events are withheld."""
        return self._gate.waiting if self._gate is not None else ()

    def release(self, refused: Mapping[str, str]) -> bytes:
        """After the monitor judged :attr:`waiting`: the withheld events that may go."""
        out = self._gate.release(refused) if self._gate is not None else b""
        self.bytes += len(out)
        return out

    def end_calls(self) -> None:
        """The stream ended: open tool calls are complete (see :attr:`waiting`)."""
        if self._gate is not None:
            self._gate.finish()

    def flush(self) -> bytes:
        """After the last release: whatever is still withheld (refused: fail closed)."""
        out = self._gate.flush() if self._gate is not None else b""
        self.bytes += len(out)
        return out

    def _inspect(self, event: bytes) -> bool:
        self._parsed = None
        if not event:  # a stray blank line: nothing to count
            return True
        data = _data(event)
        if data is None:
            self.events += 1
            return True
        if data == b"[DONE]":
            self.complete = True
            self.events += 1
            return True
        try:
            parsed = orjson.loads(data)
        except orjson.JSONDecodeError:
            self.events += 1
            return True
        if not isinstance(parsed, dict):
            self.events += 1
            return True
        self._parsed = parsed
        keep = self._openai(parsed) if self._api == "openai" else self._anthropic(parsed)
        if keep:
            self.events += 1
        return keep

    def _openai(self, chunk: dict[str, Any]) -> bool:
        if "error" in chunk:
            self.error = str(chunk.get("error"))[:500]
        choices = chunk.get("choices")
        usage = chunk.get("usage")
        if usage:
            self.usage = openai_usage(usage)
            if self._hide and not choices:
                return False
        for choice in choices if isinstance(choices, list) else ():
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if isinstance(delta, dict) and (delta.get("content") or delta.get("tool_calls")):
                self.content_deltas += 1
        return True

    def _anthropic(self, event: dict[str, Any]) -> bool:
        kind = event.get("type")
        if kind == "content_block_delta":
            self.content_deltas += 1
        elif kind == "message_start":
            message = event.get("message")
            if isinstance(message, dict):
                self.usage = anthropic_usage(message.get("usage"), self.usage)
        elif kind == "message_delta":
            self.usage = anthropic_usage(event.get("usage"), self.usage)
        elif kind == "message_stop":
            self.complete = True
        elif kind == "error":
            self.error = str(event.get("error"))[:500]
        return True

    def delivered(self) -> dict[str, int]:
        return {"events": self.events, "content_deltas": self.content_deltas, "bytes": self.bytes}


def error_event(api: Api, kind: str, message: str) -> bytes:
    """A native in-stream error, for a stream that broke after its headers were sent."""
    if api == "anthropic":
        body = {"type": "error", "error": {"type": kind, "message": message}}
        return b"event: error\ndata: " + orjson.dumps(body) + b"\n\n"
    body = {"error": {"message": message, "type": "server_error", "param": None, "code": kind}}
    return b"data: " + orjson.dumps(body) + b"\n\n"


__all__ = [
    "EventGate",
    "StreamMeter",
    "ToolCallStream",
    "Usage",
    "anthropic_usage",
    "error_event",
    "openai_usage",
    "usage_of",
]
