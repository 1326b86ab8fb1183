"""The built-in demo provider: both API shapes, streamed and not, canned agent turns."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest
from gateway_support import Gateway, Swappable, run_gateway, sdk_anthropic, sdk_openai

from enclave.cli._demo import ensure_demo_key, key_path
from enclave.config import Settings
from enclave.registry import Operator, RegistryService
from enclave.store import Database

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

TOOLS_OPENAI = [
    {
        "type": "function",
        "function": {
            "name": "read_file",
            "parameters": {
                "type": "object",
                "properties": {"path": {"type": "string"}},
                "required": ["path"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "run",
            "parameters": {
                "type": "object",
                "properties": {"command": {"type": "string"}, "timeout": {"type": "integer"}},
                "required": ["command", "timeout"],
            },
        },
    },
]


@pytest.fixture
def demo(
    settings: Settings,
    db: Database,
    registry: RegistryService,
    admin: Operator,
    second_admin: Operator,
    clock: Any,
    enclave_server: tuple[str, Any, Swappable],
    upstream: Any,
) -> Iterator[Gateway]:
    assert not settings.providers  # nothing configured: demo mode
    yield from run_gateway(
        settings, db, registry, admin, second_admin, clock, enclave_server, upstream
    )


def _oai(gateway: Gateway) -> openai.OpenAI:
    return sdk_openai(gateway)


def _claude(gateway: Gateway) -> anthropic.Anthropic:
    return sdk_anthropic(gateway)


def test_models_list_only_demo(demo: Gateway) -> None:
    assert [m.id for m in _oai(demo).models.list()] == ["demo"]
    assert [m.id for m in _claude(demo).models.list().data] == ["demo"]


def test_openai_shape_streamed_and_not(demo: Gateway) -> None:
    client = _oai(demo)
    messages: Any = [{"role": "user", "content": "Is my parser safe?"}]
    reply = client.chat.completions.create(model="demo", messages=messages)
    assert reply.model == "demo"
    text = reply.choices[0].message.content or ""
    assert "demo model" in text and "Is my parser safe?" in text
    chunks = list(client.chat.completions.create(model="demo", messages=messages, stream=True))
    assert {c.model for c in chunks} == {"demo"}
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == text
    assert all(c.choices for c in chunks)  # the usage chunk the gateway asked for is hidden
    events = demo.events()
    assert [e.event.data["provider"] for e in events] == ["demo", "demo"]
    assert events[1].event.data["usage"]["output_tokens"] == reply.usage.completion_tokens  # type: ignore[union-attr]


def test_anthropic_shape_streamed_and_not(demo: Gateway) -> None:
    client = _claude(demo)
    messages: Any = [{"role": "user", "content": "hello"}]
    message = client.messages.create(model="demo", max_tokens=100, messages=messages)
    assert message.model == "demo" and message.stop_reason == "end_turn"
    text = message.content[0].text  # type: ignore[union-attr]
    with client.messages.stream(model="demo", max_tokens=100, messages=messages) as stream:
        streamed = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert streamed == text and final.model == "demo"


def test_openai_agent_script_calls_the_clients_tools_then_answers(demo: Gateway) -> None:
    client = _oai(demo)
    messages: list[Any] = [{"role": "user", "content": "audit src/parser.c"}]
    calls = []
    for _ in range(2):
        reply = client.chat.completions.create(model="demo", messages=messages, tools=TOOLS_OPENAI)  # type: ignore[arg-type]
        choice = reply.choices[0]
        assert choice.finish_reason == "tool_calls"
        (call,) = choice.message.tool_calls or []
        calls.append((call.function.name, json.loads(call.function.arguments)))  # type: ignore[union-attr]
        messages.append(choice.message.model_dump(exclude_none=True))
        messages.append({"role": "tool", "tool_call_id": call.id, "content": "ok"})
    assert calls == [
        ("read_file", {"path": "src/parser.c"}),
        ("run", {"command": "grep -n 'strcpy' src/*.c", "timeout": 1}),
    ]
    final = client.chat.completions.create(model="demo", messages=messages, tools=TOOLS_OPENAI)  # type: ignore[arg-type]
    assert final.choices[0].finish_reason == "stop"
    assert "strcpy" in (final.choices[0].message.content or "")


def test_streamed_tool_call_in_both_shapes(demo: Gateway) -> None:
    stream = _oai(demo).chat.completions.create(
        model="demo",
        messages=[{"role": "user", "content": "go"}],
        tools=TOOLS_OPENAI,  # type: ignore[arg-type]
        stream=True,
    )
    arguments = ""
    names = []
    for chunk in stream:
        for call in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            if call.function and call.function.name:
                names.append(call.function.name)
            arguments += (call.function.arguments or "") if call.function else ""
    assert names == ["read_file"] and json.loads(arguments) == {"path": "src/parser.c"}

    tools: Any = [
        {
            "name": "list_files",
            "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}},
        }
    ]
    with _claude(demo).messages.stream(
        model="demo", max_tokens=100, tools=tools, messages=[{"role": "user", "content": "go"}]
    ) as claude_stream:
        message = claude_stream.get_final_message()
    assert message.stop_reason == "tool_use"
    tool_use = message.content[-1]
    assert tool_use.type == "tool_use" and tool_use.name == "list_files"
    assert tool_use.input == {"path": "src/parser.c"}


def test_demo_is_not_served_when_a_provider_is_configured(gateway: Gateway) -> None:
    response = gateway.chat(
        gateway.keys.public, {"model": "demo", "messages": [{"role": "user", "content": "x"}]}
    )
    assert response.status_code == 404
    assert "demo" not in [
        m["id"]
        for m in gateway.http.get(
            "/v1/models", headers=gateway.headers(gateway.keys.public)
        ).json()["data"]
    ]


def test_demo_key_is_reissued_when_the_saved_one_stops_working(
    settings: Settings, registry: RegistryService, admin: Operator, clock: Any
) -> None:
    first = ensure_demo_key(registry, settings)
    assert first is not None and ensure_demo_key(registry, settings) == first
    clock.advance(days=91)  # public-tier keys live at most 90 days
    second = ensure_demo_key(registry, settings)
    assert second not in (None, first)
    assert key_path(settings).read_text().strip() == second
    assert [o.name for o in registry.list_orgs(admin)] == ["Demo"]  # still one organisation
