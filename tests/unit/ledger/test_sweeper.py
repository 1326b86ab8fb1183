"""The sweeper: stale reservations are reconciled from recorded usage, or expire."""

from __future__ import annotations

import threading

import pytest
from ledger_support import M

from enclave.ledger import (
    NotPending,
    PendingResolved,
    PeriodicSweeper,
    Phase,
    TransferId,
    UnknownTransfer,
    Usage,
    usage_cost,
)

P = TransferId


def test_stale_reservation_with_usage_is_posted_from_the_newest_checkpoint(
    world, curl, price, clock
):
    world.reserve(curl, "streamed", 10 * M, price, minutes=5)
    world.ledger.record_usage(pending_id=P("streamed"), usage=Usage(1000, 10))
    world.ledger.record_usage(pending_id=P("streamed"), usage=Usage(1000, 400))
    clock.advance(minutes=4)
    assert world.ledger.sweep().reconciled == []  # not stale yet
    clock.advance(minutes=2)
    report = world.ledger.sweep()
    (posted,) = report.reconciled
    assert posted.phase is Phase.POST and posted.actor == "system:sweeper"
    assert posted.amount == usage_cost(price, Usage(1000, 400))
    assert world.available(curl) == 100 * M - posted.amount
    assert world.credits.check(world.admin).ok


def test_stale_reservation_without_usage_expires_and_a_late_post_is_refused(
    world, curl, price, clock
):
    world.reserve(curl, "lost", 10 * M, price, minutes=5)
    clock.advance(minutes=6)
    (expired,) = world.ledger.sweep().expired
    assert expired.phase is Phase.EXPIRE and expired.amount == 0
    assert world.available(curl) == 100 * M
    before = world.snapshot()
    with pytest.raises(PendingResolved, match="already expired"):
        world.ledger.post(pending_id=P("lost"), amount=M)
    assert world.snapshot() == before


def test_a_late_post_before_the_sweep_is_honoured(world, curl, price, clock):
    """Expiry is the sweeper's resolution, not implied by the clock: a stream that
    outlives its timeout is still charged if it settles first."""
    world.reserve(curl, "long", 10 * M, price, minutes=1)
    clock.advance(minutes=30)
    world.ledger.post(pending_id=P("long"), amount=3 * M)
    assert world.ledger.sweep().expired == []
    assert world.available(curl) == 97 * M


def test_gateway_retry_after_the_sweeper_reconciled_is_not_charged_twice(world, curl, price, clock):
    usage = Usage(500, 500)
    world.reserve(curl, "req", 10 * M, price, minutes=1)
    world.ledger.record_usage(pending_id=P("req"), usage=usage, final=True)
    clock.advance(minutes=2)
    (posted,) = world.ledger.sweep().reconciled
    # The gateway comes back and settles with the same usage: the same transfer.
    assert world.ledger.settle(pending_id=P("req"), usage=usage) == posted
    # With other usage it is refused; nothing moves.
    before = world.snapshot()
    with pytest.raises(PendingResolved, match="already posted"):
        world.ledger.settle(pending_id=P("req"), usage=Usage(1, 1))
    assert world.snapshot() == before
    assert world.available(curl) == 100 * M - posted.amount


def test_usage_for_unknown_or_resolved_transfers_is_refused(world, curl, price):
    with pytest.raises(UnknownTransfer):
        world.ledger.record_usage(pending_id=P("nope"), usage=Usage(1, 1))
    grant = world.credits.statement(world.admin, curl.id).grants[0].transfer
    with pytest.raises(NotPending):
        world.ledger.record_usage(pending_id=grant.id, usage=Usage(1, 1))
    world.reserve(curl, "done", M, price)
    world.ledger.void(pending_id=P("done"), reason="failed")
    with pytest.raises(PendingResolved, match="already voided"):
        world.ledger.record_usage(pending_id=P("done"), usage=Usage(1, 1))


def test_concurrent_sweepers_resolve_each_reservation_once(world, curl, price, clock):
    for i in range(20):
        world.reserve(curl, f"r{i}", M, price, minutes=1)
        if i % 2:
            world.ledger.record_usage(pending_id=P(f"r{i}"), usage=Usage(100, 100))
    clock.advance(minutes=2)
    reports = []
    start = threading.Barrier(4)

    def run() -> None:
        start.wait()
        reports.append(world.ledger.sweep())

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    resolved = [t.pending_id for r in reports for t in (*r.reconciled, *r.expired)]
    assert sorted(resolved) == sorted(f"r{i}" for i in range(20))  # each exactly once
    assert world.available(curl) == 100 * M - 10 * usage_cost(price, Usage(100, 100))
    assert world.credits.check(world.admin).ok


def test_periodic_sweeper_runs_the_sweep(world, curl, price, clock):
    world.reserve(curl, "old", M, price, minutes=1)
    clock.advance(minutes=2)
    sweeper = PeriodicSweeper(world.ledger, interval_seconds=3600)
    report = sweeper.run_once()
    assert report is not None and [t.pending_id for t in report.expired] == ["old"]
    sweeper.start()
    sweeper.stop()
    with pytest.raises(ValueError):
        PeriodicSweeper(world.ledger, interval_seconds=0)
