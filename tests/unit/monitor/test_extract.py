from __future__ import annotations

import json

from enclave.monitor.extract import (
    MAX_ARGUMENT_CHARS,
    AnthropicStream,
    OpenAIStream,
    anthropic_response_calls,
    message_calls,
    new_tool_results,
    openai_response_calls,
)


def test_openai_response_tool_calls_and_legacy_function_call() -> None:
    body = {
        "choices": [
            {"message": {"role": "assistant", "tool_calls": [
                {"id": "c1", "type": "function",
                 "function": {"name": "bash", "arguments": "{\"command\": \"id\"}"}},
                {"id": "c2", "type": "function",
                 "function": {"name": "fetch", "arguments": "{\"url\": \"https://x\"}"}},
            ]}},
            {"message": {"role": "assistant",
                         "function_call": {"name": "old", "arguments": "{}"}}},
        ]
    }  # fmt: skip
    calls = openai_response_calls(body)
    assert [(c.id, c.name, c.arguments) for c in calls] == [
        ("c1", "bash", '{"command": "id"}'),
        ("c2", "fetch", '{"url": "https://x"}'),
        ("function_call", "old", "{}"),
    ]


def test_anthropic_response_tool_use_blocks() -> None:
    body = {"content": [
        {"type": "text", "text": "Let me look."},
        {"type": "tool_use", "id": "toolu_1", "name": "bash", "input": {"command": "id"}},
    ]}  # fmt: skip
    (call,) = anthropic_response_calls(body)
    assert (call.id, call.name, json.loads(call.arguments)) == (
        "toolu_1", "bash", {"command": "id"}
    )  # fmt: skip


def test_openai_stream_joins_argument_fragments_of_parallel_calls() -> None:
    stream = OpenAIStream()
    chunks = [
        {"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "id": "c1", "type": "function",
             "function": {"name": "bash", "arguments": ""}}]}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "function": {"arguments": "{\"comm"}}]}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 1, "id": "c2", "function": {"name": "fetch", "arguments": "{\"url\":"}}]}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "function": {"arguments": "and\": \"cat /etc/sha"}},
            {"index": 1, "function": {"arguments": " \"https://x\"}"}}]}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "function": {"arguments": "dow\"}"}}]}}]},
    ]  # fmt: skip
    assert all(stream.feed(c) == [] for c in chunks)
    done = stream.feed({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
    assert [(c.id, c.name, json.loads(c.arguments)) for c in done] == [
        ("c1", "bash", {"command": "cat /etc/shadow"}),
        ("c2", "fetch", {"url": "https://x"}),
    ]
    assert stream.finish() == []


def test_openai_stream_cut_off_is_flushed_by_finish() -> None:
    stream = OpenAIStream()
    fragment = {"name": "bash", "arguments": '{"command": "i'}
    stream.feed({"choices": [{"index": 0, "delta": {"tool_calls": [
        {"index": 0, "id": "c1", "function": fragment}]}}]})  # fmt: skip
    (call,) = stream.finish()
    assert call.arguments == '{"command": "i'


def test_anthropic_stream_input_json_delta() -> None:
    stream = AnthropicStream()
    events = [
        {"type": "message_start", "message": {}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1,
         "content_block": {"type": "tool_use", "id": "toolu_9", "name": "bash", "input": {}}},
        {"type": "content_block_delta", "index": 1,
         "delta": {"type": "input_json_delta", "partial_json": "{\"command\": \"cat ~/.a"}},
        {"type": "content_block_delta", "index": 1,
         "delta": {"type": "input_json_delta", "partial_json": "ws/credentials\"}"}},
    ]  # fmt: skip
    assert all(stream.feed(e) == [] for e in events)
    (call,) = stream.feed({"type": "content_block_stop", "index": 1})
    assert (call.id, call.name) == ("toolu_9", "bash")
    assert json.loads(call.arguments) == {"command": "cat ~/.aws/credentials"}


def test_stream_arguments_are_bounded_and_marked_truncated() -> None:
    stream = AnthropicStream()
    block = {"type": "tool_use", "id": "t", "name": "x", "input": {}}
    stream.feed({"type": "content_block_start", "index": 0, "content_block": block})
    piece = "A" * 65_536
    for _ in range(MAX_ARGUMENT_CHARS // len(piece) + 4):
        stream.feed({"type": "content_block_delta", "index": 0,
                     "delta": {"type": "input_json_delta", "partial_json": piece}})  # fmt: skip
    (call,) = stream.feed({"type": "content_block_stop", "index": 0})
    assert len(call.arguments) < MAX_ARGUMENT_CHARS + 100
    assert call.arguments.endswith("[truncated]")


def test_malformed_bodies_and_events_yield_nothing_rather_than_raise() -> None:
    for body in ({}, {"choices": "x"}, {"choices": [None, 3, {"message": []}]}):
        assert openai_response_calls(body) == []
    assert anthropic_response_calls({"content": [None, {"type": "tool_use"}]})[0].name == "unknown"
    stream = OpenAIStream()
    assert stream.feed({"choices": [{"delta": {"tool_calls": [None, {"index": "x"}]}}]}) == []
    assert AnthropicStream().feed({"type": "content_block_delta", "index": 7}) == []


def test_only_the_new_tool_results_of_a_request_are_taken() -> None:
    old = {"role": "assistant", "tool_calls": [
        {"id": "c1", "function": {"name": "bash", "arguments": "{}"}}]}  # fmt: skip
    new = {"role": "assistant", "tool_calls": [
        {"id": "c2", "function": {"name": "fetch", "arguments": "{}"}}]}  # fmt: skip
    body = {"messages": [
        {"role": "user", "content": "go"}, old,
        {"role": "tool", "tool_call_id": "c1", "content": "seen before"}, new,
        {"role": "tool", "tool_call_id": "c2", "content": [{"type": "text", "text": "fresh"}]},
    ]}  # fmt: skip
    (result,) = new_tool_results("openai", body)
    assert (result.tool_call_id, result.tool, result.content) == ("c2", "fetch", "fresh")
    anthropic = {"messages": [
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "t1", "name": "bash", "input": {}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "t1", "is_error": True,
             "content": "permission denied"}]},
    ]}  # fmt: skip
    (result,) = new_tool_results("anthropic", anthropic)
    assert (result.tool, result.is_error, result.content) == ("bash", True, "permission denied")
    assert [c.id for c in message_calls("openai", body["messages"])] == ["c1", "c2"]
