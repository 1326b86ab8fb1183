"""Rate limits per key and per organisation: requests per minute and tokens per minute.

Algorithm: GCRA, the generic cell rate algorithm (ITU-T I.371; the form Brandur Leach's
redis-cell and the `throttled` library use). Each limit keeps one number, the theoretical
arrival time (TAT): a request of cost ``c`` against ``L`` per minute advances it by
``c * 60s / L``, and is allowed while the TAT stays within one minute of now. That is a
token bucket of capacity ``L`` refilling continuously, stored as one value, so a shared
Redis needs one key per limit and no background refill. A refused request learns exactly
when it would fit (``retry_after``).

All of a request's limits (key and organisation, requests and tokens) are checked and taken
together or not at all: a request refused by its organisation's limit does not use up its
key's. Tokens are charged up front at the request's estimate (input bound plus the output
clamp, as OpenAI counts ``max_tokens`` against TPM) and the unused part is returned after
the call with :meth:`RateLimiter.refund`.

:class:`LocalRateLimiter` serves one process. :class:`RedisRateLimiter` shares the limits
of every gateway process through one Lua script per check, run atomically by Redis on its
own clock (``TIME``), so processes with skewed clocks still agree. It takes a redis-py
client built in ``enclave.store.ledger_repo`` (this package imports no driver).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from enclave.config import Settings
from enclave.errors import StoreError
from enclave.ledger.interface import LedgerError, LedgerInputError
from enclave.registry import Principal

WINDOW_US = 60_000_000  # limits are per minute
Scope = Literal["key", "org"]
Kind = Literal["requests", "tokens"]


@dataclass(frozen=True, slots=True)
class Limits:
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None


NO_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class Bucket:
    """One limit as a request meets it."""

    name: str  # storage key
    scope: Scope
    kind: Kind
    limit: int  # per minute
    cost: int

    @property
    def increment_us(self) -> int:
        # Rounded up: a rounding error may refuse a request a microsecond early, never
        # let one more through.
        return -(-self.cost * WINDOW_US // self.limit)


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    retry_after: float = 0.0  # seconds until the request would fit
    scope: Scope | None = None  # which limit refused it
    kind: Kind | None = None
    limit: int | None = None
    # The request alone exceeds the limit (e.g. more tokens than a minute allows):
    # waiting will not help.
    never: bool = False

    @property
    def retry_after_header(self) -> str:
        """HTTP Retry-After (RFC 9110 section 10.2.3): whole seconds, rounded up."""
        return str(max(1, -(-int(self.retry_after * 1000) // 1000)))

    def check(self) -> None:
        """Raise :class:`RateLimited` unless allowed."""
        if not self.allowed:
            raise RateLimited(self)

    @property
    def reason(self) -> str:
        if self.allowed:
            return "allowed"
        what = f"{self.scope} {self.kind} per minute limit ({self.limit})"
        if self.never:
            return f"the request alone exceeds the {what}"
        return f"{what} reached; retry after {self.retry_after:.1f}s"


class RateLimited(LedgerError):
    """A refusal the gateway answers with the API's native 429 and ``Retry-After``."""

    code = "rate_limited"
    status = 429

    def __init__(self, decision: RateDecision) -> None:
        super().__init__(decision.reason)
        self.decision = decision
        self.retry_after = None if decision.never else decision.retry_after_header


class RateLimitUnavailable(StoreError):
    """The shared limiter cannot be reached: refuse (fail closed) rather than serve
    without limits."""

    code = "rate_limit_unavailable"


