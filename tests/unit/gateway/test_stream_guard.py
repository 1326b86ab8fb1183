"""ToolCallGate: a stream's tool calls reach the client only once the monitor has judged
them; text before them flows at once; a refused call is replaced in the API's shape."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from enclave.gateway.client_errors import Api
from enclave.gateway.stream_guard import ToolCallGate
from enclave.gateway.streaming import StreamMeter
from enclave.monitor import AnthropicStream, OpenAIStream, ToolCall
from enclave.monitor.extract import MAX_CALLS

Judge = Callable[[list[ToolCall]], dict[str, str]]
ARGS = orjson.dumps({"command": "cat ~/.aws/credentials"}).decode()


def _sse(data: object, event: str | None = None) -> bytes:
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + orjson.dumps(data) + b"\n\n"


def _pieces(text: str, size: int = 5) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


# -- OpenAI ------------------------------------------------------------------------------


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return _sse({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
                 "choices": [choice]})  # fmt: skip


def _openai_call(position: int, ident: str, args: str = ARGS) -> bytes:
    head = {"index": position, "id": ident, "type": "function"}
    out = _chunk({"tool_calls": [{**head, "function": {"name": "bash", "arguments": ""}}]})
    for part in _pieces(args):
        out += _chunk({"tool_calls": [{"index": position, "function": {"arguments": part}}]})
    return out


def openai_stream(*calls: str, text: str = "Let me look.", finish: bool = True) -> bytes:
    out = _chunk({"role": "assistant", "content": ""})
    for word in text.split(" "):
        out += _chunk({"content": word + " "})
    for position, ident in enumerate(calls):
        out += _openai_call(position, ident)
    if finish:
        out += _chunk({}, "tool_calls" if calls else "stop")
        out += _sse({"id": "c1", "object": "chat.completion.chunk", "choices": [],
                     "usage": {"prompt_tokens": 3, "completion_tokens": 9}})  # fmt: skip
        out += b"data: [DONE]\n\n"
    return out


def _events(body: bytes) -> list[dict[str, Any] | str]:
    found: list[dict[str, Any] | str] = []
    for event in body.split(b"\n\n"):
        data = [line[6:] for line in event.split(b"\n") if line.startswith(b"data: ")]
        if data:
            found.append("[DONE]" if data[0] == b"[DONE]" else orjson.loads(data[0]))
    return found


def openai_message(body: bytes) -> tuple[str, dict[str, dict[str, str]], str | None]:
    """What an SDK rebuilds: content, tool calls (id -> name, arguments), finish."""
    content, calls, finish = "", {}, None
    by_index: dict[int, str] = {}
    for chunk in _events(body):
        if chunk == "[DONE]":
            continue
        assert isinstance(chunk, dict)
        for choice in chunk["choices"]:
            delta = choice["delta"]
            content += delta.get("content") or ""
            for fragment in delta.get("tool_calls", []):
                if "id" in fragment:
                    by_index[fragment["index"]] = fragment["id"]
                    calls[fragment["id"]] = {"name": "", "arguments": ""}
                entry = calls[by_index[fragment["index"]]]
                entry["name"] += fragment["function"].get("name", "")
                entry["arguments"] += fragment["function"].get("arguments", "")
            finish = choice["finish_reason"] or finish
    return content, calls, finish


# -- Anthropic ---------------------------------------------------------------------------


def _text_block(index: int, text: str) -> bytes:
    start = {"type": "content_block_start", "index": index,
             "content_block": {"type": "text", "text": ""}}  # fmt: skip
    out = _sse(start, "content_block_start")
    for word in text.split(" "):
        delta = {"type": "text_delta", "text": word + " "}
        out += _sse({"type": "content_block_delta", "index": index, "delta": delta},
                    "content_block_delta")  # fmt: skip
    return out + _sse({"type": "content_block_stop", "index": index}, "content_block_stop")


def _tool_block(index: int, ident: str) -> bytes:
    block = {"type": "tool_use", "id": ident, "name": "bash", "input": {}}
    out = _sse({"type": "content_block_start", "index": index, "content_block": block},
               "content_block_start")  # fmt: skip
    for part in _pieces(ARGS):
        delta = {"type": "input_json_delta", "partial_json": part}
        out += _sse({"type": "content_block_delta", "index": index, "delta": delta},
                    "content_block_delta")  # fmt: skip
    return out + _sse({"type": "content_block_stop", "index": index}, "content_block_stop")


def anthropic_stream(*blocks: bytes) -> bytes:
    message = {"id": "msg", "type": "message", "role": "assistant", "content": [],
               "model": "m", "stop_reason": None, "usage": {"input_tokens": 3}}  # fmt: skip
    end = {"type": "message_delta", "delta": {"stop_reason": "tool_use"},
           "usage": {"output_tokens": 9}}  # fmt: skip
    return (
        _sse({"type": "message_start", "message": message}, "message_start")
        + b"".join(blocks)
        + _sse(end, "message_delta")
        + _sse({"type": "message_stop"}, "message_stop")
    )


def anthropic_message(body: bytes) -> tuple[list[dict[str, Any]], str | None]:
    """What the Anthropic SDK rebuilds: blocks appended per content_block_start."""
    blocks: list[dict[str, Any]] = []
    stop = None
    for event in _events(body):
        assert isinstance(event, dict)
        kind = event["type"]
        if kind == "content_block_start":
            assert event["index"] == len(blocks)  # the SDK appends: order must hold
            blocks.append({**event["content_block"], "partial": ""})
        elif kind == "content_block_delta":
            delta = event["delta"]
            block = blocks[event["index"]]
            block["text" if delta["type"] == "text_delta" else "partial"] = (
                block.get("text", "") + delta["text"]
                if delta["type"] == "text_delta"
                else block["partial"] + delta["partial_json"]
            )
        elif kind == "message_delta":
            stop = event["delta"]["stop_reason"]
    return blocks, stop


# -- the gateway's loop (pipeline._pump) -------------------------------------------------


def run(api: Api, stream: bytes, judge: Judge, cut: int = 7) -> tuple[bytes, list[bytes]]:
    """Feed ``stream`` in pieces of ``cut`` bytes as the pipeline does; returns what the
    client got and, for each judgement, what the client had got by then."""
    calls = OpenAIStream() if api == "openai" else AnthropicStream()
    meter = StreamMeter(api, gate=ToolCallGate(api, calls))
    out, seen = b"", []
    for start in range(0, len(stream), cut):
        out += meter.feed(stream[start : start + cut])
        if meter.waiting:
            seen.append(out)
            out += meter.release(judge(list(meter.waiting)))
    out += meter.rest()
    meter.end_calls()
    if meter.waiting:
        seen.append(out)
        out += meter.release(judge(list(meter.waiting)))
    return out + meter.flush(), seen


def allow(calls: list[ToolCall]) -> dict[str, str]:
    return {}


def refuse(*ids: str) -> Judge:
    return lambda calls: {c.id: "blocked by the monitor: credential-access" for c in calls
                          if c.id in ids}  # fmt: skip


# -- tests -------------------------------------------------------------------------------


@given(cut=st.integers(min_value=1, max_value=400))
def test_allowed_calls_pass_byte_for_byte_but_only_after_judgement(cut: int) -> None:
    stream = openai_stream("call_a", "call_b")
    judged: list[list[str]] = []

    def record(calls: list[ToolCall]) -> dict[str, str]:
        judged.append([c.id for c in calls])
        assert all(c.arguments == ARGS for c in calls)  # complete when judged
        return {}

    out, seen = run("openai", stream, record, cut)
    assert out == stream
    assert judged == [["call_a", "call_b"]]
    assert b"tool_calls" not in seen[0]  # nothing of a call before it was judged
    assert b"Let " in seen[0] and b"look. " in seen[0]  # text flowed meanwhile


def test_openai_refused_call_becomes_content_and_the_turn_stops() -> None:
    out, _ = run("openai", openai_stream("call_a"), refuse("call_a"))
    content, calls, finish = openai_message(out)
    assert calls == {} and finish == "stop"
    assert content.startswith("Let me look. \n[enclave] tool call call_a (bash) was not executed")
    assert content.endswith("blocked by the monitor: credential-access")
    events = _events(out)
    assert events[-1] == "[DONE]"
    assert isinstance(events[-2], dict) and events[-2]["usage"]["completion_tokens"] == 9


def test_openai_one_refused_one_allowed() -> None:
    out, _ = run("openai", openai_stream("call_a", "call_b"), refuse("call_a"))
    content, calls, finish = openai_message(out)
    assert calls == {"call_b": {"name": "bash", "arguments": ARGS}}
    assert finish == "tool_calls"
    assert "call_a (bash) was not executed" in content


def test_openai_stream_cut_before_its_finish_is_judged_at_the_end() -> None:
    out, seen = run("openai", openai_stream("call_a", finish=False), refuse("call_a"))
    content, calls, _ = openai_message(out)
    assert calls == {} and "call_a (bash) was not executed" in content
    assert len(seen) == 1 and b"tool_calls" not in seen[0]


@given(cut=st.integers(min_value=1, max_value=500))
def test_anthropic_allowed_block_passes_unchanged_after_judgement(cut: int) -> None:
    stream = anthropic_stream(
        _text_block(0, "Checking now."), _tool_block(1, "toolu_a"), _text_block(2, "Done.")
    )
    out, seen = run("anthropic", stream, allow, cut)
    assert out == stream
    assert b"Checking" in seen[0] and b"toolu_a" not in seen[0]
    assert b"Done." not in seen[0]  # what follows a call waits behind it, in order


def test_anthropic_refused_block_becomes_a_text_block_at_its_index() -> None:
    stream = anthropic_stream(
        _text_block(0, "Checking now."), _tool_block(1, "toolu_a"), _text_block(2, "Done.")
    )
    out, _ = run("anthropic", stream, refuse("toolu_a"))
    blocks, stop = anthropic_message(out)
    assert [b["type"] for b in blocks] == ["text", "text", "text"]
    assert "[enclave] tool call toolu_a (bash) was not executed" in blocks[1]["text"]
    assert blocks[2]["text"] == "Done. "
    assert stop == "end_turn" and b"input_json_delta" not in out


def test_anthropic_calls_are_judged_one_by_one_and_kept_in_order() -> None:
    stream = anthropic_stream(_tool_block(0, "toolu_a"), _tool_block(1, "toolu_b"))
    judged: list[str] = []

    def judge(calls: list[ToolCall]) -> dict[str, str]:
        judged.append(",".join(c.id for c in calls))
        return {c.id: "blocked by the monitor: x" for c in calls if c.id == "toolu_a"}

    out, seen = run("anthropic", stream, judge)
    assert judged == ["toolu_a", "toolu_b"]
    # By the second judgement the client has the first call's refusal, not the second.
    assert b"toolu_a (bash) was not executed" in seen[1] and b"toolu_b" not in seen[1]
    blocks, stop = anthropic_message(out)
    assert [b["type"] for b in blocks] == ["text", "tool_use"]
    assert blocks[1]["id"] == "toolu_b" and blocks[1]["partial"] == ARGS
    assert stop == "tool_use"  # a call is left for the harness


def test_a_call_the_monitor_never_saw_is_refused_at_the_end() -> None:
    """Beyond extract.MAX_CALLS the accumulator keeps no more calls: fail closed."""
    blocks = [_tool_block(i, f"toolu_{i}") for i in range(MAX_CALLS + 1)]
    judged: list[str] = []

    def judge(calls: list[ToolCall]) -> dict[str, str]:
        judged.extend(c.id for c in calls)
        return {}

    out, _ = run("anthropic", anthropic_stream(*blocks), judge, cut=100_000)
    assert len(judged) == MAX_CALLS
    built, _ = anthropic_message(out)
    last = built[MAX_CALLS]
    assert last["type"] == "text" and "the monitor did not see this call" in last["text"]
    assert all(b["type"] == "tool_use" for b in built[:MAX_CALLS])


def test_without_tool_calls_nothing_is_withheld() -> None:
    stream = openai_stream()
    calls = OpenAIStream()
    meter = StreamMeter("openai", gate=ToolCallGate("openai", calls))
    assert meter.feed(stream) == stream and not meter.waiting


def test_a_tool_block_restarted_before_its_end_is_refused() -> None:
    """A hostile upstream restarts index 0 with another call: the accumulator keeps only
    the second, so the first must not go out on the second's verdict."""
    first = _tool_block(0, "toolu_a").split(b"event: content_block_stop")[0]
    stream = anthropic_stream(first + _tool_block(0, "toolu_b"))
    judged: list[str] = []

    def judge(calls: list[ToolCall]) -> dict[str, str]:
        judged.extend(c.id for c in calls)
        return {}

    out, _ = run("anthropic", stream, judge)
    assert judged == ["toolu_b"]
    blocks = [e for e in _events(out) if e["type"] == "content_block_start"]
    assert blocks[0]["content_block"]["type"] == "text"  # toolu_a, refused
    assert blocks[1]["content_block"]["id"] == "toolu_b"
    assert b"another call in its place" in out


def test_fragments_after_a_choice_finished_are_a_new_call_judged_anew() -> None:
    late = _openai_call(0, "call_late", orjson.dumps({"command": "id"}).decode())
    stream = openai_stream("call_a", finish=False) + _chunk({}, "tool_calls") + late
    out, seen = run("openai", stream, refuse("call_late"))
    assert len(seen) == 2 and b"call_late" not in seen[1]
    content, calls, _ = openai_message(out)
    assert list(calls) == ["call_a"] and "call_late (bash) was not executed" in content
