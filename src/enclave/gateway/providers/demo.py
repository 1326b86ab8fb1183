"""The built-in demo provider: a newcomer can try Enclave offline.

Served only while no provider is configured, and always named ``demo`` (in /v1/models
and in every response's ``model`` field), so it cannot be mistaken for a real model. It
answers both API shapes, streamed or not, and plays a small script of agent turns: when
the request declares tools, the first two assistant turns call tools (the client's own,
with arguments filled from their schemas), the third answers in text. A command the
user quotes in backticks (``please run `ls -la` ``) becomes the canned call's ``command``
argument, so a demo session can show the monitor at work (docs/gateway.md, "Monitor").
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import orjson

from enclave.config.gateway import DEMO
from enclave.gateway.client_errors import Api
from enclave.gateway.providers.base import UpstreamCall

# What the canned agent asks for, by argument name; other arguments get a value of their
# schema type.
_CANNED = {
    "path": "src/parser.c",
    "file": "src/parser.c",
    "filename": "src/parser.c",
    "command": "grep -n 'strcpy' src/*.c",
    "cmd": "grep -n 'strcpy' src/*.c",
    "query": "strcpy bounds check",
    "pattern": "strcpy",
    "url": "https://example.org/",
}
_BY_TYPE: dict[str, Any] = {
    "string": "example",
    "integer": 1,
    "number": 1,
    "boolean": True,
    "array": [],
    "object": {},
}
_TOOL_TURNS = 2
_QUOTED = re.compile(r"`([^`\n]{1,500})`")
_COMMAND_ARGS = frozenset({"command", "cmd"})


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text", "") for p in content if isinstance(p, dict)]
        return " ".join(p for p in parts if isinstance(p, str))
    return ""


def _arguments(schema: Any) -> dict[str, Any]:
    if not isinstance(schema, dict):
        return {}
    props = schema.get("properties")
    if not isinstance(props, dict):
        return {}
    wanted = schema.get("required") or list(props)
    args: dict[str, Any] = {}
    for name in wanted:
        if not isinstance(name, str):
            continue
        spec = props.get(name)
        kind = spec.get("type") if isinstance(spec, dict) else None
        args[name] = _CANNED.get(name, _BY_TYPE.get(kind if isinstance(kind, str) else "", ""))
    return args


def _tools(api: Api, tools: Any) -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    for tool in tools if isinstance(tools, list) else []:
        if not isinstance(tool, dict):
            continue
        spec = tool.get("function", {}) if api == "openai" else tool
        if isinstance(spec, dict) and isinstance(spec.get("name"), str):
            schema = spec.get("parameters") if api == "openai" else spec.get("input_schema")
            found.append((spec["name"], _arguments(schema)))
    return found


class Turn:
    """What the demo says next: a text answer, or one tool call."""

    def __init__(self, api: Api, request: dict[str, Any]) -> None:
        messages = request.get("messages")
        messages = messages if isinstance(messages, list) else []
        assistant_turns = sum(
            1 for m in messages if isinstance(m, dict) and m.get("role") == "assistant"
        )
        declared = _tools(api, request.get("tools"))
        last = messages[-1] if messages and isinstance(messages[-1], dict) else {}
        question = _text_of(last.get("content"))
        self.prompt_tokens = sum(
            len(_text_of(m.get("content")).split()) for m in messages if isinstance(m, dict)
        )
        self.tool: tuple[str, dict[str, Any]] | None = None
        if declared and assistant_turns < _TOOL_TURNS:
            self.tool = declared[min(assistant_turns, len(declared) - 1)]
            quoted = _QUOTED.search(question)
            if quoted is not None:
                name, args = self.tool
                asked = {k: quoted.group(1) if k in _COMMAND_ARGS else v for k, v in args.items()}
                self.tool = (name, asked)
            self.text = "Let me look at the code first."
        elif assistant_turns:
            self.text = (
                "Demo analysis: src/parser.c copies a header field with strcpy into a "
                "64-byte stack buffer without a length check, a likely overflow. Suggested "
                "fix: use a bounded copy and reject longer fields. (Canned answer from "
                "Enclave's demo model; configure a provider to reach a real one.)"
            )
        else:
            shown = " ".join(question.split())[:80]
            self.text = (
                f"Hello from Enclave's demo model. You asked: {shown!r}. Every request you "
                "send is authenticated, checked against policy and recorded; configure a "
                "provider in enclave.toml to reach a real model."
            )
        self.words = [w + " " for w in self.text.split()]
        if self.words:
            self.words[-1] = self.words[-1].rstrip()
        # Tokens are counted as words: the demo has no tokenizer, and says so in the docs.
        arguments = len(self.tool[1]) + 1 if self.tool else 0
        self.completion_tokens = len(self.words) + arguments


def _sse(data: dict[str, Any], event: str | None = None) -> bytes:
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + orjson.dumps(data) + b"\n\n"


def _openai(turn: Turn, request: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": turn.text, "refusal": None}
    finish = "stop"
    if turn.tool:
        name, args = turn.tool
        message["tool_calls"] = [
            {
                "id": "call_demo_" + secrets.token_hex(6),
                "type": "function",
                "function": {"name": name, "arguments": orjson.dumps(args).decode()},
            }
        ]
        finish = "tool_calls"
    return {
        "id": "chatcmpl-demo-" + secrets.token_hex(8),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": DEMO,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": _openai_usage(turn),
    }


def _openai_usage(turn: Turn) -> dict[str, int]:
    return {
        "prompt_tokens": turn.prompt_tokens,
        "completion_tokens": turn.completion_tokens,
        "total_tokens": turn.prompt_tokens + turn.completion_tokens,
    }


def _openai_stream(turn: Turn, request: dict[str, Any]) -> Iterator[bytes]:
    base = {
        "id": "chatcmpl-demo-" + secrets.token_hex(8),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": DEMO,
    }
    options = request.get("stream_options")
    usage = isinstance(options, dict) and options.get("include_usage") is True

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        data = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        if usage:
            data["usage"] = None
        return _sse(data)

    yield chunk({"role": "assistant", "content": ""})
    for word in turn.words:
        yield chunk({"content": word})
    if turn.tool:
        name, args = turn.tool
        call_id = "call_demo_" + secrets.token_hex(6)
        head = {"index": 0, "id": call_id, "type": "function"}
        yield chunk({"tool_calls": [{**head, "function": {"name": name, "arguments": ""}}]})
        yield chunk(
            {"tool_calls": [{"index": 0, "function": {"arguments": orjson.dumps(args).decode()}}]}
        )
    yield chunk({}, "tool_calls" if turn.tool else "stop")
    if usage:
        yield _sse({**base, "choices": [], "usage": _openai_usage(turn)})
    yield b"data: [DONE]\n\n"


def _anthropic(turn: Turn, request: dict[str, Any]) -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"type": "text", "text": turn.text}]
    if turn.tool:
        name, args = turn.tool
        content.append(
            {
                "type": "tool_use",
                "id": "toolu_demo_" + secrets.token_hex(8),
                "name": name,
                "input": args,
            }
        )
    return {
        "id": "msg_demo_" + secrets.token_hex(8),
        "type": "message",
        "role": "assistant",
        "model": DEMO,
        "content": content,
        "stop_reason": "tool_use" if turn.tool else "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": turn.prompt_tokens, "output_tokens": turn.completion_tokens},
    }


def _anthropic_stream(turn: Turn, request: dict[str, Any]) -> Iterator[bytes]:
    message = _anthropic(turn, request)
    start = {**message, "content": [], "stop_reason": None}
    start["usage"] = {"input_tokens": turn.prompt_tokens, "output_tokens": 1}
    yield _sse({"type": "message_start", "message": start}, "message_start")
    block: dict[str, Any] = {"type": "text", "text": ""}
    yield _sse(
        {"type": "content_block_start", "index": 0, "content_block": block}, "content_block_start"
    )
    yield _sse({"type": "ping"}, "ping")
    for word in turn.words:
        delta = {"type": "text_delta", "text": word}
        yield _sse(
            {"type": "content_block_delta", "index": 0, "delta": delta}, "content_block_delta"
        )
    yield _sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
    if turn.tool:
        tool = message["content"][1]
        block = {**tool, "input": {}}
        yield _sse(
            {"type": "content_block_start", "index": 1, "content_block": block},
            "content_block_start",
        )
        delta = {"type": "input_json_delta", "partial_json": orjson.dumps(tool["input"]).decode()}
        yield _sse(
            {"type": "content_block_delta", "index": 1, "delta": delta}, "content_block_delta"
        )
        yield _sse({"type": "content_block_stop", "index": 1}, "content_block_stop")
    end = {"stop_reason": message["stop_reason"], "stop_sequence": None}
    usage = {"output_tokens": turn.completion_tokens}
    yield _sse({"type": "message_delta", "delta": end, "usage": usage}, "message_delta")
    yield _sse({"type": "message_stop"}, "message_stop")


class DemoReply:
    passthrough: tuple[tuple[bytes, bytes], ...] = ()

    def __init__(self, call: UpstreamCall, delay: float) -> None:
        request = orjson.loads(call.body)
        turn = Turn(call.api, request)
        self.status = 200
        self._delay = delay
        self._body = b""
        self._events: Iterator[bytes] = iter(())
        if call.stream:
            self.content_type = b"text/event-stream; charset=utf-8"
            stream: Callable[[Turn, dict[str, Any]], Iterator[bytes]]
            stream = _openai_stream if call.api == "openai" else _anthropic_stream
            self._events = stream(turn, request)
        else:
            self.content_type = b"application/json"
            build = _openai if call.api == "openai" else _anthropic
            self._body = orjson.dumps(build(turn, request))

    async def read(self) -> bytes:
        return self._body + b"".join(self._events)

    async def chunks(self) -> AsyncIterator[bytes]:
        for event in self._events:
            yield event
            # Paced like a model, so that `curl -N` shows the stream arriving.
            await asyncio.sleep(self._delay)

    async def release(self) -> None:
        return None

    def abort(self) -> None:
        self._events = iter(())


class DemoProvider:
    name = DEMO
    kind = DEMO
    stream_usage = True

    def __init__(self, *, delay: float = 0.02) -> None:
        self._delay = delay

    def speaks(self, api: Api) -> bool:
        return True

    async def start(self) -> None:
        return None

    async def send(self, call: UpstreamCall) -> DemoReply:
        return DemoReply(call, self._delay)

    async def close(self) -> None:
        return None


__all__ = ["DemoProvider", "DemoReply", "Turn"]
