"""Session state shared through the real Redis at 127.0.0.1:6379 (TEST_REDIS_URL)."""

from __future__ import annotations

import json
import multiprocessing
import os
import secrets
from collections.abc import Iterator

import pytest
import redis

from enclave.errors import StoreError
from enclave.monitor import RuleEngine, Scope, ToolCall, call_event, load_rules
from enclave.monitor.state import SessionState
from enclave.store.monitor_redis import PREFIX, RedisStates

URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
EVENTS = 150


def _reachable() -> bool:
    try:
        redis.Redis.from_url(URL, socket_connect_timeout=2).ping()
    except redis.RedisError:
        return False
    return True


@pytest.fixture
def key() -> Iterator[str]:
    if not _reachable():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but Redis is not reachable at {URL}")
        pytest.skip(f"Redis not reachable at {URL}")
    name = f"test-{secrets.token_hex(6)}"
    yield name
    redis.Redis.from_url(URL).delete(PREFIX + name)


def _fold(key: str, offset: int, count: int) -> None:
    """One gateway process: its own client and engine, the shared session."""
    engine = RuleEngine(load_rules())
    states = RedisStates.from_url(URL)
    scope = Scope.parse(["host:10.20.0.0/16"])
    for i in range(count):
        command = f"cat /home/u{offset + i}/.ssh/id_rsa"
        event = call_event(
            ToolCall(f"c{offset + i}", "bash", json.dumps({"command": command}), "openai")
        )
        matched = engine.match(event, scope)
        states.apply(key, lambda s, m=matched, t=float(i): engine.fold(s, m, now=t))


def test_two_processes_fold_into_one_session_without_losing_updates(key: str) -> None:
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_fold, args=(key, n * EVENTS, EVENTS)) for n in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    state = RedisStates.from_url(URL).peek(key)
    assert state.events == 2 * EVENTS
    assert state.hits["enclave_cred_sensitive_file_read"] == 2 * EVENTS


def test_two_clients_see_each_others_state_and_ttl_is_set(key: str) -> None:
    first = RedisStates.from_url(URL, ttl_seconds=120)
    second = RedisStates.from_url(URL, ttl_seconds=120)
    first.apply(key, lambda s: setattr(s, "events", s.events + 1))
    second.apply(key, lambda s: s.remember("call-1", "hold"))
    seen = first.peek(key)
    assert seen.events == 1 and seen.decisions == {"call-1": "hold"}
    assert 0 < redis.Redis.from_url(URL).ttl(PREFIX + key) <= 120
    second.drop(key)
    assert first.peek(key) == SessionState()


def test_an_unreachable_redis_is_a_store_error() -> None:
    dead = RedisStates(redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5))
    with pytest.raises(StoreError, match="Redis"):
        dead.apply("x", lambda s: None)
