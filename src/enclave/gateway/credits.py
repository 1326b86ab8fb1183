"""The gateway's Ledger seam over enclave.ledger: rate limits, then reserve, then settle.

Per model call, after the policy allows and before the upstream (docs/credits.md, "For
the gateway"):

    estimate (worst case; an unpriced variant is refused: fail closed)
      -> rate limits, key and organisation, requests and tokens (429 + Retry-After)
      -> LedgerService.reserve (one conditional UPDATE; 402/insufficient_quota)
      -> upstream -> settle on the usage (or on what a cut stream delivered), or void
      -> refund the unused part of the token estimate to the tokens-per-minute limits

The ledger's calls are synchronous (SQLAlchemy) and run in a worker thread
(``asyncio.to_thread``) so that the event loop keeps serving while the database waits
on a lock. The in-process rate limiter is a few microseconds of arithmetic under a lock
and runs inline; the Redis one does I/O and goes to a thread like the ledger.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from enclave.config import Settings
from enclave.config.gateway import DEMO
from enclave.config.settings import ModelPrice
from enclave.errors import EnclaveError
from enclave.gateway.client_errors import Api, CreditsExhausted, ModelNotPriced
from enclave.gateway.seams import Charge, Reservation, Settlement
from enclave.ledger import (
    Estimate,
    InsufficientCredits,
    LedgerService,
    PeriodicSweeper,
    TransferId,
    UnpricedVariant,
    estimate,
)
from enclave.ledger import Usage as LedgerUsage
from enclave.ledger.ratelimit import Limits, LocalRateLimiter, RateLimiter, limits_for
from enclave.runtime import Runtime
from enclave.store.ledger_repo import open_ledger, open_rate_limiter

logger = logging.getLogger("enclave.gateway")

# The built-in demo model's price when demo mode runs without one configured: 1 credit
# per million tokens either way, so the demo grant made by `enclave init` (DEMO_GRANT)
# covers about a million demo calls, and every one of them goes through the ledger like
# a real call would.
DEMO_PRICE = ModelPrice(input=1_000_000, output=1_000_000, max_output_tokens=1024)
DEMO_GRANT = 1000 * 1_000_000  # micro-credits
# Image parts reserve a fixed token count each (CreditsConfig.image_tokens).
_IMAGE_TYPES = frozenset({"image", "image_url", "input_image"})


def with_demo_price(settings: Settings) -> Settings:
    """In demo mode (no provider configured) the demo variant is priced by default."""
    if settings.providers or DEMO in settings.prices:
        return settings
    return settings.model_copy(update={"prices": {**settings.prices, DEMO: DEMO_PRICE}})


def count_images(request: Mapping[str, Any]) -> int:
    found = 0
    messages = request.get("messages")
    if not isinstance(messages, list):
        return 0
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            found += sum(
                1 for part in content if isinstance(part, dict) and part.get("type") in _IMAGE_TYPES
            )
    return found


@dataclass(slots=True)
class Hold:
    """One request's reservation, and what to give back to the rate limits after it."""

    id: str
    amount: int  # reserved
    estimate: Estimate
    api: Api
    key_id: str
    org_id: str
    key_limits: Limits
    org_limits: Limits


