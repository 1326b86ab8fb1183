"""The ledger's request-path statements on the database driver (store/driver.py): a
reservation, its resolution and a usage checkpoint, each one transaction of a handful of
statements, with rows identical to what SqlLedgerUnit (ledger_repo.py) writes."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import orjson
from sqlalchemy import Engine

from enclave.ledger.interface import (
    Account,
    AccountId,
    AccountKind,
    Balance,
    BalanceDelta,
    Code,
    DuplicateTransfer,
    Phase,
    PriceRef,
    Transfer,
    TransferId,
    UnknownAccount,
    Usage,
)
from enclave.ledger.writer import USAGE_EVENT
from enclave.registry import OrgId
from enclave.store.driver import (
    Dialect,
    DriverEvents,
    driver_transaction,
    is_foreign_key_violation,
    is_unique_violation,
    loaded_json,
    postgres_sql,
    utc,
)
from enclave.store.tables import ledger_accounts, ledger_transfers

# In the tables' order, which is also the order of a select(table) row through SQLAlchemy:
# transfer_of and account_of read both.
_TRANSFER_COLUMNS = ", ".join(c.name for c in ledger_transfers.columns)
_ACCOUNT_COLUMNS = ", ".join(c.name for c in ledger_accounts.columns)
# Written with ? placeholders and {json} for a JSON column's; psycopg's below.
_SQL = {
    "insert_transfer": (
        "INSERT INTO ledger_transfers (id, phase, code, debit_account, credit_account, "
        "amount, pending_id, grant_id, timeout_seconds, timeout_at, grant_expires_at, "
        "price, usage, memo, key_id, actor, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, {json}, {json}, ?, ?, ?, ?) RETURNING seq"
    ),
    "get_transfer": f"SELECT {_TRANSFER_COLUMNS} FROM ledger_transfers WHERE id = ?",
    "resolution_of": f"SELECT {_TRANSFER_COLUMNS} FROM ledger_transfers WHERE pending_id = ?",
    "get_account": f"SELECT {_ACCOUNT_COLUMNS} FROM ledger_accounts WHERE id = ?",
    "change": (
        "UPDATE ledger_accounts SET debits_pending = debits_pending + ?, "
        "debits_posted = debits_posted + ?, credits_pending = credits_pending + ?, "
        "credits_posted = credits_posted + ? WHERE id = ?"
    ),
    # The guard is evaluated on the locked, newest row version (PostgreSQL re-checks the
    # WHERE after waiting for a concurrent writer), so the check and the change are one.
    "guarded": (
        "UPDATE ledger_accounts SET debits_pending = debits_pending + ?, "
        "debits_posted = debits_posted + ?, credits_pending = credits_pending + ?, "
        "credits_posted = credits_posted + ? WHERE id = ? "
        "AND credits_posted - debits_posted - debits_pending >= ?"
    ),
    "hold": "INSERT INTO ledger_pending (transfer_id, timeout_at) VALUES (?, ?)",
    "release": "DELETE FROM ledger_pending WHERE transfer_id = ?",
    "latest_usage": (
        "SELECT data FROM events WHERE subject = ? AND kind = ? ORDER BY seq DESC LIMIT 1"
    ),
}
_SQLITE = {name: sql.replace("{json}", "?") for name, sql in _SQL.items()}
# SQLAlchemy's JSON type on PostgreSQL casts the json.dumps text it sends; so do we.
_POSTGRES = {
    name: postgres_sql(sql).replace("{json}", "CAST(%s AS JSON)") for name, sql in _SQL.items()
}


def plain(value: PriceRef | Usage | None) -> dict[str, Any] | None:
    """A price or usage as its JSON column holds it."""
    if value is None:
        return None
    return {name: getattr(value, name) for name in value.__slots__}


def transfer_of(row: Sequence[Any]) -> Transfer:
    """A transfer from a row of ledger_transfers' columns, from either driver or from
    SQLAlchemy (whose rows come with these types already applied)."""
    price, usage = loaded_json(row[12]), loaded_json(row[13])
    return Transfer(
        id=TransferId(row[1]),
        phase=Phase(row[2]),
        code=Code(row[3]),
        debit_account=AccountId(row[4]),
        credit_account=AccountId(row[5]),
        amount=int(row[6]),
        created_at=utc(row[17]),  # type: ignore[arg-type]  # NOT NULL
        actor=row[16],
        pending_id=TransferId(row[7]) if row[7] else None,
        timeout_seconds=row[9],
        timeout_at=utc(row[10]),
        grant_expires_at=utc(row[11]),
        grant_id=TransferId(row[8]) if row[8] else None,
        price=None if price is None else PriceRef(**price),
        usage=None if usage is None else Usage(**usage),
        memo=row[14],
        key_id=row[15],
        seq=int(row[0]),
    )


def account_of(row: Sequence[Any]) -> Account:
    """An account from a row of ledger_accounts' columns (see transfer_of)."""
    return Account(
        id=AccountId(row[0]),
        kind=AccountKind(row[1]),
        name=row[2],
        created_at=utc(row[9]),  # type: ignore[arg-type]  # NOT NULL
        org_id=OrgId(row[3]) if row[3] else None,
        overdraft=bool(row[4]),
        balance=Balance(
            debits_pending=int(row[5]),
            debits_posted=int(row[6]),
            credits_pending=int(row[7]),
            credits_posted=int(row[8]),
        ),
    )


