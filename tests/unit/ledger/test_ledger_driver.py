"""store/ledger_driver.py and store/driver.py: the request path's statements on the
driver write the same bytes as the SQLAlchemy unit, and each reads the other's rows, on
SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from enclave.events import Event
from enclave.ledger import (
    Code,
    Phase,
    PriceRef,
    Transfer,
    TransferId,
    Usage,
    consumed_account,
    org_account,
)
from enclave.ledger.interface import BalanceDelta
from enclave.registry import Organisation
from enclave.store import Database
from enclave.store.driver import EventLog, driver_transaction
from enclave.store.ledger_driver import reservation_transaction
from enclave.store.ledger_repo import SqlLedgerStore
from enclave.store.tables import ledger_transfers

_counter = iter(range(10**9))
# What the services let through (clean_memo and friends refuse control characters).
texts = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=40)


def _raw(db: Database, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows exactly as the driver returns them: the bytes that were written."""
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(sql.replace("?", "%s") if db.url.startswith("postgres") else sql, params)
        rows = [tuple(r) for r in cursor.fetchall()]
        cursor.close()
        return rows
    finally:
        raw.close()


_COLUMNS = [c.name for c in ledger_transfers.columns if c.name not in ("seq", "id")]


def _stored(db: Database, tid: str) -> tuple[Any, ...]:
    select = f"SELECT {', '.join(_COLUMNS)} FROM ledger_transfers WHERE id = ?"
    rows = _raw(db, select, tid)
    assert len(rows) == 1
    return rows[0]


zones = st.sampled_from(
    [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
)
moments = st.builds(
    lambda micros, tz: (
        datetime(2026, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)
    ).astimezone(tz),
    st.integers(0, 10**14),
    zones,
)
prices = st.none() | st.builds(
    PriceRef,
    variant=texts.filter(bool),
    input=st.integers(0, 10**9),
    output=st.integers(0, 10**9),
    cache_read=st.integers(0, 10**9),
    cache_write=st.integers(0, 10**9),
)
usages = st.none() | st.builds(Usage, *(st.integers(0, 10**7) for _ in range(4)))


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    phase=st.sampled_from([Phase.PENDING, Phase.SINGLE]),
    amount=st.integers(0, 10**12),
    created=moments,
    timeout=st.none() | moments,
    expires=st.none() | moments,
    price=prices,
    usage=usages,
    memo=texts,
    key=st.none() | texts.filter(bool),
)
def test_both_units_write_the_same_row_and_read_each_others(
    world, curl: Organisation, phase, amount, created, timeout, expires, price, usage, memo, key
) -> None:
    db: Database = world.db
    n = next(_counter)
    wanted = Transfer(
        id=TransferId(f"t-{n}-a"),
        phase=phase,
        code=Code.USAGE,
        debit_account=org_account(curl.id),
        credit_account=consumed_account(curl.id),
        amount=amount,
        created_at=created,
        actor="key:key_test",
        timeout_seconds=None if timeout is None else 60,
        timeout_at=timeout,
        grant_expires_at=expires,
        price=price,
        usage=usage,
        memo=memo,
        key_id=key,
    )
    other = Transfer(**{**{f: getattr(wanted, f) for f in wanted.__slots__}, "id": f"t-{n}-b"})
    store = SqlLedgerStore(db.engine)
    with store.unit() as unit:  # SQLAlchemy Core
        by_core = unit.insert_transfer(wanted)
    with store.reservations() as hot:  # the driver
        by_driver = hot.insert_transfer(other)
    assert by_driver.seq > by_core.seq > 0
    assert _stored(db, wanted.id) == _stored(db, other.id)
    with store.reader() as unit:
        assert unit.get_transfer(other.id) == by_driver  # Core reads the driver's row
    with store.reservations() as hot:
        assert hot.get_transfer(wanted.id) == by_core  # the driver reads Core's row


def test_events_are_the_same_bytes_whichever_writes_them(db: Database) -> None:
    at = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=timezone(timedelta(hours=2)))
    event = Event(kind="ledger.reserved", actor="key:k", subject="s-1", at=at, data={"é": [1, 2]})
    with db.unit() as unit:  # SQLAlchemy Core (enclave.store.events_repo)
        unit.append_many([event])
    with EventLog(db.engine).unit() as unit:
        unit.append_many([event])
        seq = unit.append(event)
    rows = _raw(db, "SELECT at, kind, actor, subject, data FROM events WHERE subject = ?", "s-1")
    assert len(rows) == 3 and rows[0] == rows[1] == rows[2]
    with db.reader() as unit:
        assert unit.list_events(subject="s-1")[2].seq == seq


def test_balance_changes_and_the_guard(world, curl: Organisation) -> None:
    store = SqlLedgerStore(world.db.engine)
    account = org_account(curl.id)
    with store.reservations() as hot:
        before = hot.get_account(account, lock=True)
        assert before is not None
        available = before.balance.available
        # More than is available: the guarded update changes nothing and says so.
        too_much = BalanceDelta(debits_pending=available + 1)
        assert not hot.apply([(account, too_much)], guard=account)
        assert hot.apply([(account, BalanceDelta(debits_pending=available))], guard=account)
    with store.reader() as unit:
        after = unit.get_account(account)
    assert after is not None and after.balance.available == 0
    assert after.balance.debits_pending == before.balance.debits_pending + available


def test_a_failed_transaction_leaves_nothing(world, curl: Organisation, price) -> None:
    db: Database = world.db
    counts = "SELECT (SELECT count(*) FROM ledger_transfers), (SELECT count(*) FROM events)"
    before = _raw(db, counts)
    try:
        with reservation_transaction(db.engine) as hot:
            hot.insert_transfer(
                Transfer(
                    id=TransferId("doomed"),
                    phase=Phase.PENDING,
                    code=Code.USAGE,
                    debit_account=org_account(curl.id),
                    credit_account=consumed_account(curl.id),
                    amount=1,
                    created_at=datetime.now(UTC),
                    actor="key:k",
                    price=price,
                )
            )
            hot.append_many(
                [Event(kind="x", actor="a", subject="doomed", at=datetime.now(UTC), data={})]
            )
            raise RuntimeError("the caller fails")
    except RuntimeError:
        pass
    assert _raw(db, counts) == before
    # And the connection is usable again.
    with driver_transaction(db.engine) as (cursor, _dialect):
        cursor.execute("SELECT 1")
        assert cursor.fetchone()[0] == 1
