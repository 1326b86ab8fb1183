"""Funding pools, granting to organisations, grant expiry, and who may do what."""

from __future__ import annotations

from datetime import timedelta

import pytest
from ledger_support import M

from enclave.ledger import (
    EXPIRED,
    InsufficientCredits,
    LedgerConflict,
    LedgerInputError,
    TransferExists,
    TransferId,
    UnknownAccount,
    Usage,
)
from enclave.registry import RoleDenied


def test_a_new_pool_must_be_opened_explicitly(world):
    before = world.snapshot()
    with pytest.raises(UnknownAccount, match="unknown pool 'oss'") as caught:
        world.credits.fund(world.admin, pool="oss", amount=M)
    assert "--new" in caught.value.diagnostics()
    assert world.snapshot() == before
    world.credits.fund(world.admin, pool="oss", amount=M, create=True)
    world.credits.fund(world.admin, pool="oss", amount=M)
    (pool,) = world.credits.pools(world.admin)
    assert pool.balance.available == 2 * M
    with pytest.raises(LedgerInputError, match="pool name"):
        world.credits.fund(world.admin, pool="Bad Name", amount=M, create=True)


def test_grants_are_refused_cleanly(world, reviewers, curl, clock):
    applied, _ = world.registry.create_org(
        world.admin, name="pending-org", kind="maintainer", tier="maintainer"
    )
    before = world.snapshot()
    with pytest.raises(LedgerConflict, match="applied"):
        world.credits.grant(world.admin, pool="oss", org=applied.id, amount=M)
    with pytest.raises(UnknownAccount, match="unknown organisation"):
        world.credits.grant(world.admin, pool="oss", org="nobody", amount=M)
    with pytest.raises(UnknownAccount, match="unknown pool"):
        world.credits.grant(world.admin, pool="other", org=curl.id, amount=M)
    with pytest.raises(InsufficientCredits, match="pool oss has 900 credits"):
        world.credits.grant(world.admin, pool="oss", org=curl.id, amount=901 * M)
    with pytest.raises(LedgerInputError, match="future"):
        world.credits.grant(world.admin, pool="oss", org=curl.id, amount=M, expires_at=clock.now)
    assert world.snapshot() == before


def test_roles_admin_changes_others_read(world, curl):
    auditor = world.registry.create_operator(world.admin, name="aud", roles=["auditor"]).operator
    reviewer = world.registry.create_operator(world.admin, name="rev", roles=["reviewer"]).operator
    before = world.snapshot()
    for reader in (auditor, reviewer):
        with pytest.raises(RoleDenied, match="needs role admin"):
            world.credits.grant(reader, pool="oss", org=curl.id, amount=M)
        with pytest.raises(RoleDenied):
            world.credits.fund(reader, pool="oss", amount=M)
        with pytest.raises(RoleDenied):
            world.credits.sweep(reader)
        assert world.credits.statement(reader, "curl").account is not None
        assert world.credits.history(reader, "oss")[1]
        assert world.credits.check(reader).ok
    assert world.snapshot() == before


def test_grant_retry_with_a_relative_expiry_is_idempotent(world, curl, clock):
    first = world.credits.grant(
        world.admin,
        pool="oss",
        org="curl",
        amount=5 * M,
        expires_in=timedelta(days=30),
        transfer_id=TransferId("g-1"),
    )
    clock.advance(minutes=3)  # the operator retries a little later
    again = world.credits.grant(
        world.admin,
        pool="oss",
        org="curl",
        amount=5 * M,
        expires_in=timedelta(days=30),
        transfer_id=TransferId("g-1"),
    )
    assert again == first
    with pytest.raises(TransferExists, match="amount"):
        world.credits.grant(
            world.admin, pool="oss", org="curl", amount=6 * M, transfer_id=TransferId("g-1")
        )
    assert world.available(curl) == 105 * M


def test_expiry_moves_the_unused_rest_to_expired_visibly(world, curl, price, clock):
    # curl holds 100 that never expire; this grant of 50 expires in 30 days.
    grant = world.credits.grant(
        world.admin, pool="oss", org="curl", amount=50 * M, expires_in=timedelta(days=30)
    )
    world.reserve(curl, "spend", 30 * M, price)
    world.ledger.post(pending_id=TransferId("spend"), amount=30 * M)
    clock.advance(days=31)
    report = world.credits.sweep(world.admin)
    (expiry,) = report.grants_expired
    # 120 available, 100 still covered by the grant in force: 20 of the 50 expire.
    assert expiry.amount == 20 * M and expiry.grant_id == grant.id
    assert world.available(curl) == 100 * M
    statement = world.credits.statement(world.admin, "curl")
    expired_grant = next(g for g in statement.grants if g.transfer.id == grant.id)
    assert expired_grant.expired is not None and expired_grant.expired.amount == 20 * M
    account, transfers = world.credits.history(world.admin, EXPIRED)
    assert account.balance.credits_posted == 20 * M and transfers[0].id == expiry.id
    assert world.registry.list_events(world.admin, kind="ledger.grant_expired")
    # A second sweep expires nothing more.
    assert world.credits.sweep(world.admin).grants_expired == []
    assert world.credits.check(world.admin).ok


def test_a_fully_used_grant_expires_zero(world, reviewers, price, clock):
    org = world.approved_org("small", reviewers)
    world.credits.fund(world.admin, pool="oss", amount=10 * M, create=True)
    world.credits.grant(
        world.admin, pool="oss", org=org.id, amount=10 * M, expires_in=timedelta(days=1)
    )
    world.reserve(org, "all", 10 * M, price)
    world.ledger.settle(pending_id=TransferId("all"), usage=Usage(output_tokens=1_000_000))
    clock.advance(days=2)
    (expiry,) = world.credits.sweep(world.admin).grants_expired
    assert expiry.amount == 0
    assert world.credits.check(world.admin).ok


def test_expiry_never_takes_credits_held_by_a_reservation(world, reviewers, price, clock):
    org = world.approved_org("busy", reviewers)
    world.credits.fund(world.admin, pool="oss", amount=10 * M, create=True)
    world.credits.grant(
        world.admin, pool="oss", org=org.id, amount=10 * M, expires_in=timedelta(hours=1)
    )
    world.reserve(org, "live", 8 * M, price, minutes=600)  # a long stream still running
    clock.advance(hours=2)
    (expiry,) = world.credits.sweep(world.admin).grants_expired
    assert expiry.amount == 2 * M  # only what is not held
    world.ledger.post(pending_id=TransferId("live"), amount=8 * M)  # the stream ends
    assert world.available(org) == 0
    assert world.credits.check(world.admin).ok