def buckets(
    *, key_id: str, org_id: str, key_limits: Limits, org_limits: Limits, tokens: int
) -> list[Bucket]:
    if not isinstance(tokens, int) or isinstance(tokens, bool) or tokens < 0:
        raise LedgerInputError("tokens must be a non-negative integer")
    # The organisation id is a Redis Cluster hash tag: every key of one check lives in
    # one slot, as a multi-key script requires.
    base = f"enclave:rl:{{{org_id}}}"
    found: list[Bucket] = []
    scopes: tuple[tuple[Scope, Limits, str], ...] = (
        ("key", key_limits, f"{base}:key:{key_id}"),
        ("org", org_limits, f"{base}:org"),
    )
    for scope, limits, prefix in scopes:
        if limits.requests_per_minute:
            found.append(Bucket(f"{prefix}:rpm", scope, "requests", limits.requests_per_minute, 1))
        if limits.tokens_per_minute and tokens:
            found.append(Bucket(f"{prefix}:tpm", scope, "tokens", limits.tokens_per_minute, tokens))
    return found


def limits_for(principal: Principal, settings: Settings) -> tuple[Limits, Limits]:
    """The key's own limits and its organisation's (by tier, from Settings.credits)."""
    key = Limits(principal.key.limits.requests_per_minute, principal.key.limits.tokens_per_minute)
    org = settings.credits.org_limits.get(principal.org.tier)
    if org is None:
        return key, NO_LIMITS
    return key, Limits(org.requests_per_minute, org.tokens_per_minute)


def _too_big(found: Sequence[Bucket]) -> RateDecision | None:
    for b in found:
        if b.cost > b.limit:
            return RateDecision(False, 0.0, b.scope, b.kind, b.limit, never=True)
    return None


class RateLimiter(Protocol):
    def acquire(
        self, *, key_id: str, org_id: str, key_limits: Limits, org_limits: Limits, tokens: int
    ) -> RateDecision:
        """Take one request and ``tokens`` from every applicable limit, or none."""
        ...

    def refund(
        self, *, key_id: str, org_id: str, key_limits: Limits, org_limits: Limits, tokens: int
    ) -> None:
        """Give back tokens charged up front but not used."""
        ...


class LocalRateLimiter:
    """In-process limits (one gateway process). Thread-safe."""

    def __init__(self, *, clock_us: Callable[[], int] | None = None) -> None:
        self._now = clock_us or (lambda: time.monotonic_ns() // 1000)
        self._tat: dict[str, int] = {}
        self._lock = threading.Lock()

    def acquire(
        self, *, key_id: str, org_id: str, key_limits: Limits, org_limits: Limits, tokens: int
    ) -> RateDecision:
        found = buckets(
            key_id=key_id,
            org_id=org_id,
            key_limits=key_limits,
            org_limits=org_limits,
            tokens=tokens,
        )
        refused = _too_big(found)
        if refused or not found:
            return refused or RateDecision(True)
        with self._lock:
            now = self._now()
            worst: tuple[int, Bucket] | None = None
            updates: dict[str, int] = {}
            for b in found:
                new = max(self._tat.get(b.name, now), now) + b.increment_us
                wait = new - WINDOW_US - now
                if wait > 0 and (worst is None or wait > worst[0]):
                    worst = (wait, b)
                updates[b.name] = new
            if worst is not None:
                wait, b = worst
                return RateDecision(False, wait / 1_000_000, b.scope, b.kind, b.limit)
            self._tat.update(updates)
            if len(self._tat) > 100_000:
                self._forget(now)
        return RateDecision(True)

    def refund(
        self, *, key_id: str, org_id: str, key_limits: Limits, org_limits: Limits, tokens: int
    ) -> None:
        found = [
            b
            for b in buckets(
                key_id=key_id,
                org_id=org_id,
                key_limits=key_limits,
                org_limits=org_limits,
                tokens=tokens,
            )
            if b.kind == "tokens"
        ]
        with self._lock:
            now = self._now()
            for b in found:
                if b.name in self._tat:
                    self._tat[b.name] = max(now, self._tat[b.name] - b.increment_us)

    def _forget(self, now: int) -> None:
        # A TAT in the past means a full bucket, the same as no entry.
        for name in [n for n, tat in self._tat.items() if tat <= now]:
            del self._tat[name]


# KEYS: one per limit. ARGV[1]: the window (us); ARGV[1 + i]: the increment of KEYS[i] (us).
# Returns {1} when taken, {0, wait_us, i} with the limit that needs the longest wait.
# Numbers go back to Redis through %.0f: Lua's default %.14g would round a microsecond
# timestamp (16 digits).
ACQUIRE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[1])
local new = {}
local worst, worst_i = 0, 0
for i, key in ipairs(KEYS) do
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat < now then tat = now end
  new[i] = tat + tonumber(ARGV[i + 1])
  local wait = new[i] - window - now
  if wait > worst then worst, worst_i = wait, i end
