"""The monitor's actions on a model response (issue 7 item 5, gateway side).

The monitor (enclave.monitor) decides, per tool call, allow | flag | hold | block |
terminate; this module applies that decision to the response the client receives:

- flag: nothing changes (the alert is recorded by the monitor);
- block / terminate, or a hold an operator rejected or that timed out: the tool call is
  removed and a refusal the harness can read takes its place, in the API's own shape
  (OpenAI: text in ``message.content``, ``finish_reason`` ``stop`` when no call is left;
  Anthropic: a ``text`` block where the ``tool_use`` block was, ``stop_reason``
  ``end_turn`` when no call is left). A harness then sees an assistant turn that says why
  it has nothing to execute, rather than a call it might run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from enclave.gateway.client_errors import Api

PREFIX = "[enclave] "


def refusal_text(tool: str, tool_call_id: str, reason: str) -> str:
    return f"{PREFIX}tool call {tool_call_id} ({tool}) was not executed: {reason}"


def _openai(body: dict[str, Any], refused: Mapping[str, str]) -> None:
    for choice in body.get("choices") or ():
        message = choice.get("message") if isinstance(choice, dict) else None
        if not isinstance(message, dict):
            continue
        calls = message.get("tool_calls")
        if not isinstance(calls, list):
            continue
        kept: list[Any] = []
        notes: list[str] = []
        for call in calls:
            ident = call.get("id") if isinstance(call, dict) else None
            if isinstance(ident, str) and ident in refused:
                function = call.get("function") or {}
                name = function.get("name", "?") if isinstance(function, dict) else "?"
                notes.append(refusal_text(str(name), ident, refused[ident]))
            else:
                kept.append(call)
        if not notes:
            continue
        content = message.get("content")
        text = content if isinstance(content, str) and content else ""
        message["content"] = "\n".join([text, *notes] if text else notes)
        if kept:
            message["tool_calls"] = kept
        else:
            message.pop("tool_calls", None)
            if choice.get("finish_reason") == "tool_calls":
                choice["finish_reason"] = "stop"


def _anthropic(body: dict[str, Any], refused: Mapping[str, str]) -> None:
    blocks = body.get("content")
    if not isinstance(blocks, list):
        return
    out: list[Any] = []
    left = False
    for block in blocks:
        if isinstance(block, dict) and block.get("type") == "tool_use":
            ident = block.get("id")
            if isinstance(ident, str) and ident in refused:
                name = str(block.get("name", "?"))
                out.append({"type": "text", "text": refusal_text(name, ident, refused[ident])})
                continue
            left = True
        out.append(block)
    body["content"] = out
    if not left and body.get("stop_reason") == "tool_use":
        body["stop_reason"] = "end_turn"


def refuse_calls(api: Api, body: dict[str, Any], refused: Mapping[str, str]) -> bytes:
    """``body`` (a parsed response) with the calls in ``refused`` (id -> reason)
    replaced by refusals, serialised."""
    if api == "openai":
        _openai(body, refused)
    else:
        _anthropic(body, refused)
    return orjson.dumps(body)


__all__ = ["PREFIX", "refusal_text", "refuse_calls"]
