"""Two-phase transfers on the real database: reserve, post, settle, void; idempotent ids;
every refused input changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from ledger_support import PRICES, M

from enclave.ledger import (
    ExceedsPending,
    InsufficientCredits,
    LedgerInputError,
    NotPending,
    PendingResolved,
    Phase,
    PriceRef,
    TransferExists,
    TransferId,
    UnknownTransfer,
    Usage,
    consumed_account,
    usage_cost,
)
from enclave.registry import Organisation
from enclave.store.ledger_repo import open_credits


def test_reserve_holds_then_post_charges_and_returns_the_rest(world, curl, price):
    pending = world.reserve(curl, "req-1", 10 * M, price)
    assert pending.phase is Phase.PENDING and pending.price == price
    assert world.available(curl) == 90 * M

    posted = world.ledger.post(pending_id=pending.id, amount=3 * M, actor="key:key_test")
    assert posted.id == "req-1/post" and posted.pending_id == "req-1"
    assert posted.price == price  # the price is recorded on the settled transfer
    assert world.available(curl) == 97 * M
    statement = world.credits.statement(world.admin, curl.id)
    assert statement.consumed is not None
    assert statement.consumed.balance.credits_posted == 3 * M
    assert statement.account is not None and statement.account.balance.debits_pending == 0
    assert world.credits.check(world.admin).ok


def test_void_returns_everything(world, curl, price):
    world.reserve(curl, "req-1", 10 * M, price)
    voided = world.ledger.void(pending_id=TransferId("req-1"), reason="upstream 502")
    assert voided.phase is Phase.VOID and voided.amount == 0 and voided.memo == "upstream 502"
    assert world.available(curl) == 100 * M
    assert world.credits.check(world.admin).ok


def test_settle_charges_usage_at_the_reserved_price_even_after_a_price_change(
    world, curl, price, ledger_settings, db, clock
):
    world.reserve(curl, "req-1", 10 * M, price)
    # The operator doubles every price and restarts; the request in flight keeps its own.
    dearer = {
        name: p.model_copy(update={"input": p.input * 2, "output": p.output * 2})
        for name, p in PRICES.items()
    }
    ledger, _ = open_credits(db, ledger_settings.model_copy(update={"prices": dearer}), clock=clock)
    usage = Usage(input_tokens=1000, output_tokens=2000, cache_read_tokens=5000)
    settled = ledger.settle(pending_id=TransferId("req-1"), usage=usage)
    expected = -(-(1000 * 3_000_000 + 2000 * 15_000_000 + 5000 * 300_000) // 1_000_000)
    assert settled.amount == expected == usage_cost(price, usage)
    assert settled.usage == usage and settled.price == price


def test_settle_caps_at_the_reservation_and_records_the_uncharged_rest(world, curl, price):
    world.reserve(curl, "req-1", 1000, price)
    settled = world.ledger.settle(
        pending_id=TransferId("req-1"), usage=Usage(output_tokens=1_000_000)
    )
    assert settled.amount == 1000
    (event,) = [
        e
        for e in world.registry.list_events(world.admin, kind="ledger.posted")
        if e.event.subject == settled.id
    ]
    assert event.event.data["uncharged"] == 15 * M - 1000


def test_same_id_same_fields_returns_the_original(world, curl, price):
    first = world.reserve(curl, "req-1", 10 * M, price)
    again = world.reserve(curl, "req-1", 10 * M, price)
    assert again == first
    assert world.available(curl) == 90 * M  # held once
    post = world.ledger.post(pending_id=TransferId("req-1"), amount=2 * M)
    assert world.ledger.post(pending_id=TransferId("req-1"), amount=2 * M) == post
    assert world.available(curl) == 98 * M
    assert world.credits.check(world.admin).ok


def test_retry_of_a_reservation_is_answered_even_when_the_balance_is_spent(world, curl, price):
    first = world.reserve(curl, "all", 100 * M, price)
    assert world.available(curl) == 0
    assert world.reserve(curl, "all", 100 * M, price) == first


def test_same_id_different_fields_is_an_error_and_changes_nothing(world, curl, price):
    world.reserve(curl, "req-1", 10 * M, price)
    before = world.snapshot()
    with pytest.raises(TransferExists, match="different amount"):
        world.reserve(curl, "req-1", 11 * M, price)
    other = PriceRef("m-other", 1, 1, 1, 1)
    with pytest.raises(TransferExists, match="price"):
        world.reserve(curl, "req-1", 10 * M, other)
    world.ledger.post(pending_id=TransferId("req-1"), amount=2 * M)
    before = world.snapshot()
    with pytest.raises(PendingResolved, match="already posted"):
        world.ledger.post(pending_id=TransferId("req-1"), amount=3 * M)
    assert world.snapshot() == before


def test_overdraw_is_refused_atomically(world, curl, price):
    world.reserve(curl, "big", 95 * M, price)
    before = world.snapshot()
    with pytest.raises(InsufficientCredits) as caught:
        world.reserve(curl, "more", 6 * M, price)
    assert caught.value.available == 5 * M and caught.value.requested == 6 * M
    assert caught.value.status == 402
    assert world.snapshot() == before
    world.reserve(curl, "fits", 5 * M, price)
    assert world.available(curl) == 0


def test_an_organisation_without_credits_is_refused(world, reviewers, price):
    org = world.approved_org("nocredits", reviewers)
    for amount in (1, 0):  # even a free variant serves only funded organisations
        with pytest.raises(InsufficientCredits, match="never granted"):
            world.reserve(org, "req-1", amount, price)


@pytest.mark.parametrize("amount", [-1, 0.5, 1.0, "10", True, None, 10**16])
def test_bad_amounts_are_refused_and_change_nothing(world, curl, price, amount):
    before = world.snapshot()
    with pytest.raises(LedgerInputError, match="amount"):
        world.reserve(curl, "req-1", amount, price)
    world.reserve(curl, "ok", 1 * M, price)
    with pytest.raises(LedgerInputError, match="amount"):
        world.ledger.post(pending_id=TransferId("ok"), amount=amount)
    with pytest.raises(LedgerInputError, match="amount"):
        world.credits.grant(world.admin, pool="oss", org=curl.id, amount=amount)
    world.ledger.void(pending_id=TransferId("ok"), reason="test")
    after = world.snapshot()
    assert after[0] == before[0]  # balances as before the reservation


@pytest.mark.parametrize("tid", ["", "has space", "a/b", "x" * 65, "-lead", None, 7])
def test_bad_transfer_ids_are_refused(world, curl, price, tid):
    with pytest.raises(LedgerInputError, match="transfer"):
        world.reserve(curl, tid, 1, price)


def test_post_larger_than_pending_is_refused_and_changes_nothing(world, curl, price):
    world.reserve(curl, "req-1", 10 * M, price)
    before = world.snapshot()
    with pytest.raises(ExceedsPending, match="holds 10 "):
        world.ledger.post(pending_id=TransferId("req-1"), amount=10 * M + 1)
    assert world.snapshot() == before
    # ...and the reservation is still open for the right amount.
    world.ledger.post(pending_id=TransferId("req-1"), amount=10 * M)
    assert world.available(curl) == 90 * M


def test_second_resolution_is_refused_and_changes_nothing(world, curl, price):
    world.reserve(curl, "req-1", 10 * M, price)
    world.ledger.void(pending_id=TransferId("req-1"), reason="failed")
    before = world.snapshot()
    with pytest.raises(PendingResolved, match="already voided"):
        world.ledger.post(pending_id=TransferId("req-1"), amount=1)
    with pytest.raises(PendingResolved, match="already voided"):
        world.ledger.void(
            pending_id=TransferId("req-1"), reason="other reason", transfer_id=TransferId("v2")
        )
    assert world.snapshot() == before


def test_unknown_and_non_pending_targets(world, curl, price):
    with pytest.raises(UnknownTransfer):
        world.ledger.post(pending_id=TransferId("nope"), amount=1)
    grant = world.credits.statement(world.admin, curl.id).grants[0].transfer
    before = world.snapshot()
    with pytest.raises(NotPending, match="single, not pending"):
        world.ledger.void(pending_id=grant.id, reason="x")
    assert world.snapshot() == before
    world.reserve(curl, "req-1", 1 * M, price)
    with pytest.raises(LedgerInputError):
        world.ledger.void(pending_id=TransferId("req-1"), reason="   ")


def test_every_state_change_is_an_event_in_the_same_transaction(world, curl, price):
    world.reserve(curl, "req-1", 10 * M, price)
    world.ledger.record_usage(pending_id=TransferId("req-1"), usage=Usage(input_tokens=5))
    world.ledger.settle(pending_id=TransferId("req-1"), usage=Usage(input_tokens=10))
    kinds = [e.event.kind for e in world.registry.list_events(world.admin, limit=1000)]
    for kind in ("ledger.account.opened", "ledger.funded", "ledger.granted",
                 "ledger.reserved", "ledger.usage", "ledger.posted"):  # fmt: skip
        assert kind in kinds
    (reserved,) = world.registry.list_events(world.admin, kind="ledger.reserved")
    assert reserved.event.actor == "key:key_test"
    assert reserved.event.data["amount"] == 10 * M and reserved.event.data["price"]["output"]
    assert world.credits.check(world.admin).ok


def test_zero_priced_variant_reserves_zero(world, curl, ledger_settings):
    free = PriceRef("m-free", 0, 0, 0, 0)
    world.reserve(curl, "free-1", 0, free)
    world.ledger.settle(pending_id=TransferId("free-1"), usage=Usage(output_tokens=100))
    assert world.available(curl) == 100 * M


def test_timeout_must_be_positive(world, curl, price):
    with pytest.raises(LedgerInputError, match="timeout"):
        world.ledger.reserve(
            transfer_id=TransferId("t"),
            org_id=curl.id,
            amount=1,
            timeout=timedelta(0),
            price=price,
            actor="key:k",
        )


def test_consumed_is_per_organisation(world, curl, reviewers, price):
    other: Organisation = world.approved_org("openssl", reviewers)
    world.credits.grant(world.admin, pool="oss", org=other.id, amount=5 * M)
    world.reserve(curl, "a", 1 * M, price)
    world.reserve(other, "b", 2 * M, price)
    world.ledger.post(pending_id=TransferId("a"), amount=1 * M)
    world.ledger.post(pending_id=TransferId("b"), amount=2 * M)
    accounts = {a.id: a for a in world.credits.accounts(world.admin, kind="consumed")}
    assert accounts[consumed_account(curl.id)].balance.credits_posted == 1 * M
    assert accounts[consumed_account(other.id)].balance.credits_posted == 2 * M
