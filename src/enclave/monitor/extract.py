"""Tool calls and tool results out of OpenAI and Anthropic API bodies, whole or streamed.

Pure functions over decoded JSON (dicts) so that the gateway can feed them what it
already parsed. Nothing here raises on a malformed body: the monitor must see what it
can, and a body the provider accepted is not for us to refuse. Shapes followed:

- OpenAI Chat Completions: ``choices[].message.tool_calls[]`` (``id``, ``function.name``,
  ``function.arguments`` as a JSON *string*), the legacy ``function_call``; streamed as
  ``choices[].delta.tool_calls[]`` fragments keyed by ``index``, the arguments string cut
  anywhere; tool results are ``{"role": "tool", "tool_call_id", "content"}`` messages.
- Anthropic Messages: ``content[]`` blocks of type ``tool_use`` (``id``, ``name``, ``input``
  object); streamed as ``content_block_start`` (the block with an empty ``input``),
  ``content_block_delta`` with ``input_json_delta.partial_json`` fragments, and
  ``content_block_stop``; tool results are ``tool_result`` blocks in a user message.

Threat-model note: arguments are attacker-influenced and may be huge. Accumulators keep at
most MAX_ARGUMENT_CHARS per call and MAX_CALLS per stream; the overflow is counted, not
kept, and the call is marked truncated so an event still records it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from enclave.monitor.interface import Api, ToolCall, ToolResult

MAX_ARGUMENT_CHARS = 1_048_576
MAX_CALLS = 256
MAX_RESULT_CHARS = 65_536
TRUNCATED_MARK = "\u2026[truncated]"

_CALL_BLOCKS = frozenset({"tool_use", "server_tool_use", "mcp_tool_use"})
_RESULT_BLOCKS = frozenset({"tool_result", "mcp_tool_result", "web_search_tool_result"})


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _bounded(text: str, limit: int = MAX_ARGUMENT_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + TRUNCATED_MARK


def _dump(value: object) -> str:
    try:
        return orjson.dumps(value).decode("utf-8")
    except (TypeError, orjson.JSONEncodeError):
        return repr(value)


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


# -- whole responses --------------------------------------------------------------


def openai_response_calls(body: Mapping[str, Any]) -> list[ToolCall]:
    calls: list[ToolCall] = []
    for choice in _list(body.get("choices")):
        message = _dict(_dict(choice).get("message"))
        calls.extend(_openai_message_calls(message))
    return calls[:MAX_CALLS]


def _openai_message_calls(message: Mapping[str, Any]) -> Iterator[ToolCall]:
    for index, item in enumerate(_list(message.get("tool_calls"))):
        call = _dict(item)
        function = _dict(call.get("function"))
        arguments = function.get("arguments")
        yield ToolCall(
            id=_str(call.get("id")) or f"call_{index}",
            name=_str(function.get("name")) or _str(call.get("type")) or "unknown",
            arguments=_bounded(arguments if isinstance(arguments, str) else _dump(arguments)),
            api="openai",
            index=index,
        )
    legacy = _dict(message.get("function_call"))
    if legacy:
        arguments = legacy.get("arguments")
        yield ToolCall(
            id="function_call",
            name=_str(legacy.get("name")) or "unknown",
            arguments=_bounded(arguments if isinstance(arguments, str) else _dump(arguments)),
            api="openai",
        )


def anthropic_response_calls(body: Mapping[str, Any]) -> list[ToolCall]:
    return list(_anthropic_blocks_calls(_list(body.get("content"))))[:MAX_CALLS]


def _anthropic_blocks_calls(blocks: Iterable[object]) -> Iterator[ToolCall]:
    for index, item in enumerate(blocks):
        block = _dict(item)
        if block.get("type") in _CALL_BLOCKS:
            yield ToolCall(
                id=_str(block.get("id")) or f"toolu_{index}",
                name=_str(block.get("name")) or "unknown",
                arguments=_bounded(_dump(block.get("input", {}))),
                api="anthropic",
                index=index,
            )


def response_calls(api: Api, body: Mapping[str, Any]) -> list[ToolCall]:
    if api == "openai":
        return openai_response_calls(body)
    return anthropic_response_calls(body)


# -- streamed responses ----------------------------------------------------------


@dataclass(slots=True)
class _Partial:
    id: str = ""
    name: str = ""
    parts: list[str] = field(default_factory=list)
    size: int = 0
    index: int = 0
    initial: str = ""  # Anthropic: `input` given whole in content_block_start

    def add(self, fragment: str) -> None:
        room = MAX_ARGUMENT_CHARS - self.size
        if room > 0:
            self.parts.append(fragment[:room])
        self.size += len(fragment)

    def call(self, api: Api) -> ToolCall:
        text = "".join(self.parts)
        if not text and self.initial:
            text = self.initial
        if self.size > MAX_ARGUMENT_CHARS:
            text += TRUNCATED_MARK
        return ToolCall(
            id=self.id or f"call_{self.index}",
            name=self.name or "unknown",
            arguments=text,
            api=api,
            index=self.index,
        )


class OpenAIStream:
    """Feed each decoded `data:` chunk; completed calls come out when a choice finishes."""

    def __init__(self) -> None:
        self._open: dict[tuple[int, int], _Partial] = {}
        self._emitted = 0

    def feed(self, chunk: Mapping[str, Any]) -> list[ToolCall]:
        done: list[ToolCall] = []
        for raw_choice in _list(chunk.get("choices")):
            choice = _dict(raw_choice)
            number = choice.get("index", 0)
            number = number if isinstance(number, int) else 0
            delta = _dict(choice.get("delta"))
            for raw in _list(delta.get("tool_calls")):
                fragment = _dict(raw)
                position = fragment.get("index", 0)
                position = position if isinstance(position, int) else 0
                key = (number, position)
                partial = self._open.get(key)
                if partial is None:
                    if len(self._open) + self._emitted >= MAX_CALLS:
                        continue
                    partial = self._open[key] = _Partial(index=position)
                partial.id = partial.id or _str(fragment.get("id"))
                function = _dict(fragment.get("function"))
                partial.name = partial.name or _str(function.get("name"))
                arguments = function.get("arguments")
                if isinstance(arguments, str) and arguments:
                    partial.add(arguments)
            if choice.get("finish_reason"):
                done.extend(self._close(lambda k, n=number: k[0] == n))
        return done

    def finish(self) -> list[ToolCall]:
        """End of stream (or the connection dropped): whatever is open is complete."""
        return self._close(lambda _k: True)

    def _close(self, which: Any) -> list[ToolCall]:
        keys = sorted(k for k in self._open if which(k))
        self._emitted += len(keys)
        return [self._open.pop(k).call("openai") for k in keys]


class AnthropicStream:
    """Feed each decoded SSE event (its JSON has a `type`); a call completes at its
    `content_block_stop`."""

    def __init__(self) -> None:
        self._open: dict[int, _Partial] = {}
        self._emitted = 0

    def feed(self, event: Mapping[str, Any]) -> list[ToolCall]:
        kind = event.get("type")
        index = event.get("index", 0)
        index = index if isinstance(index, int) else 0
        if kind == "content_block_start":
            block = _dict(event.get("content_block"))
            if block.get("type") in _CALL_BLOCKS and len(self._open) + self._emitted < MAX_CALLS:
                initial = block.get("input")
                self._open[index] = _Partial(
                    id=_str(block.get("id")),
                    name=_str(block.get("name")),
                    index=index,
                    initial=_dump(initial) if initial else "",
                )
        elif kind == "content_block_delta":
            partial = self._open.get(index)
            delta = _dict(event.get("delta"))
            if partial is not None and delta.get("type") == "input_json_delta":
                fragment = delta.get("partial_json")
                if isinstance(fragment, str):
                    partial.add(fragment)
        elif kind == "content_block_stop":
            partial = self._open.pop(index, None)
            if partial is not None:
                self._emitted += 1
                return [partial.call("anthropic")]
        elif kind == "message_stop":
            return self.finish()
        return []

    def finish(self) -> list[ToolCall]:
        keys = sorted(self._open)
        self._emitted += len(keys)
        return [self._open.pop(k).call("anthropic") for k in keys]


# -- requests: tool results and the calls they answer --------------------------------


def _text_of(content: object) -> str:
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for item in _list(content):
        block = _dict(item)
        if isinstance(block.get("text"), str):
            parts.append(block["text"])
        elif isinstance(block.get("content"), str | list):
            parts.append(_text_of(block["content"]))
    return "\n".join(parts)


def message_calls(api: Api, messages: Sequence[object]) -> Iterator[ToolCall]:
    """Every tool call in a conversation's assistant messages, in order."""
    for raw in messages:
        message = _dict(raw)
        if message.get("role") != "assistant":
            continue
        if api == "openai":
            yield from _openai_message_calls(message)
        else:
            yield from _anthropic_blocks_calls(_list(message.get("content")))


