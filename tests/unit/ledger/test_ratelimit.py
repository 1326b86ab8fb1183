"""Rate limits: GCRA in-process (a controlled clock) and in Redis (the real server)."""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterator

import pytest
import redis

from enclave.config import Settings
from enclave.errors import StoreError
from enclave.ledger import (
    LedgerInputError,
    Limits,
    LocalRateLimiter,
    RateDecision,
    RateLimited,
    RateLimiter,
    RateLimitUnavailable,
    RedisRateLimiter,
)
from enclave.ledger.ratelimit import NO_LIMITS
from enclave.store.ledger_repo import open_rate_limiter

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() == "true"


class FakeClock:
    def __init__(self) -> None:
        self.us = 1_000_000_000

    def __call__(self) -> int:
        return self.us

    def advance(self, seconds: float) -> None:
        self.us += int(seconds * 1_000_000)


@pytest.fixture
def clock_us() -> FakeClock:
    return FakeClock()


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        if IN_CI:
            raise
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc}")
    yield client
    client.close()


@pytest.fixture(params=["local", "redis"])
def limiter(request: pytest.FixtureRequest) -> RateLimiter:
    if request.param == "local":
        return LocalRateLimiter()
    client = request.getfixturevalue("redis_client")
    return RedisRateLimiter(client, errors=(redis.RedisError, OSError))


def org() -> str:
    return f"org_{secrets.token_hex(6)}"  # fresh buckets in the shared Redis


def take(limiter: RateLimiter, o: str, key: Limits, org_limits: Limits, tokens: int = 0,
         key_id: str = "k1") -> RateDecision:  # fmt: skip
    return limiter.acquire(
        key_id=key_id, org_id=o, key_limits=key, org_limits=org_limits, tokens=tokens
    )


def test_requests_per_minute_with_a_computed_retry_after(limiter):
    o = org()
    for _ in range(3):
        assert take(limiter, o, Limits(requests_per_minute=3), NO_LIMITS).allowed
    refused = take(limiter, o, Limits(requests_per_minute=3), NO_LIMITS)
    assert not refused.allowed and refused.scope == "key" and refused.kind == "requests"
    # One request frees every 20 s; the first of the three was taken moments ago.
    assert 19.0 < refused.retry_after <= 20.0
    assert refused.retry_after_header == "20"
    assert "key requests per minute limit (3)" in refused.reason
    with pytest.raises(RateLimited, match="limit") as caught:
        refused.check()
    assert caught.value.status == 429 and caught.value.retry_after == "20"


def test_tokens_per_minute_and_requests_too_big_to_ever_fit(limiter):
    o = org()
    lim = Limits(tokens_per_minute=1000)
    assert take(limiter, o, lim, NO_LIMITS, tokens=600).allowed
    refused = take(limiter, o, lim, NO_LIMITS, tokens=600)
    assert not refused.allowed and refused.kind == "tokens" and not refused.never
    assert 11.0 < refused.retry_after <= 12.0  # 200 tokens short at 1000/60 per second
    huge = take(limiter, o, lim, NO_LIMITS, tokens=1001)
    assert not huge.allowed and huge.never and "alone exceeds" in huge.reason


def test_the_organisation_limit_spans_its_keys(limiter):
    o = org()
    org_limit = Limits(requests_per_minute=2)
    assert take(limiter, o, NO_LIMITS, org_limit, key_id="a").allowed
    assert take(limiter, o, NO_LIMITS, org_limit, key_id="b").allowed
    refused = take(limiter, o, NO_LIMITS, org_limit, key_id="c")
    assert not refused.allowed and refused.scope == "org"
    assert take(limiter, org(), NO_LIMITS, org_limit, key_id="a").allowed  # another org


def test_all_or_nothing(limiter):
    """A request refused by the organisation's limit does not use up its key's."""
    o = org()
    key = Limits(requests_per_minute=2)
    org_limit = Limits(requests_per_minute=1)
    assert take(limiter, o, key, org_limit).allowed
    assert not take(limiter, o, key, org_limit).allowed  # the org limit refuses
    # The key has one request left: the refused one did not take it.
    assert take(limiter, o, key, NO_LIMITS).allowed
    assert not take(limiter, o, key, NO_LIMITS).allowed


def test_unused_tokens_are_refunded(limiter):
    o = org()
    lim = Limits(tokens_per_minute=1000)
    assert take(limiter, o, lim, NO_LIMITS, tokens=900).allowed
    assert not take(limiter, o, lim, NO_LIMITS, tokens=900).allowed
    limiter.refund(key_id="k1", org_id=o, key_limits=lim, org_limits=NO_LIMITS, tokens=800)
    assert take(limiter, o, lim, NO_LIMITS, tokens=900).allowed


def test_no_limits_means_allowed(limiter):
    assert take(limiter, org(), NO_LIMITS, NO_LIMITS, tokens=10**9).allowed


def test_local_limits_refill_with_time(clock_us):
    limiter = LocalRateLimiter(clock_us=clock_us)
    lim = Limits(requests_per_minute=60)
    for _ in range(60):
        assert take(limiter, "o", lim, NO_LIMITS).allowed
    refused = take(limiter, "o", lim, NO_LIMITS)
    assert refused.retry_after == pytest.approx(1.0)
    clock_us.advance(0.999)
    assert not take(limiter, "o", lim, NO_LIMITS).allowed
    clock_us.advance(0.001)
    assert take(limiter, "o", lim, NO_LIMITS).allowed
    clock_us.advance(3600)  # a long idle never grants more than one minute's burst
    assert sum(take(limiter, "o", lim, NO_LIMITS).allowed for _ in range(100)) == 60


def test_concurrent_acquires_never_exceed_the_limit(limiter):
    o = org()
    lim = Limits(requests_per_minute=50)
    results: list[bool] = []
    gate = threading.Barrier(8)

    def run() -> None:
        gate.wait()
        results.extend(take(limiter, o, NO_LIMITS, lim).allowed for _ in range(25))

    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(results) == 50 and len(results) == 200


def test_bad_token_counts_are_refused(limiter):
    for bad in (-1, 1.5, True):
        with pytest.raises(LedgerInputError):
            take(limiter, org(), NO_LIMITS, Limits(tokens_per_minute=5), tokens=bad)  # type: ignore[arg-type]


def test_an_unreachable_redis_fails_closed():
    limiter = open_rate_limiter(Settings(redis_url="redis://127.0.0.1:1/0"))
    with pytest.raises(RateLimitUnavailable, match="unavailable") as caught:
        take(limiter, org(), Limits(requests_per_minute=1), NO_LIMITS)
    assert isinstance(caught.value, StoreError) and caught.value.status == 503


def test_settings_pick_the_limiter(redis_client):
    assert isinstance(open_rate_limiter(Settings()), LocalRateLimiter)
    shared = open_rate_limiter(Settings(redis_url=REDIS_URL))
    assert isinstance(shared, RedisRateLimiter)
    assert take(shared, org(), Limits(requests_per_minute=1), NO_LIMITS).allowed