class CreditsLedger:
    """enclave.gateway.seams.Ledger over LedgerService and a RateLimiter."""

    def __init__(
        self,
        ledger: LedgerService,
        limiter: RateLimiter,
        settings: Settings,
        *,
        sweep_seconds: float = 30.0,
    ) -> None:
        self.ledger = ledger
        self.limiter = limiter
        self._settings = with_demo_price(settings)
        self._timeout = timedelta(seconds=settings.credits.pending_timeout_seconds)
        self._inline_limiter = isinstance(limiter, LocalRateLimiter)
        self.sweeper = PeriodicSweeper(ledger, interval_seconds=sweep_seconds)
        self._running = False

    @classmethod
    def open(cls, runtime: Runtime, **kwargs: Any) -> CreditsLedger:
        settings = runtime.settings
        return cls(
            open_ledger(runtime.db, settings), open_rate_limiter(settings), settings, **kwargs
        )

    # -- lifecycle (ClientApi.start/close) ---------------------------------------------------

    def start(self) -> None:
        if not self._running:
            self.sweeper.start()
            self._running = True

    def stop(self) -> None:
        if self._running:
            self.sweeper.stop()
            self._running = False

    # -- the seam ----------------------------------------------------------------------------

    async def reserve(self, charge: Charge) -> Hold:
        max_tokens = charge.request.get("max_tokens")
        if max_tokens is None:
            max_tokens = charge.request.get("max_completion_tokens")
        try:
            est = estimate(
                self._settings,
                charge.variant,
                request_bytes=charge.request_bytes,
                max_tokens=max_tokens if isinstance(max_tokens, int) else None,
                images=count_images(charge.request),
            )
        except UnpricedVariant:
            raise ModelNotPriced(
                f"model {charge.model!r} cannot be served: its variant has no price, so "
                "the gateway cannot reserve credits for the request",
                hint="an operator must set [prices] for it (docs/credits.md)",
            ) from None
        principal = charge.principal
        key_limits, org_limits = limits_for(principal, self._settings)
        limits: dict[str, Any] = {
            "key_id": principal.key.id,
            "org_id": principal.org.id,
            "key_limits": key_limits,
            "org_limits": org_limits,
        }
        if self._inline_limiter:
            decision = self.limiter.acquire(**limits, tokens=est.tokens)
        else:
            decision = await asyncio.to_thread(self.limiter.acquire, **limits, tokens=est.tokens)
        decision.check()  # RateLimited: 429 with Retry-After
        try:
            pending = await asyncio.to_thread(
                self.ledger.reserve,
                transfer_id=TransferId(charge.request_id),
                org_id=principal.org.id,
                amount=est.amount,
                timeout=self._timeout,
                price=est.price,
                actor=f"key:{principal.key.id}",
                key_id=principal.key.id,
            )
        except InsufficientCredits as exc:
            await self._refund(limits, est.tokens)
            raise CreditsExhausted(
                exc.message, hint="ask the programme's operators for a grant"
            ) from None
        except BaseException:
            await self._refund(limits, est.tokens)
            raise
        return Hold(
            pending.id, pending.amount, est, charge.api, principal.key.id, principal.org.id,
            key_limits, org_limits,
        )  # fmt: skip

    async def post(self, reservation: Reservation, settlement: Settlement) -> int | None:
        hold = _hold(reservation)
        usage = ledger_usage(hold, settlement)
        try:
            posted = await asyncio.to_thread(
                self.ledger.settle, pending_id=TransferId(hold.id), usage=usage
            )
        finally:
            used = usage.input_tokens + usage.output_tokens
            used += usage.cache_read_tokens + usage.cache_write_tokens
            await self._refund(_limits(hold), max(0, hold.estimate.tokens - used))
        return posted.amount

    async def void(self, reservation: Reservation, reason: str) -> None:
        hold = _hold(reservation)
        try:
            await asyncio.to_thread(
                self.ledger.void, pending_id=TransferId(hold.id), reason=reason or "void"
            )
        finally:
            await self._refund(_limits(hold), hold.estimate.tokens)

    async def checkpoint(self, reservation: Reservation, settlement: Settlement) -> None:
        hold = _hold(reservation)
        try:
            await asyncio.to_thread(
                self.ledger.record_usage,
                pending_id=TransferId(hold.id),
                usage=ledger_usage(hold, settlement),
            )
        except EnclaveError as exc:
            # The stream goes on: at worst a crash now bills the previous checkpoint.
            logger.warning("usage checkpoint for %s failed: %s", hold.id, exc.diagnostics())

    async def _refund(self, limits: Mapping[str, Any], tokens: int) -> None:
        if tokens <= 0:
            return
        try:
            if self._inline_limiter:
                self.limiter.refund(**limits, tokens=tokens)
            else:
                await asyncio.to_thread(self.limiter.refund, **limits, tokens=tokens)
        except EnclaveError as exc:
            # A lost refund only makes the limit stricter for the rest of the minute.
            logger.warning("rate-limit refund failed: %s", exc.diagnostics())


def _hold(reservation: Reservation) -> Hold:
    if not isinstance(reservation, Hold):  # pragma: no cover - the pipeline passes ours back
        raise TypeError("not a reservation made by CreditsLedger")
    return reservation


def _limits(hold: Hold) -> dict[str, Any]:
    return {
        "key_id": hold.key_id,
        "org_id": hold.org_id,
        "key_limits": hold.key_limits,
        "org_limits": hold.org_limits,
    }


def ledger_usage(hold: Hold, settlement: Settlement) -> LedgerUsage:
    """What to charge, in the ledger's vocabulary (input excludes cached tokens).

    A call the upstream completed is charged its reported usage. One cut short (client
    gone, upstream broken) is charged what was delivered: the reported input (else the
    estimate's input bound: the upstream read the whole prompt) and the larger of the
    reported output and the content deltas sent (one token each, as providers stream).
    A completed call without any usage reported is charged the worst case's input and
    its delivered output, or the output clamp when nothing was counted."""
    seen = settlement.usage
    inputs = outputs = cache_read = cache_write = 0
    if seen is not None:
        inputs, outputs = seen.input_tokens, seen.output_tokens
        cache_read, cache_write = seen.cache_read_tokens, seen.cache_write_tokens
        if hold.api == "openai":
            # prompt_tokens counts the cached ones too (prompt_tokens_details).
            inputs = max(0, inputs - cache_read)
    delivered = settlement.delivered.get("content_deltas", 0)
    if settlement.outcome != "ok" or seen is None:
        if inputs + cache_read + cache_write == 0:
            inputs = hold.estimate.input_tokens
        outputs = max(outputs, delivered)
        if seen is None and not settlement.delivered:
            outputs = hold.estimate.output_tokens
    return LedgerUsage(inputs, outputs, cache_read, cache_write)


__all__ = [
    "DEMO_GRANT",
    "DEMO_PRICE",
    "CreditsLedger",
    "Hold",
    "count_images",
    "ledger_usage",
    "with_demo_price",
]
