from __future__ import annotations

import pytest

from enclave.gateway import sessions
from enclave.gateway.client_errors import BadRequest

OPENING = [
    {"role": "system", "content": "You are a code auditor."},
    {"role": "user", "content": "Audit parser.c"},
]


def test_derived_id_is_stable_across_the_conversation() -> None:
    first = sessions.derive("openai", "org_a", {"messages": OPENING})
    later = sessions.derive(
        "openai",
        "org_a",
        {
            "messages": [
                *OPENING,
                {"role": "assistant", "content": "ok"},
                {"role": "user", "content": "more"},
            ]
        },
    )
    assert first == later and first.startswith("ses_") and len(first) == 36


def test_derived_id_separates_organisations_conversations_and_apis() -> None:
    base = sessions.derive("openai", "org_a", {"messages": OPENING})
    assert sessions.derive("openai", "org_b", {"messages": OPENING}) != base
    other = [OPENING[0], {"role": "user", "content": "Audit lexer.c"}]
    assert sessions.derive("openai", "org_a", {"messages": other}) != base
    assert sessions.derive("anthropic", "org_a", {"messages": OPENING[1:]}) != base


def test_anthropic_opening_is_system_and_first_message() -> None:
    one = {"system": "audit", "messages": [{"role": "user", "content": "go"}]}
    two = {**one, "messages": [*one["messages"], {"role": "assistant", "content": "x"}]}
    assert sessions.derive("anthropic", "o", one) == sessions.derive("anthropic", "o", two)
    assert sessions.derive("anthropic", "o", {**one, "system": "other"}) != sessions.derive(
        "anthropic", "o", one
    )


@pytest.mark.parametrize("value", [b"run-1", b"agent:42/step", b"a" * 100, b"X.y_z@h+1="])
def test_client_session_ids(value: bytes) -> None:
    assert sessions.parse(value) == value.decode()


@pytest.mark.parametrize("value", [b"", b" x", b"a b", b"a" * 101, b"-leading", b"caf\xe9"])
def test_bad_client_session_ids(value: bytes) -> None:
    with pytest.raises(BadRequest):
        sessions.parse(value)
