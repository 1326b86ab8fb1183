"""The official SDKs work against Enclave by changing only base URL and key."""

from __future__ import annotations

import anthropic
import openai
import pytest
from gateway_support import Gateway, sdk_anthropic, sdk_openai


def _openai(gateway: Gateway, key: str, **kwargs: object) -> openai.OpenAI:
    return sdk_openai(gateway, key, **kwargs)


def _anthropic(gateway: Gateway, key: str, **kwargs: object) -> anthropic.Anthropic:
    return sdk_anthropic(gateway, key, **kwargs)


def test_openai_sdk_chat_completion(gateway: Gateway) -> None:
    client = _openai(gateway, gateway.keys.public)
    completion = client.chat.completions.create(
        model="gpt-fake", messages=[{"role": "user", "content": "find the overflow"}]
    )
    assert completion.choices[0].message.content == "echo: find the overflow"
    # The tier's variant went upstream, with the provider's key, not the client's.
    seen = gateway.upstream.requests[-1]
    assert seen.body["model"] == "fake-safeguarded"
    assert seen.headers["authorization"] == "Bearer sk-fake-openai"
    assert completion.usage is not None and completion.usage.completion_tokens == 4


def test_openai_sdk_stream(gateway: Gateway) -> None:
    client = _openai(gateway, gateway.keys.partner_one)
    stream = client.chat.completions.create(
        model="gpt-fake",
        messages=[{"role": "user", "content": "one two three"}],
        stream=True,
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: one two three"
    # The gateway asked upstream for usage, and kept the extra usage-only chunk from a
    # client that did not ask for it: every chunk still has a choice.
    assert gateway.upstream.requests[-1].body["stream_options"] == {"include_usage": True}
    assert all(c.choices for c in chunks)
    assert gateway.upstream.requests[-1].body["model"] == "fake-full"
    (event,) = gateway.events()
    assert event.event.data["usage"]["output_tokens"] == 4
    assert event.event.data["outcome"] == "ok"


def test_openai_sdk_stream_with_usage_requested(gateway: Gateway) -> None:
    client = _openai(gateway, gateway.keys.public)
    chunks = list(
        client.chat.completions.create(
            model="gpt-fake",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 2


def test_anthropic_sdk_message(gateway: Gateway) -> None:
    client = _anthropic(gateway, gateway.keys.public)
    message = client.messages.create(
        model="claude-fake",
        max_tokens=64,
        messages=[{"role": "user", "content": "review this patch"}],
    )
    assert message.content[0].type == "text"
    assert message.content[0].text == "echo: review this patch"
    seen = gateway.upstream.requests[-1]
    assert seen.headers["x-api-key"] == "sk-fake-anthropic"
    # The client's API version is forwarded, so the upstream answers the shape it expects.
    assert seen.headers["anthropic-version"] == client.default_headers["anthropic-version"]
    assert seen.body["model"] == "fake-safeguarded"
    assert message.usage.output_tokens == 4


def test_anthropic_sdk_stream(gateway: Gateway) -> None:
    client = _anthropic(gateway, gateway.keys.partner_one)
    with client.messages.stream(
        model="claude-fake",
        max_tokens=64,
        messages=[{"role": "user", "content": "stream me please"}],
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "echo: stream me please"
    assert final.usage.output_tokens == 4
    (event,) = gateway.events()
    data = event.event.data
    assert data["api"] == "anthropic" and data["stream"] is True
    assert data["usage"]["input_tokens"] == 3 and data["usage"]["output_tokens"] == 4
    assert data["delivered"]["content_deltas"] == 4


def test_models_listing_in_both_shapes(gateway: Gateway) -> None:
    public = [m.id for m in _openai(gateway, gateway.keys.public).models.list()]
    partner = [m.id for m in _openai(gateway, gateway.keys.partner).models.list()]
    assert "partner-only" not in public and "gpt-fake" in public
    assert "partner-only" in partner
    listed = _anthropic(gateway, gateway.keys.public).models.list()
    assert [m.id for m in listed.data] == public
    assert _openai(gateway, gateway.keys.public).models.retrieve("gpt-fake").id == "gpt-fake"
    with pytest.raises(openai.NotFoundError):
        _openai(gateway, gateway.keys.public).models.retrieve("partner-only")


def test_session_header_round_trip(gateway: Gateway) -> None:
    body = {"model": "gpt-fake", "messages": [{"role": "user", "content": "same opening"}]}
    first = gateway.chat(gateway.keys.public, body)
    follow = {
        **body,
        "messages": [
            *body["messages"],
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "and then?"},
        ],
    }
    second = gateway.chat(gateway.keys.public, follow)
    derived = first.headers["x-enclave-session"]
    assert derived.startswith("ses_") and second.headers["x-enclave-session"] == derived
    other = gateway.chat(
        gateway.keys.public, {**body, "messages": [{"role": "user", "content": "new talk"}]}
    )
    assert other.headers["x-enclave-session"] != derived
    named = gateway.chat(gateway.keys.public, body, **{"X-Enclave-Session": "agent-run-42"})
    assert named.headers["x-enclave-session"] == "agent-run-42"
    sessions = [e.event.data["session"] for e in gateway.events()]
    assert sessions == [derived, derived, other.headers["x-enclave-session"], "agent-run-42"]
