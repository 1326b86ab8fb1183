"""A stream's tool calls are withheld until the monitor has judged them (issue 7 item 5).

A non-streamed response is judged whole before it is sent (pipeline._watch_response). A
streamed one is forwarded event by event as it arrives; without this gate a tool call
would reach the harness, which may execute it, before the monitor had seen all of its
arguments. So:

- Events before the first tool-call event pass through at once (text keeps flowing).
- From a tool call's first event on, events are withheld, in order, until every call
  they carry is complete and judged. Later events wait behind them even if they are
  text: clients rebuild a message from the events' order (the Anthropic SDK appends a
  block per ``content_block_start``), so nothing may overtake.
- A call completes at its ``content_block_stop`` (Anthropic) or its choice's
  ``finish_reason`` (OpenAI), or when the stream ends. The gateway then asks the monitor
  and calls :meth:`ToolCallGate.release` with the refused calls (id -> reason): allowed
  calls go out byte for byte; a refused one is replaced, in the API's own shape, by the
  refusal text the non-streamed path writes (toolguard): an Anthropic text block at the
  call's index; an OpenAI content delta, the call's fragments removed, and
  ``finish_reason`` ``stop`` when the choice has no call left (``stop_reason``
  ``end_turn`` for Anthropic).
- Fail closed: a call the monitor never saw (beyond extract.MAX_CALLS in one response)
  is refused when the stream ends.

Threat-model note: the withheld events are bounded by what the upstream sends for the
calls (extract.py bounds the arguments the monitor keeps, not the bytes on the wire);
the gateway's stream limits apply as to any stream.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from enclave.gateway.client_errors import Api
from enclave.gateway.streaming import ToolCallStream
from enclave.gateway.toolguard import refusal_text
from enclave.monitor import ToolCall

_CALL_BLOCKS = frozenset({"tool_use", "server_tool_use", "mcp_tool_use"})
_UNSEEN = "the monitor did not see this call (too many tool calls in one response)"
_SUPERSEDED = "the upstream started another call in its place before it ended"
# A call's place in the stream: (choice, tool index) for OpenAI, (0, block index) for
# Anthropic; and a Key, that place plus a serial number, names one call. Judgements are
# kept per Key, never per id (the upstream chooses ids, and may repeat them).
Slot = tuple[int, int]
Key = tuple[int, int, int]


@dataclass(slots=True)
class _Withheld:
    raw: bytes
    parsed: dict[str, Any] | None
    keys: dict[Slot, Key]  # the calls this event carries, by their place


def _openai_event(chunk: Mapping[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


def _anthropic_event(event: Mapping[str, Any]) -> bytes:
    kind = str(event.get("type", "")).encode("ascii", "replace")
    return b"event: " + kind + b"\ndata: " + orjson.dumps(event) + b"\n\n"


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


class ToolCallGate:
    """One stream's gate. ``admit`` every complete SSE event the client would get (with
    its decoded JSON, or None); after each batch, if :attr:`waiting` is not empty, judge
    those calls and pass the refusals to :meth:`release`; at the end, :meth:`finish`,
    judge again, :meth:`release`, then :meth:`flush`."""

    def __init__(self, api: Api, calls: ToolCallStream) -> None:
        self._api = api
        self._calls = calls
        self._withheld: deque[_Withheld] = deque()
        self._serial = 0
        self._current: dict[Slot, Key] = {}  # the call now at each place
        self._open: set[Slot] = set()  # Anthropic: places inside a tool block
        self._ids: dict[Key, str] = {}
        self._names: dict[Key, str] = {}
        self._judged: dict[Key, str | None] = {}  # refusal reason, None if allowed
        self._noted: set[Key] = set()  # refused OpenAI calls whose note was sent
        self._text: set[int] = set()  # OpenAI choices that streamed text
        self.waiting: list[ToolCall] = []
        self.allowed = 0
        self.refused = 0

    # -- in ------------------------------------------------------------------------

    def admit(self, raw: bytes, parsed: dict[str, Any] | None) -> bytes:
        """The bytes to forward now for this event: itself, or nothing while withheld."""
        keys = self._keys(parsed) if parsed is not None else {}
        if parsed is not None:
            self.waiting.extend(self._calls.feed(parsed))
        item = _Withheld(raw, parsed, keys)
        if not self._withheld and not keys and not self.waiting:
            return self._emit(item)
        self._withheld.append(item)
        return b""

    def finish(self) -> None:
        """The stream ended: calls still open are complete (and wait for judgement)."""
        self.waiting.extend(self._calls.finish())

    def release(self, refused: Mapping[str, str]) -> bytes:
        """Record the judgement of :attr:`waiting` (``refused``: id -> reason; every other
        waiting call is allowed) and return the withheld events that may go now."""
        for call in self.waiting:
            key = self._key_of(call)
            if key is not None:
                self._judge(key, refused.get(call.id))
            # else no event carries it (its place was superseded): nothing to release
        self.waiting = []
        out: list[bytes] = []
        while self._withheld:
            item = self._withheld[0]
            if any(k not in self._judged for k in item.keys.values()):
                break  # a call still streaming or not judged: it and all after it wait
            self._withheld.popleft()
            out.append(self._emit(item))
        return b"".join(out)

    def flush(self) -> bytes:
        """End of stream, after the last release: what is still withheld belongs to calls
        the monitor never saw; they are refused (fail closed)."""
        for key in sorted({k for item in self._withheld for k in item.keys.values()}):
            if key not in self._judged:
                self._judge(key, _UNSEEN)
        out = [self._emit(item) for item in self._withheld]
        self._withheld.clear()
        if self._api == "openai":
            out.append(self._pending_notes(None, None))
        return b"".join(out)

    def _judge(self, key: Key, reason: str | None) -> None:
        self._judged[key] = reason
        if reason is None:
            self.allowed += 1
        else:
            self.refused += 1

    def _key_of(self, call: ToolCall) -> Key | None:
        """The call, not yet judged, that the monitor's accumulator completed: the same
        index and the id it gives (extract._Partial.call), the oldest first."""
        found = [
            key
            for key, ident in self._ids.items()
            if key not in self._judged and key[1] == call.index and ident == call.id
        ]
        return min(found, key=lambda k: k[2]) if found else None

    def _new_key(self, slot: Slot) -> Key:
        self._serial += 1
        key = (slot[0], slot[1], self._serial)
        self._current[slot] = key
        self._ids[key] = f"call_{slot[1]}"
        self._names[key] = "unknown"
        return key

    # -- which calls an event carries ------------------------------------------------

    def _keys(self, parsed: Mapping[str, Any]) -> dict[Slot, Key]:
        if self._api == "anthropic":
            return self._anthropic_keys(parsed)
        found: dict[Slot, Key] = {}
        choices = parsed.get("choices")
        for choice in choices if isinstance(choices, list) else ():
            if not isinstance(choice, dict):
                continue
            number = _int(choice.get("index"))
            delta = choice.get("delta")
            if not isinstance(delta, dict):
                continue
            if isinstance(delta.get("content"), str) and delta["content"]:
                self._text.add(number)
            fragments = delta.get("tool_calls")
            for fragment in fragments if isinstance(fragments, list) else ():
                if not isinstance(fragment, dict):
                    continue
                slot = (number, _int(fragment.get("index")))
                key = self._current.get(slot)
                if key is None or key in self._judged:
                    # A judged call's fragments end at its finish: this is a new call.
                    key = self._new_key(slot)
                ident = fragment.get("id")
                # OpenAIStream keeps the first non-empty id of a call's fragments.
                if isinstance(ident, str) and ident and self._ids[key] == f"call_{slot[1]}":
                    self._ids[key] = ident
                function = fragment.get("function")
                name = function.get("name") if isinstance(function, dict) else None
                if isinstance(name, str) and name and self._names[key] == "unknown":
                    self._names[key] = name
                found[slot] = key
        return found

    def _anthropic_keys(self, event: Mapping[str, Any]) -> dict[Slot, Key]:
        kind = event.get("type")
        slot = (0, _int(event.get("index")))
        if kind == "content_block_start":
            block = event.get("content_block")
            if not (isinstance(block, dict) and block.get("type") in _CALL_BLOCKS):
                self._open.discard(slot)
                return {}
            old = self._current.get(slot)
            if old is not None and slot in self._open and old not in self._judged:
                # Restarted before it ended: the monitor's accumulator drops the first
                # call, so it is refused here rather than let out on another's verdict.
                self._judge(old, _SUPERSEDED)
            key = self._new_key(slot)
            self._open.add(slot)
            ident, name = block.get("id"), block.get("name")
            if isinstance(ident, str) and ident:
                self._ids[key] = ident
            if isinstance(name, str) and name:
                self._names[key] = name
            return {slot: key}
        if kind in ("content_block_delta", "content_block_stop") and slot in self._open:
            if kind == "content_block_stop":
                self._open.discard(slot)
            return {slot: self._current[slot]}
        return {}

    # -- out -------------------------------------------------------------------------

    def _emit(self, item: _Withheld) -> bytes:
        parsed = item.parsed
        if parsed is None:
            return item.raw
        if self._api == "anthropic":
            return self._emit_anthropic(item, parsed)
        return self._emit_openai(item, parsed)

    def _emit_anthropic(self, item: _Withheld, event: dict[str, Any]) -> bytes:
        kind = event.get("type")
        if kind == "message_delta":
            delta = event.get("delta")
            if (
                isinstance(delta, dict)
                and delta.get("stop_reason") == "tool_use"
                and self.refused
                and not self.allowed
            ):
                # No call left in the message: the turn ended (as toolguard does).
                delta["stop_reason"] = "end_turn"
                return _anthropic_event(event)
            return item.raw
        refused = [k for k in item.keys.values() if self._judged.get(k) is not None]
        if not refused:
            return item.raw
        key = refused[0]
        if kind == "content_block_start":
            index = _int(event.get("index"))
            note = refusal_text(self._names[key], self._ids[key], self._judged[key] or "")
            start = {
                "type": "content_block_start",
                "index": index,
                "content_block": {"type": "text", "text": ""},
            }
            text = {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": "text_delta", "text": note},
            }
            return _anthropic_event(start) + _anthropic_event(text)
        if kind == "content_block_delta":
            return b""  # the refused call's arguments
        return item.raw  # content_block_stop closes the text block in its place

    def _emit_openai(self, item: _Withheld, chunk: dict[str, Any]) -> bytes:
        choices = chunk.get("choices")
        if not isinstance(choices, list):
            return item.raw
        changed = False
        notes = b""
        kept_choices: list[Any] = []
        for choice in choices:
            if not isinstance(choice, dict):
                kept_choices.append(choice)
                continue
            number = _int(choice.get("index"))
            delta = choice.get("delta")
            emptied = False
            if isinstance(delta, dict) and isinstance(delta.get("tool_calls"), list):
                fragments = delta["tool_calls"]
                left = [f for f in fragments if not self._refused_fragment(item, number, f)]
                if len(left) != len(fragments):
                    changed = True
                    if left:
                        delta["tool_calls"] = left
                    else:
                        del delta["tool_calls"]
                        emptied = not delta
            finish = choice.get("finish_reason")
            if finish:
                notes += self._pending_notes(number, chunk)
                if finish == "tool_calls" and self._left(number) == (False, True):
                    choice["finish_reason"] = "stop"
                    changed = True
            if emptied and not finish:
                continue  # nothing was left of this choice's delta
            kept_choices.append(choice)
        if not changed:
            return notes + item.raw
        if not kept_choices and not chunk.get("usage"):
            return notes
        chunk["choices"] = kept_choices
        return notes + _openai_event(chunk)

    def _refused_fragment(self, item: _Withheld, number: int, fragment: object) -> bool:
        if not isinstance(fragment, dict):
            return False
        key = item.keys.get((number, _int(fragment.get("index"))))
        return key is not None and self._judged.get(key) is not None

    def _left(self, number: int) -> tuple[bool, bool]:
        """For one OpenAI choice: (some call allowed, some call refused)."""
        reasons = [r for key, r in self._judged.items() if key[0] == number]
        return any(r is None for r in reasons), any(r is not None for r in reasons)

    def _pending_notes(self, number: int | None, template: Mapping[str, Any] | None) -> bytes:
        """OpenAI: the refusals of a choice's calls as one content delta (before its
        finish chunk, or at the end of a stream that had none)."""
        out: list[bytes] = []
        by_choice: dict[int, list[str]] = {}
        for key, reason in sorted(self._judged.items()):
            if reason is None or key in self._noted or (number is not None and key[0] != number):
                continue
            self._noted.add(key)
            by_choice.setdefault(key[0], []).append(
                refusal_text(self._names[key], self._ids[key], reason)
            )
        for choice, texts in by_choice.items():
            text = "\n".join(texts)
            if choice in self._text:
                text = "\n" + text
            envelope = {k: v for k, v in (template or {}).items() if k not in ("choices", "usage")}
            envelope.setdefault("object", "chat.completion.chunk")
            body: dict[str, Any] = {
                **envelope,
                "choices": [{"index": choice, "delta": {"content": text}, "finish_reason": None}],
            }
            if template is not None and "usage" in template:
                body["usage"] = None
            out.append(_openai_event(body))
        return b"".join(out)


__all__ = ["ToolCallGate"]