class DriverReservationUnit(DriverEvents):
    """enclave.ledger.ReservationUnit on one driver cursor, inside the caller's
    transaction (SqlLedgerStore.reservations)."""

    def __init__(self, cursor: Any, dialect: Dialect) -> None:
        super().__init__(cursor, dialect)
        self._postgres = dialect.postgres
        self._sql = _POSTGRES if dialect.postgres else _SQLITE
        self._dt = dialect.datetime
        self._dbapi = dialect.dbapi

    def _one(self, name: str, params: Sequence[Any]) -> Any:
        self._cur.execute(self._sql[name], params)
        return self._cur.fetchone()

    def insert_transfer(self, transfer: Transfer) -> Transfer:
        dt, js = self._dt, json.dumps  # SQLAlchemy's JSON type: json.dumps, None as null
        params = (
            transfer.id,
            transfer.phase.value,
            transfer.code.value,
            transfer.debit_account,
            transfer.credit_account,
            transfer.amount,
            transfer.pending_id,
            transfer.grant_id,
            transfer.timeout_seconds,
            dt(transfer.timeout_at),
            dt(transfer.grant_expires_at),
            js(plain(transfer.price)),
            js(plain(transfer.usage)),
            transfer.memo,
            transfer.key_id,
            transfer.actor,
            dt(transfer.created_at),
        )
        try:
            row = self._one("insert_transfer", params)
        except self._dbapi.IntegrityError as exc:
            if is_unique_violation(exc):
                raise DuplicateTransfer(f"transfer {transfer.id} collides") from None
            if is_foreign_key_violation(exc):
                raise UnknownAccount(
                    f"transfer {transfer.id} names an account that does not exist"
                ) from None
            raise
        return replace(transfer, seq=int(row[0]))

    def get_transfer(self, transfer_id: TransferId) -> Transfer | None:
        row = self._one("get_transfer", (transfer_id,))
        return transfer_of(row) if row else None

    def resolution_of(self, pending_id: TransferId) -> Transfer | None:
        row = self._one("resolution_of", (pending_id,))
        return transfer_of(row) if row else None

    def get_account(self, account_id: AccountId, *, lock: bool = False) -> Account | None:
        sql = self._sql["get_account"]
        if lock and self._postgres:
            sql += " FOR UPDATE"  # SQLite's write lock is the file's, taken at BEGIN
        self._cur.execute(sql, (account_id,))
        row = self._cur.fetchone()
        return account_of(row) if row else None

    def apply(
        self, effects: Sequence[tuple[AccountId, BalanceDelta]], *, guard: AccountId | None
    ) -> bool:
        # Debit account first: the lock order (see SqlLedgerUnit.apply).
        for account, d in effects:
            if account == guard:
                params: tuple[Any, ...] = (
                    d.debits_pending, d.debits_posted, d.credits_pending, d.credits_posted,
                    account, d.debits_pending + d.debits_posted,
                )  # fmt: skip
                self._cur.execute(self._sql["guarded"], params)
            else:
                params = (
                    d.debits_pending, d.debits_posted, d.credits_pending, d.credits_posted,
                    account,
                )  # fmt: skip
                self._cur.execute(self._sql["change"], params)
            if self._cur.rowcount != 1:
                return False
        return True

    def hold(self, transfer: Transfer) -> None:
        assert transfer.timeout_at is not None
        self._cur.execute(self._sql["hold"], (transfer.id, self._dt(transfer.timeout_at)))

    def release(self, pending_id: TransferId) -> bool:
        self._cur.execute(self._sql["release"], (pending_id,))
        return bool(self._cur.rowcount == 1)

    def latest_usage(self, pending_id: TransferId) -> tuple[Usage, bool] | None:
        row = self._one("latest_usage", (pending_id, USAGE_EVENT))
        if row is None:
            return None
        data = orjson.loads(row[0])
        final = bool(data.pop("final", False))
        return Usage(**{k: int(v) for k, v in data.items() if k in Usage.__slots__}), final


@contextmanager
def reservation_transaction(engine: Engine) -> Iterator[DriverReservationUnit]:
    with driver_transaction(engine) as (cursor, dialect):
        yield DriverReservationUnit(cursor, dialect)


__all__ = ["DriverReservationUnit", "account_of", "plain", "reservation_transaction", "transfer_of"]