end
if worst_i > 0 then return {0, string.format('%.0f', worst), worst_i} end
for i, key in ipairs(KEYS) do
  redis.call('SET', key, string.format('%.0f', new[i]),
             'PX', string.format('%.0f', math.ceil((new[i] - now) / 1000) + 1))
end
return {1}
"""

REFUND_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
for i, key in ipairs(KEYS) do
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat > now then
    local back = tat - tonumber(ARGV[i])
    if back < now then back = now end
    redis.call('SET', key, string.format('%.0f', back),
               'PX', string.format('%.0f', math.ceil((back - now) / 1000) + 1))
  end
end
return 1
"""


class ScriptClient(Protocol):
    """What the Redis limiter needs of a client: redis-py's ``Redis.register_script``,
    whose scripts run by EVALSHA and reload themselves after a Redis restart."""

    def register_script(self, script: str) -> Callable[..., Any]: ...


class RedisRateLimiter:
    """Limits shared by every process using the same Redis."""

    def __init__(self, client: ScriptClient, *, errors: tuple[type[Exception], ...]) -> None:
        self._acquire = client.register_script(ACQUIRE_LUA)
        self._refund = client.register_script(REFUND_LUA)
        # The client library's connection errors: refused requests, not tracebacks.
        self._errors = errors

    def _run(self, script: Callable[..., Any], found: Sequence[Bucket], args: list[int]) -> Any:
        try:
            return script(keys=[b.name for b in found], args=args)
        except self._errors as exc:
            raise RateLimitUnavailable(
                f"the shared rate limiter (Redis) is unavailable: {exc}",
                hint="check ENCLAVE_REDIS_URL and that Redis is running",
            ) from None

    def acquire(
        self, *, key_id: str, org_id: str, key_limits: Limits, org_limits: Limits, tokens: int
    ) -> RateDecision:
        found = buckets(
            key_id=key_id,
            org_id=org_id,
            key_limits=key_limits,
            org_limits=org_limits,
            tokens=tokens,
        )
        refused = _too_big(found)
        if refused or not found:
            return refused or RateDecision(True)
        reply = self._run(self._acquire, found, [WINDOW_US, *(b.increment_us for b in found)])
        if int(reply[0]) == 1:
            return RateDecision(True)
        b = found[int(reply[2]) - 1]
        return RateDecision(False, int(reply[1]) / 1_000_000, b.scope, b.kind, b.limit)

    def refund(
        self, *, key_id: str, org_id: str, key_limits: Limits, org_limits: Limits, tokens: int
    ) -> None:
        found = [
            b
            for b in buckets(
                key_id=key_id,
                org_id=org_id,
                key_limits=key_limits,
                org_limits=org_limits,
                tokens=tokens,
            )
            if b.kind == "tokens"
        ]
        if found:
            self._run(self._refund, found, [b.increment_us for b in found])


__all__ = [
    "ACQUIRE_LUA",
    "NO_LIMITS",
    "REFUND_LUA",
    "WINDOW_US",
    "Bucket",
    "Limits",
    "LocalRateLimiter",
    "RateDecision",
    "RateLimitUnavailable",
    "RateLimited",
    "RateLimiter",
    "RedisRateLimiter",
    "ScriptClient",
    "buckets",
    "limits_for",
]
