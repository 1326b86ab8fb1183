"""The gateway's Ledger seam over enclave.ledger: rate limits, then reserve, then settle.

Per model call, after the policy allows and before the upstream (docs/credits.md, "For
the gateway"):

    estimate (worst case; an unpriced variant is refused: fail closed)
      -> rate limits, key and organisation, requests and tokens (429 + Retry-After)
      -> LedgerService.reserve (one conditional UPDATE; 402/insufficient_quota)
      -> upstream -> settle on the usage (or on what a cut stream delivered), or void
      -> refund the unused part of the token estimate to the tokens-per-minute limits

The ledger's calls are synchronous and go through the database's write lanes
(store/lanes.py, WriteLanes.attempt): on SQLite they run on the event loop when the
write lock is free (a few statements on the driver, no disk sync; store/driver.py) and
otherwise in the lane's one thread, the reservation, which the client waits for, ahead
of settlements and event batches; on PostgreSQL in the lanes' threads. The in-process rate
limiter is a few microseconds of arithmetic under a lock and runs inline; the Redis one
does I/O and goes to a thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
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
    Transfer,
    TransferId,
    UnpricedVariant,
    estimate,
)
from enclave.ledger import Usage as LedgerUsage
from enclave.ledger.ratelimit import Limits, LocalRateLimiter, RateLimiter, limits_for
from enclave.registry import OrgId
from enclave.runtime import Runtime
from enclave.store.lanes import Urgency, WriteLanes
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
    # Set when the reservation commits while the upstream call runs (see _View).
    commit: asyncio.Future[None] | None = None
    refused: bool = False


@dataclass(slots=True)
class _View:
    """This process's record of one organisation's available credits.

    Kept exact by this process's own reservations (taken off when admitted) and
    settlements (given back when they land), and read from the database only while none
    of this process's writes for the organisation is under way. While it covers a
    request, the upstream call and the reservation's commit overlap; the database stays
    the judge: a commit it refuses (credits spent by another process, an expired grant)
    refuses the request before any byte of the answer is sent, and the record is dropped
    until the next quiet moment. ``available`` None: no record, commit first."""

    available: int | None = None
    writes: int = 0  # this process's ledger writes for the organisation under way
    epoch: int = 0  # counts writes begun: a read overlapping one is not kept


class CreditsLedger:
    """enclave.gateway.seams.Ledger over LedgerService and a RateLimiter."""

    def __init__(
        self,
        ledger: LedgerService,
        limiter: RateLimiter,
        settings: Settings,
        *,
        lanes: WriteLanes,
        sweep_seconds: float = 30.0,
    ) -> None:
        self.ledger = ledger
        self._lanes = lanes
        self.limiter = limiter
        self._settings = with_demo_price(settings)
        self._timeout = timedelta(seconds=settings.credits.pending_timeout_seconds)
        self._inline_limiter = isinstance(limiter, LocalRateLimiter)
        self.sweeper = PeriodicSweeper(ledger, interval_seconds=sweep_seconds)
        self._running = False
        self._views: dict[str, _View] = {}
        self._seen_sweep: object = None
        self.overlapped = 0  # reservations that committed while their upstream call ran

    @classmethod
    def open(cls, runtime: Runtime, **kwargs: Any) -> CreditsLedger:
        settings = runtime.settings
        return cls(
            open_ledger(runtime.db, settings),
            open_rate_limiter(settings),
            settings,
            lanes=runtime.db.lanes,
            **kwargs,
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
        hold = Hold(
            TransferId(charge.request_id), est.amount, est, charge.api, principal.key.id,
            principal.org.id, key_limits, org_limits,
        )  # fmt: skip
        self._forget_if_swept()
        view = self._views.setdefault(hold.org_id, _View())
        if view.available is not None and view.available >= hold.amount:
            # Overlapped: this process's own record says the credits are there, so the
            # upstream call starts while the reservation commits; confirm() waits for the
            # commit before the first byte of the answer goes back.
            view.available -= hold.amount
            hold.commit = asyncio.ensure_future(self._commit(hold, view, overlapped=True))
            self.overlapped += 1
            return hold
        # Committed first: no record (first request, after a sweep or a refusal) or not
        # enough on it. The database decides before the upstream is called.
        commit = asyncio.ensure_future(self._commit(hold, view))
        try:
            await asyncio.shield(commit)
        except BaseException:
            # Cancelled (client gone) while committing: the commit goes on, and a
            # reservation it makes is expired by the sweeper like any abandoned one.
            commit.add_done_callback(_retrieve)
            raise
        if view.writes == 0 and view.available is None:
            await self._refresh(hold.org_id, view)
        return hold

    async def _commit(self, hold: Hold, view: _View, *, overlapped: bool = False) -> None:
        self._begin(view)
        try:
            if overlapped:
                # Let the upstream call go out first: aiohttp writes the request from a
                # task it schedules when the call starts, which would otherwise run after
                # this commit (on SQLite the commit runs on the loop), and the upstream
                # would only start once the reservation had committed. Measured: 0.3 ms
                # of added p50 in `make bench-gateway`, the whole reservation.
                await asyncio.sleep(0)
            await self._lanes.attempt(
                Urgency.REQUEST,
                self.ledger.reserve,
                transfer_id=TransferId(hold.id),
                org_id=hold.org_id,
                amount=hold.amount,
                timeout=self._timeout,
                price=hold.estimate.price,
                actor=f"key:{hold.key_id}",
                key_id=hold.key_id,
            )
        except BaseException as exc:
            # Nothing reserved. A refusal of what the record allowed (credits spent by
            # another process, a grant expired), or any failure: forget the record.
            view.available = None
            hold.refused = True
            await self._refund(_limits(hold), hold.estimate.tokens)
            if isinstance(exc, InsufficientCredits):
                raise CreditsExhausted(
                    exc.message, hint="ask the programme's operators for a grant"
                ) from None
            raise
        finally:
            view.writes -= 1

    async def _refresh(self, org_id: str, view: _View) -> None:
        """Read the balance into the record, but only while none of this process's writes
        for the organisation is under way: then the database holds all of them, and the
        record stays exact as this process reserves and settles."""
        epoch = view.epoch
        try:
            available = await asyncio.to_thread(self.ledger.available, OrgId(org_id))
        except EnclaveError as exc:
            logger.warning("credits balance read failed: %s", exc.diagnostics())
            return
        if view.writes == 0 and view.epoch == epoch and available is not None:
            view.available = available

    def _forget_if_swept(self) -> None:
        # The sweeper (its own thread) expires grants and stale reservations behind the
        # records' back: after each sweep, every organisation commits first once more.
        last = self.sweeper.last
        if last is not self._seen_sweep:
            self._seen_sweep = last
            self._views.clear()

    async def confirm(self, reservation: Reservation) -> None:
        hold = _hold(reservation)
        if hold.commit is not None:
            await asyncio.shield(hold.commit)  # raises the refusal (CreditsExhausted)

    async def _landed(self, hold: Hold) -> bool:
        """Wait for the reservation's commit; False when the ledger refused it."""
        if hold.commit is not None:
            try:
                await asyncio.shield(hold.commit)
            except BaseException:
                return False
        return not hold.refused

    async def post(self, reservation: Reservation, settlement: Settlement) -> int | None:
        hold = _hold(reservation)
        if not await self._landed(hold):
            return 0
        usage = ledger_usage(hold, settlement)
        try:
            posted = await self._resolve(hold, self.ledger.settle, usage=usage)
        finally:
            used = usage.input_tokens + usage.output_tokens
            used += usage.cache_read_tokens + usage.cache_write_tokens
            await self._refund(_limits(hold), max(0, hold.estimate.tokens - used))
        return posted.amount

    async def void(self, reservation: Reservation, reason: str) -> None:
        hold = _hold(reservation)
        if not await self._landed(hold):
            return  # refused: nothing was reserved (the refusal refunded the limits)
        try:
            await self._resolve(hold, self.ledger.void, reason=reason or "void")
        finally:
            await self._refund(_limits(hold), hold.estimate.tokens)

    async def _resolve(
        self, hold: Hold, resolve: Callable[..., Transfer], **kwargs: Any
    ) -> Transfer:
        """Post or void the reservation in the write lanes, keeping the organisation's
        record exact: what the resolution returns is available again once it lands."""
        view = self._views.get(hold.org_id)
        self._begin(view)
        try:
            done = await self._lanes.attempt(
                Urgency.AFTER, resolve, pending_id=TransferId(hold.id), **kwargs
            )
        except BaseException:
            self._end(view, None)
            raise
        self._end(view, hold.amount - done.amount)
        return done

    @staticmethod
    def _begin(view: _View | None) -> None:
        if view is not None:
            view.writes += 1
            view.epoch += 1

    @staticmethod
    def _end(view: _View | None, returned: int | None) -> None:
        """A settlement landed: ``returned`` credits are available again (None: it failed,
        and the record cannot know what the database holds)."""
        if view is None:
            return
        view.writes -= 1
        if returned is None:
            view.available = None
        elif view.available is not None:
            view.available += returned

    async def checkpoint(self, reservation: Reservation, settlement: Settlement) -> None:
        hold = _hold(reservation)
        try:
            await self._lanes.attempt(
                Urgency.AFTER,
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


def _retrieve(task: asyncio.Future[None]) -> None:
    if not task.cancelled():
        task.exception()  # consumed: the refusal was already answered, or nobody waits


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
