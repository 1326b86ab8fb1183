"""json_depth_exceeds against a reference: the depth of the parsed value."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from enclave.gateway.limits import json_depth_exceeds

# Strings full of the characters that could fool a scanner: brackets, quotes, backslashes.
tricky = st.text(alphabet=st.sampled_from('[]{}"\\ab\n'), max_size=12)
values = st.recursive(
    st.none() | st.booleans() | st.integers() | tricky,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(tricky, inner, max_size=3),
    max_leaves=40,
)


def depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    return 0


@given(values, st.integers(min_value=0, max_value=12), st.booleans())
def test_agrees_with_the_parsed_depth(value: Any, limit: int, ascii_only: bool) -> None:
    body = json.dumps(value, ensure_ascii=ascii_only).encode()
    assert json_depth_exceeds(body, limit) == (depth(value) > limit)


@given(st.binary(max_size=200), st.integers(min_value=0, max_value=8))
def test_any_bytes_give_an_answer(body: bytes, limit: int) -> None:
    assert json_depth_exceeds(body, limit) in (True, False)


def test_the_bound_is_inclusive() -> None:
    assert not json_depth_exceeds(b"[" * 64 + b"]" * 64, 64)
    assert json_depth_exceeds(b"[" * 65 + b"]" * 65, 64)
    assert not json_depth_exceeds(b"[]" * 1000, 1)
