"""Refused tool calls are replaced in each API's shape; the others are kept as they were."""

from __future__ import annotations

from typing import Any

import orjson

from enclave.gateway.toolguard import refuse_calls


def _openai(*ids: str, content: str | None = None) -> dict[str, Any]:
    calls = [
        {"id": i, "type": "function", "function": {"name": f"t{i}", "arguments": "{}"}} for i in ids
    ]
    return {
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "tool_calls": calls},
                "finish_reason": "tool_calls",
            }
        ]
    }


def test_openai_one_of_two_calls_refused() -> None:
    out = orjson.loads(refuse_calls("openai", _openai("a", "b", content="Let me"), {"a": "no"}))
    choice = out["choices"][0]
    assert [c["id"] for c in choice["message"]["tool_calls"]] == ["b"]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == (
        "Let me\n[enclave] tool call a (ta) was not executed: no"
    )


def test_openai_every_call_refused_ends_the_turn() -> None:
    out = orjson.loads(refuse_calls("openai", _openai("a"), {"a": "no"}))
    choice = out["choices"][0]
    assert "tool_calls" not in choice["message"] and choice["finish_reason"] == "stop"
    assert choice["message"]["content"].startswith("[enclave] tool call a (ta)")


def test_anthropic_block_replaced_in_place() -> None:
    body = {
        "type": "message",
        "content": [
            {"type": "text", "text": "Let me"},
            {"type": "tool_use", "id": "a", "name": "bash", "input": {}},
            {"type": "tool_use", "id": "b", "name": "read", "input": {}},
        ],
        "stop_reason": "tool_use",
    }
    out = orjson.loads(refuse_calls("anthropic", body, {"a": "no"}))
    assert [b["type"] for b in out["content"]] == ["text", "text", "tool_use"]
    assert out["content"][1]["text"] == "[enclave] tool call a (bash) was not executed: no"
    assert out["stop_reason"] == "tool_use"
    out = orjson.loads(refuse_calls("anthropic", out, {"b": "no"}))
    assert out["stop_reason"] == "end_turn"
    assert all(b["type"] == "text" for b in out["content"])
