"""Streams pass through chunk by chunk; a client that leaves cancels the upstream; many
streams at once all arrive whole."""

from __future__ import annotations

import asyncio
from typing import Any

import anthropic
import httpx
import openai
import pytest
from gateway_support import HANG_CHUNKS, Gateway, sdk_openai


def _events_of(gateway: Gateway, count: int) -> list[dict[str, Any]]:
    gateway.wait_recorded(count)
    return [dict(e.event.data) for e in gateway.events()]


@pytest.mark.parametrize("api", ["openai", "anthropic"])
def test_client_disconnect_cancels_upstream_and_records_what_was_delivered(
    gateway: Gateway, api: str
) -> None:
    if api == "openai":
        path, model = "/v1/chat/completions", "hang"
        headers = gateway.headers(gateway.keys.public)
        body: dict[str, Any] = {"model": model, "stream": True}
    else:
        path, model = "/v1/messages", "hang-claude"
        headers = {"x-api-key": gateway.keys.public, "anthropic-version": "2023-06-01"}
        body = {"model": model, "stream": True, "max_tokens": 32}
    body["messages"] = [{"role": "user", "content": "one two three four five"}]
    received = b""
    with httpx.Client(base_url=gateway.url, timeout=30) as http:
        with http.stream("POST", path, json=body, headers=headers) as response:
            assert response.status_code == 200
            # The upstream sends HANG_CHUNKS words and then stalls without ending the
            # response: these bytes can only arrive if the gateway forwards as it goes.
            for chunk in response.iter_raw():
                received += chunk
                if b"two" in received:  # "echo: one two": the HANG_CHUNKS-th word
                    break
        # Leaving the block closes the connection mid-stream.
    assert gateway.upstream.disconnected.wait(timeout=10), "upstream request not cancelled"
    (data,) = _events_of(gateway, 1)
    assert data["outcome"] == "client_disconnected"
    assert data["delivered"]["content_deltas"] == HANG_CHUNKS
    assert data["delivered"]["bytes"] == data["bytes_out"] > 0
    assert data["response_sha256"].startswith("sha256:")


def test_first_chunk_is_not_delayed_by_the_rest(gateway: Gateway) -> None:
    client = sdk_openai(gateway)
    stream = client.chat.completions.create(
        model="hang", messages=[{"role": "user", "content": "a b c d e"}], stream=True
    )
    first = next(iter(stream))
    assert first.choices[0].delta.role == "assistant"
    stream.close()
    assert gateway.upstream.disconnected.wait(timeout=10)


def test_hundred_concurrent_streams_complete_with_correct_content(gateway: Gateway) -> None:
    async def main() -> list[tuple[str, str]]:
        oai = openai.AsyncOpenAI(
            base_url=f"{gateway.url}/v1", api_key=gateway.keys.public, max_retries=0
        )
        claude = anthropic.AsyncAnthropic(
            base_url=gateway.url, api_key=gateway.keys.public, max_retries=0
        )

        async def via_openai(i: int) -> tuple[str, str]:
            stream = await oai.chat.completions.create(
                model="gpt-fake",
                messages=[{"role": "user", "content": f"request {i} says hello"}],
                stream=True,
            )
            parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
            return f"echo: request {i} says hello", "".join(parts)

        async def via_anthropic(i: int) -> tuple[str, str]:
            async with claude.messages.stream(
                model="claude-fake",
                max_tokens=64,
                messages=[{"role": "user", "content": f"request {i} says hello"}],
            ) as stream:
                text = "".join([t async for t in stream.text_stream])
            return f"echo: request {i} says hello", text

        try:
            return await asyncio.gather(
                *(via_openai(i) if i % 2 else via_anthropic(i) for i in range(100))
            )
        finally:
            await oai.close()
            await claude.close()

    results = asyncio.run(main())
    assert [got for _, got in results] == [want for want, _ in results]
    data = _events_of(gateway, 100)
    assert len(data) == 100
    assert {d["outcome"] for d in data} == {"ok"}
    assert all(d["usage"]["output_tokens"] == 5 for d in data)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_long_streams_are_forwarded_whole(gateway: Gateway) -> None:
    with gateway.http.stream(
        "POST",
        "/v1/chat/completions",
        json={"model": "long", "stream": True, "messages": [{"role": "user", "content": "x"}]},
        headers=gateway.headers(gateway.keys.public),
    ) as response:
        text = response.read().decode()
    assert response.headers["content-type"].startswith("text/event-stream")
    assert text.count("data: ") == 200 + 3  # role chunk, 200 words, finish, [DONE]
    assert text.endswith("data: [DONE]\n\n")
    assert '"usage"' in text  # the gateway asked for usage: chunks carry "usage": null
    assert '"choices":[]' not in text  # but not the usage-only chunk the client did not ask for