def message_results(
    api: Api, messages: Sequence[object], names: Mapping[str, str] | None = None
) -> Iterator[ToolResult]:
    """Every tool result in `messages`, in order."""
    for raw in messages:
        message = _dict(raw)
        role = message.get("role")
        if api == "openai" and role in ("tool", "function"):
            call_id = _str(message.get("tool_call_id")) or _str(message.get("name"))
            yield ToolResult(
                tool_call_id=call_id,
                content=_bounded(_text_of(message.get("content")), MAX_RESULT_CHARS),
                api="openai",
                tool=(names or {}).get(call_id, _str(message.get("name"))),
            )
        elif api == "anthropic" and role == "user":
            for item in _list(message.get("content")):
                block = _dict(item)
                if block.get("type") in _RESULT_BLOCKS:
                    call_id = _str(block.get("tool_use_id"))
                    yield ToolResult(
                        tool_call_id=call_id,
                        content=_bounded(_text_of(block.get("content")), MAX_RESULT_CHARS),
                        api="anthropic",
                        is_error=block.get("is_error") is True,
                        tool=(names or {}).get(call_id, ""),
                    )


def new_tool_results(api: Api, body: Mapping[str, Any]) -> list[ToolResult]:
    """The tool results a request brings that the gateway has not seen before.

    Clients resend the whole conversation on every call; the results that are new are
    those after the last assistant message (the one whose tool calls they answer). Looking
    only there keeps the work per request constant however long the session grows.
    """
    messages = _list(body.get("messages"))
    last = max(
        (i for i, m in enumerate(messages) if _dict(m).get("role") == "assistant"), default=-1
    )
    if last < 0:
        return list(message_results(api, messages))
    names = {c.id: c.name for c in message_calls(api, messages[last : last + 1])}
    return list(message_results(api, messages[last + 1 :], names))


__all__ = [
    "MAX_ARGUMENT_CHARS",
    "MAX_CALLS",
    "MAX_RESULT_CHARS",
    "AnthropicStream",
    "OpenAIStream",
    "anthropic_response_calls",
    "message_calls",
    "message_results",
    "new_tool_results",
    "openai_response_calls",
    "response_calls",
]
