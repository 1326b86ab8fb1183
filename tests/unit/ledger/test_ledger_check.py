"""`check` proves balances equal the transfers' sums, and catches a tampered cache."""

from __future__ import annotations

import pytest
from ledger_support import M
from sqlalchemy import delete, text, update
from sqlalchemy.exc import DBAPIError

from enclave.ledger import TransferId, Usage, org_account
from enclave.store.tables import ledger_accounts, ledger_pending


def busy(world, curl, price) -> None:
    for i in range(6):
        world.reserve(curl, f"r{i}", 2 * M, price)
    world.ledger.post(pending_id=TransferId("r0"), amount=M)
    world.ledger.settle(pending_id=TransferId("r1"), usage=Usage(100, 100))
    world.ledger.void(pending_id=TransferId("r2"), reason="failed")


def test_check_passes_on_a_busy_ledger(world, curl, price):
    busy(world, curl, price)
    report = world.credits.check(world.admin)
    assert report.ok, report.problems
    assert report.open_pending == 3 and report.transfers == 2 + 6 + 3
    assert report.totals["debits_posted"] == report.totals["credits_posted"]


def test_check_catches_a_balance_that_disagrees_with_the_transfers(world, curl, price, db):
    busy(world, curl, price)
    with db.engine.begin() as conn:
        conn.execute(
            update(ledger_accounts)
            .where(ledger_accounts.c.id == org_account(curl.id))
            .values(credits_posted=ledger_accounts.c.credits_posted + 5)
        )
    report = world.credits.check(world.admin)
    assert not report.ok
    assert any(org_account(curl.id) in p and "sum to" in p for p in report.problems)
    assert any("posted debits" in p for p in report.problems)


def test_check_catches_a_lost_open_reservation(world, curl, price, db):
    busy(world, curl, price)
    with db.engine.begin() as conn:
        conn.execute(delete(ledger_pending).where(ledger_pending.c.transfer_id == "r3"))
    report = world.credits.check(world.admin)
    assert report.problems == ["r3: pending and unresolved but not indexed"]


def test_transfers_are_immutable_in_the_schema(world, curl, price, db):
    busy(world, curl, price)
    for statement in ("UPDATE ledger_transfers SET amount = 1", "DELETE FROM ledger_transfers"):
        with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
            conn.execute(text(statement))
    assert world.credits.check(world.admin).ok


def test_the_schema_refuses_an_overdrawn_account(world, curl, db):
    with pytest.raises(DBAPIError, match="no_overdraft"), db.engine.begin() as conn:
        conn.execute(
            update(ledger_accounts)
            .where(ledger_accounts.c.id == org_account(curl.id))
            .values(debits_posted=101 * M)
        )
