"""StreamMeter: events forwarded byte for byte however the upstream chunks them."""

from __future__ import annotations

import orjson
from hypothesis import given
from hypothesis import strategies as st

from enclave.gateway.streaming import StreamMeter, Usage, error_event, usage_of


def _sse(data: object, event: str | None = None) -> bytes:
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + orjson.dumps(data) + b"\n\n"


def _chunk(content: str | None, choices: bool = True) -> bytes:
    delta = {"content": content} if content is not None else {}
    body: dict[str, object] = {"id": "c", "object": "chat.completion.chunk", "usage": None}
    body["choices"] = [{"index": 0, "delta": delta, "finish_reason": None}] if choices else []
    return _sse(body)


USAGE = _sse(
    {
        "id": "c",
        "choices": [],
        "usage": {
            "prompt_tokens": 7,
            "completion_tokens": 3,
            "prompt_tokens_details": {"cached_tokens": 2},
        },
    }
)
OPENAI = (
    _chunk("")
    + _chunk("Hel")
    + _chunk("lo")
    + _chunk(" world")
    + _chunk(None)
    + USAGE
    + b"data: [DONE]\n\n"
)
ANTHROPIC = (
    _sse(
        {"type": "message_start", "message": {"usage": {"input_tokens": 9, "output_tokens": 1}}},
        "message_start",
    )
    + _sse({"type": "content_block_start", "index": 0}, "content_block_start")
    + b": keep-alive comment\n\n"
    + _sse({"type": "content_block_delta", "delta": {"text": "Hi"}}, "content_block_delta")
    + _sse({"type": "content_block_delta", "delta": {"text": "!"}}, "content_block_delta")
    + _sse({"type": "message_delta", "usage": {"output_tokens": 2}}, "message_delta")
    + _sse({"type": "message_stop"}, "message_stop")
)


def _feed(meter: StreamMeter, stream: bytes, cuts: list[int]) -> bytes:
    out = b""
    start = 0
    for cut in sorted(set(cuts)):
        out += meter.feed(stream[start:cut])
        start = cut
    out += meter.feed(stream[start:])
    return out + meter.rest()


@given(st.lists(st.integers(min_value=0, max_value=len(OPENAI)), max_size=40))
def test_openai_any_chunking_same_result(cuts: list[int]) -> None:
    meter = StreamMeter("openai")
    assert _feed(meter, OPENAI, cuts) == OPENAI
    assert meter.usage == Usage(7, 3, 2, 0)
    assert meter.content_deltas == 3 and meter.complete
    assert meter.bytes == len(OPENAI)


@given(st.lists(st.integers(min_value=0, max_value=len(OPENAI)), max_size=40))
def test_hidden_usage_chunk_any_chunking(cuts: list[int]) -> None:
    meter = StreamMeter("openai", hide_usage_chunk=True)
    assert _feed(meter, OPENAI, cuts) == OPENAI.replace(USAGE, b"")
    assert meter.usage == Usage(7, 3, 2, 0)  # read, though not forwarded
    assert meter.bytes == len(OPENAI) - len(USAGE)


@given(st.lists(st.integers(min_value=0, max_value=len(ANTHROPIC)), max_size=40))
def test_anthropic_any_chunking_same_result(cuts: list[int]) -> None:
    meter = StreamMeter("anthropic")
    assert _feed(meter, ANTHROPIC, cuts) == ANTHROPIC
    assert meter.usage == Usage(9, 2, 0, 0)
    assert meter.content_deltas == 2 and meter.complete
    assert meter.delivered() == {"events": 7, "content_deltas": 2, "bytes": len(ANTHROPIC)}


def test_crlf_events_are_forwarded_unchanged() -> None:
    stream = OPENAI.replace(b"\n", b"\r\n")
    meter = StreamMeter("openai")
    assert meter.feed(stream) == stream
    assert meter.content_deltas == 3 and meter.complete


def test_an_unterminated_tail_is_forwarded_at_the_end() -> None:
    meter = StreamMeter("openai")
    assert meter.feed(_chunk("a") + b'data: {"partial') == _chunk("a")
    assert meter.rest() == b'data: {"partial'
    assert not meter.complete


def test_upstream_error_event_is_noted() -> None:
    meter = StreamMeter("anthropic")
    meter.feed(_sse({"type": "error", "error": {"type": "overloaded_error"}}, "error"))
    assert meter.error is not None and "overloaded" in meter.error


def test_error_event_shapes() -> None:
    anthropic = error_event("anthropic", "api_error", "boom")
    assert anthropic.startswith(b"event: error\ndata: ")
    body = orjson.loads(anthropic.split(b"data: ", 1)[1])
    assert body == {"type": "error", "error": {"type": "api_error", "message": "boom"}}
    openai = orjson.loads(error_event("openai", "api_error", "boom")[6:])
    assert openai["error"]["message"] == "boom" and openai["error"]["type"] == "server_error"


def test_usage_of_whole_bodies() -> None:
    assert usage_of("openai", b'{"usage": {"prompt_tokens": 3, "completion_tokens": 4}}') == Usage(
        3, 4
    )
    body = b'{"usage": {"input_tokens": 5, "output_tokens": 6, "cache_read_input_tokens": 1}}'
    assert usage_of("anthropic", body) == Usage(5, 6, 1, 0)
    assert usage_of("openai", b"not json") is None
    assert usage_of("openai", b"[]") is None
    assert usage_of("openai", b'{"usage": {"prompt_tokens": true}}') == Usage(0, 0)
