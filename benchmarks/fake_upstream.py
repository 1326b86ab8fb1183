"""A fast fake model provider on loopback, speaking OpenAI Chat Completions and Anthropic
Messages, streamed and not. Used by the gateway tests (in a thread) and by
benchmarks/gateway_overhead.py (as its own process: ``python fake_upstream.py --port N``).

It is a pure ASGI app on uvicorn (httptools, uvloop when installed): no framework, one
orjson parse per request, so that what a benchmark measures is the gateway, not this.

The upstream model name picks the behaviour (the gateway's routes map public names to
these "variants"):

    anything else     answer "echo: <last user text>"; streamed word by word
    fake-status-NNN   answer HTTP NNN with the API's native error object (3xx: a redirect)
    fake-slow         say nothing until the client goes away (timeouts)
    fake-hang         stream HANG_CHUNKS words, then wait until the client goes away
    fake-broken       stream two words, then drop the connection mid-body
    fake-long         stream 200 words (concurrency tests)
    fake-tool         a few words, then one `bash` tool call whose command is the last user
                      text; streamed with the arguments in 4-character fragments
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn

HANG_CHUNKS = 3
_JSON = [(b"content-type", b"application/json")]
_SSE = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache")]


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class State:
    """What the fake saw; tests read it from their own thread."""

    record: bool = True
    requests: list[Seen] = field(default_factory=list)
    disconnects: int = 0
    disconnected: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.disconnects = 0
            self.disconnected.clear()

    def _saw_disconnect(self) -> None:
        with self.lock:
            self.disconnects += 1
        self.disconnected.set()


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _sse(data: Any, event: str | None = None) -> bytes:
    head = b"event: " + event.encode() + b"\n" if event else b""
    return head + b"data: " + orjson.dumps(data) + b"\n\n"


class FakeUpstream:
    def __init__(self, state: State | None = None) -> None:
        self.state = state or State()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        chunks = []
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = orjson.loads(b"".join(chunks) or b"{}")
        path: str = scope["path"]
        if self.state.record:
            headers = {k.decode(): v.decode() for k, v in scope["headers"]}
            with self.state.lock:
                self.state.requests.append(Seen(path, headers, body))
        api = "anthropic" if path.endswith("/messages") else "openai"
        model = str(body.get("model", ""))
        if model.startswith("fake-status-"):
            await self._error(send, api, int(model.rsplit("-", 1)[1]))
            return
        if model == "fake-slow":
            await self._until_disconnect(receive)
            return
        messages = body.get("messages") or [{}]
        if model == "fake-tool":
            await self._tool(send, api, model, _text(messages[-1].get("content")), body)
            return
        words = ("echo: " + _text(messages[-1].get("content"))).split()
        if model == "fake-long":
            words = [f"w{i}" for i in range(200)]
        prompt_tokens = sum(len(_text(m.get("content")).split()) for m in messages)
        if not body.get("stream"):
            answer = " ".join(words)
            build = self._openai if api == "openai" else self._anthropic
            data = orjson.dumps(build(model, answer, prompt_tokens, len(words)))
            await send({"type": "http.response.start", "status": 200, "headers": _JSON})
            await send({"type": "http.response.body", "body": data})
            return
        events = (
            self._openai_stream(model, words, prompt_tokens, body)
            if api == "openai"
            else self._anthropic_stream(model, words, prompt_tokens)
        )
        await send({"type": "http.response.start", "status": 200, "headers": _SSE})
        # Events before the first word: OpenAI's role chunk; Anthropic's message_start and
        # content_block_start.
        hang_at = HANG_CHUNKS + (1 if api == "openai" else 2)
        for index, event in enumerate(events):
            if model == "fake-hang" and index == hang_at:
                await self._until_disconnect(receive)
                return
            if model == "fake-broken" and index == 3:
                # An exception mid-body makes uvicorn drop the connection: a broken stream.
                raise ConnectionAbortedError("fake upstream breaks the stream on purpose")
            await send({"type": "http.response.body", "body": event, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    async def _tool(
        self, send: Any, api: str, model: str, command: str, body: dict[str, Any]
    ) -> None:
        arguments = orjson.dumps({"command": command}).decode()
        text = "Running it now."
        if not body.get("stream"):
            if api == "openai":
                call = {"id": "call_fake_1", "type": "function",
                        "function": {"name": "bash", "arguments": arguments}}  # fmt: skip
                message = {"role": "assistant", "content": text, "tool_calls": [call]}
                answer: dict[str, Any] = self._openai(model, text, 5, 9)
                choice = {"index": 0, "message": message, "finish_reason": "tool_calls"}
                answer["choices"] = [choice]
            else:
                answer = self._anthropic(model, text, 5, 9)
                tool = {"type": "tool_use", "id": "toolu_fake_1", "name": "bash"}
                answer["content"].append({**tool, "input": {"command": command}})
                answer["stop_reason"] = "tool_use"
            await send({"type": "http.response.start", "status": 200, "headers": _JSON})
            await send({"type": "http.response.body", "body": orjson.dumps(answer)})
            return
        parts = [arguments[i : i + 4] for i in range(0, len(arguments), 4)]
        events = (
            self._openai_tool_stream(model, text, parts, body)
            if api == "openai"
            else self._anthropic_tool_stream(model, text, parts)
        )
        await send({"type": "http.response.start", "status": 200, "headers": _SSE})
        for event in events:
            await send({"type": "http.response.body", "body": event, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    @staticmethod
    def _openai_tool_stream(
        model: str, text: str, parts: list[str], body: dict[str, Any]
    ) -> Iterator[bytes]:
        base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0}
        base["model"] = model

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            return _sse(
                {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            )

        yield chunk({"role": "assistant", "content": ""})
        for word in text.split(" "):
            yield chunk({"content": word + " "})
        head = {"index": 0, "id": "call_fake_1", "type": "function"}
        yield chunk({"tool_calls": [{**head, "function": {"name": "bash", "arguments": ""}}]})
        for part in parts:
            yield chunk({"tool_calls": [{"index": 0, "function": {"arguments": part}}]})
        yield chunk({}, "tool_calls")
        if (body.get("stream_options") or {}).get("include_usage") is True:
            usage = {"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14}
            yield _sse({**base, "choices": [], "usage": usage})
        yield b"data: [DONE]\n\n"

    @staticmethod
    def _anthropic_tool_stream(model: str, text: str, parts: list[str]) -> Iterator[bytes]:
        message = {"id": "msg_fake", "type": "message", "role": "assistant", "model": model,
                   "content": [], "stop_reason": None, "stop_sequence": None,
                   "usage": {"input_tokens": 5, "output_tokens": 1}}  # fmt: skip
        yield _sse({"type": "message_start", "message": message}, "message_start")
        start = {"type": "content_block_start", "index": 0}
        yield _sse({**start, "content_block": {"type": "text", "text": ""}}, "content_block_start")
        for word in text.split(" "):
            delta = {"type": "text_delta", "text": word + " "}
            yield _sse({"type": "content_block_delta", "index": 0, "delta": delta},
                       "content_block_delta")  # fmt: skip
        yield _sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
        tool = {"type": "tool_use", "id": "toolu_fake_1", "name": "bash", "input": {}}
        yield _sse({"type": "content_block_start", "index": 1, "content_block": tool},
                   "content_block_start")  # fmt: skip
        for part in parts:
            delta = {"type": "input_json_delta", "partial_json": part}
            yield _sse({"type": "content_block_delta", "index": 1, "delta": delta},
                       "content_block_delta")  # fmt: skip
        yield _sse({"type": "content_block_stop", "index": 1}, "content_block_stop")
        end = {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None}}
        yield _sse({**end, "usage": {"output_tokens": 9}}, "message_delta")
        yield _sse({"type": "message_stop"}, "message_stop")

    async def _until_disconnect(self, receive: Any) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self.state._saw_disconnect()

    async def _error(self, send: Any, api: str, status: int) -> None:
        message = f"fake upstream says {status}"
        body = (
            {"type": "error", "error": {"type": "api_error", "message": message}}
            if api == "anthropic"
            else {
                "error": {"message": message, "type": "server_error", "param": None, "code": None}
            }
        )
        headers = [*_JSON, (b"retry-after", b"7")] if status == 429 else list(_JSON)
        if 300 <= status < 400:  # a redirect to this server's own /redirected
            headers.append((b"location", b"/redirected"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": orjson.dumps(body)})

    @staticmethod
    def _openai(model: str, answer: str, prompt: int, completion: int) -> dict[str, Any]:
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            },
        }

    @staticmethod
    def _anthropic(model: str, answer: str, prompt: int, completion: int) -> dict[str, Any]:
        return {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": answer}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": prompt, "output_tokens": completion},
        }

    @staticmethod
    def _openai_stream(
        model: str, words: list[str], prompt: int, body: dict[str, Any]
    ) -> Iterator[bytes]:
        base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0}
        base["model"] = model
        options = body.get("stream_options") or {}
        usage = options.get("include_usage") is True

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            data: dict[str, Any] = {
                **base,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            if usage:
                data["usage"] = None
            return _sse(data)

        yield chunk({"role": "assistant", "content": ""})
        for i, word in enumerate(words):
            yield chunk({"content": word if i == 0 else " " + word})
        yield chunk({}, "stop")
        if usage:
            counts = {
                "prompt_tokens": prompt,
                "completion_tokens": len(words),
                "total_tokens": prompt + len(words),
            }
            yield _sse({**base, "choices": [], "usage": counts})
        yield b"data: [DONE]\n\n"

    @staticmethod
    def _anthropic_stream(model: str, words: list[str], prompt: int) -> Iterator[bytes]:
        message = {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": prompt, "output_tokens": 1},
        }
        yield _sse({"type": "message_start", "message": message}, "message_start")
        block = {"type": "content_block_start", "index": 0}
        yield _sse({**block, "content_block": {"type": "text", "text": ""}}, "content_block_start")
        for i, word in enumerate(words):
            delta = {"type": "text_delta", "text": word if i == 0 else " " + word}
            event = {"type": "content_block_delta", "index": 0, "delta": delta}
            yield _sse(event, "content_block_delta")
        yield _sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
        end = {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}}
        yield _sse({**end, "usage": {"output_tokens": len(words)}}, "message_delta")
        yield _sse({"type": "message_stop"}, "message_stop")


class ReadyServer(uvicorn.Server):
    """uvicorn that says when it listens, and on which loop (tests schedule work on it)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        try:
            await super().startup(sockets)
        finally:
            self.ready.set()  # also on failure, so the waiter wakes and reports it


@contextmanager
def serve_in_thread(app: Any, **config: Any) -> Iterator[tuple[str, ReadyServer]]:
    """Run ``app`` on 127.0.0.1 (a port the kernel picks) in a thread; yield its URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    options: dict[str, Any] = {"log_config": None, "access_log": False, "lifespan": "off"}
    options.update(config)
    server = ReadyServer(uvicorn.Config(app, ws="none", **options))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        if not (server.ready.wait(timeout=30) and server.started):
            raise RuntimeError("uvicorn did not start")
        host, port = sock.getsockname()
        yield f"http://{host}:{port}", server
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = FakeUpstream(State(record=False))
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        backlog=4096,
    )


if __name__ == "__main__":
    main()
