"""SQL implementation of the ledger's LedgerUnit and LedgerStore Protocols, and the
composition helpers that build the ledger service and the rate limiter from Settings."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from datetime import datetime

import orjson
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError, OperationalError

from enclave.clock import Clock, utcnow
from enclave.config import Settings
from enclave.errors import StoreError
from enclave.ledger.credits import CreditsService
from enclave.ledger.interface import (
    Account,
    AccountId,
    AccountKind,
    BalanceDelta,
    Code,
    DuplicateTransfer,
    Grant,
    Transfer,
    TransferId,
    UnknownAccount,
    Usage,
)
from enclave.ledger.ratelimit import LocalRateLimiter, RateLimiter, RedisRateLimiter
from enclave.ledger.service import LedgerService
from enclave.ledger.writer import USAGE_EVENT
from enclave.store.database import Database
from enclave.store.driver import is_foreign_key_violation, is_unique_violation
from enclave.store.engine import read_connection, write_connection
from enclave.store.ledger_driver import (
    DriverReservationUnit,
    account_of,
    plain,
    reservation_transaction,
    transfer_of,
)
from enclave.store.registry_repo import SqlRegistryUnit
from enclave.store.tables import events, ledger_accounts, ledger_pending, ledger_transfers

A = ledger_accounts.c
T = ledger_transfers.c


# The hot path's statements, built once: building a Core statement and its cache key on
# every call cost more than the database work (profiled: ~0.3 ms of a 1.6 ms reservation on
# SQLite went to constructing UPDATE ... VALUES expressions).
_CHANGE = (
    update(ledger_accounts)
    .where(A.id == bindparam("p_account"))
    .values(
        debits_pending=A.debits_pending + bindparam("p_dp", type_=BigInteger),
        debits_posted=A.debits_posted + bindparam("p_dpo", type_=BigInteger),
        credits_pending=A.credits_pending + bindparam("p_cp", type_=BigInteger),
        credits_posted=A.credits_posted + bindparam("p_cpo", type_=BigInteger),
    )
)
# The guard is evaluated on the locked, newest row version (PostgreSQL re-checks the WHERE
# after waiting for a concurrent writer), so the check and the change are one step.
_GUARDED = _CHANGE.where(
    A.credits_posted - A.debits_posted - A.debits_pending >= bindparam("p_need", type_=BigInteger)
)
_INSERT_TRANSFER = insert(ledger_transfers).returning(T.seq)
_GET_TRANSFER = select(ledger_transfers).where(T.id == bindparam("p_id"))
_HOLD = insert(ledger_pending)
_RELEASE = delete(ledger_pending).where(ledger_pending.c.transfer_id == bindparam("p_id"))


class SqlLedgerUnit(SqlRegistryUnit):
    def __init__(self, conn: Connection) -> None:
        super().__init__(conn)
        self._c = conn
        self._postgres = conn.dialect.name == "postgresql"

    # accounts
    def open_account(self, account: Account) -> bool:
        values = {
            "id": account.id,
            "kind": account.kind.value,
            "name": account.name,
            "org_id": account.org_id,
            "overdraft": account.overdraft,
            "debits_pending": 0,
            "debits_posted": 0,
            "credits_pending": 0,
            "credits_posted": 0,
            "created_at": account.created_at,
        }
        maker = pg_insert if self._postgres else sqlite_insert
        stmt = (
            maker(ledger_accounts)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(A.id)
        )
        # RETURNING, not rowcount: SQLAlchemy 2 reports -1 as the rowcount of an INSERT on
        # psycopg unless asked to preserve it (measured here); a returned row is explicit.
        return self._c.execute(stmt).first() is not None

    def get_account(self, account_id: AccountId, *, lock: bool = False) -> Account | None:
        query = select(ledger_accounts).where(A.id == account_id)
        if lock:
            query = query.with_for_update()  # SQLite omits it: its write lock is the file's
        row = self._c.execute(query).first()
        return account_of(row) if row else None

    def list_accounts(self, *, kind: AccountKind | None = None) -> list[Account]:
        query = select(ledger_accounts).order_by(A.kind, A.name, A.id)
        if kind is not None:
            query = query.where(A.kind == kind.value)
        return [account_of(r) for r in self._c.execute(query)]

    def apply(
        self, effects: Sequence[tuple[AccountId, BalanceDelta]], *, guard: AccountId | None
    ) -> bool:
        # Two statements, debit account first. One UPDATE of both rows deadlocked under 32
        # concurrent clients on PostgreSQL (measured by benchmarks/ledger.py): a sequential
        # scan visits rows in heap order, which changes as rows are rewritten. Debit-first
        # is deadlock-free because the accounts form a chain, issuer -> pool -> org ->
        # consumed/expired, and every transfer moves one step along it.
        for account, d in effects:
            params = {
                "p_account": account,
                "p_dp": d.debits_pending,
                "p_dpo": d.debits_posted,
                "p_cp": d.credits_pending,
                "p_cpo": d.credits_posted,
            }
            if account == guard:
                params["p_need"] = d.debits_pending + d.debits_posted
                statement = _GUARDED
            else:
                statement = _CHANGE
            if self._c.execute(statement, params).rowcount != 1:
                return False
        return True

    # transfers
    def insert_transfer(self, transfer: Transfer) -> Transfer:
        values = {
            "id": transfer.id,
            "phase": transfer.phase.value,
            "code": transfer.code.value,
            "debit_account": transfer.debit_account,
            "credit_account": transfer.credit_account,
            "amount": transfer.amount,
            "pending_id": transfer.pending_id,
            "grant_id": transfer.grant_id,
            "timeout_seconds": transfer.timeout_seconds,
            "timeout_at": transfer.timeout_at,
            "grant_expires_at": transfer.grant_expires_at,
            "price": plain(transfer.price),
            "usage": plain(transfer.usage),
            "memo": transfer.memo,
            "key_id": transfer.key_id,
            "actor": transfer.actor,
            "created_at": transfer.created_at,
        }
        try:
            seq = self._c.execute(_INSERT_TRANSFER, values)
        except IntegrityError as exc:
            if is_unique_violation(exc.orig):
                raise DuplicateTransfer(f"transfer {transfer.id} collides") from None
            if is_foreign_key_violation(exc.orig):
                raise UnknownAccount(
                    f"transfer {transfer.id} names an account that does not exist"
                ) from None
            raise
        return replace(transfer, seq=int(seq.scalar_one()))

    def get_transfer(self, transfer_id: TransferId) -> Transfer | None:
        row = self._c.execute(_GET_TRANSFER, {"p_id": transfer_id}).first()
        return transfer_of(row) if row else None

    def resolution_of(self, pending_id: TransferId) -> Transfer | None:
        row = self._c.execute(select(ledger_transfers).where(T.pending_id == pending_id)).first()
        return transfer_of(row) if row else None

    def list_transfers(
        self, *, account: AccountId | None = None, before: int | None = None, limit: int = 100
    ) -> list[Transfer]:
        query = select(ledger_transfers).order_by(T.seq.desc()).limit(limit)
        if account is not None:
            query = query.where(or_(T.debit_account == account, T.credit_account == account))
        if before is not None:
            query = query.where(T.seq < before)
        return [transfer_of(r) for r in self._c.execute(query)]

    def iter_transfers(self) -> Iterator[Transfer]:
        query = select(ledger_transfers).order_by(T.seq)
        for row in self._c.execution_options(yield_per=2000).execute(query):
            yield transfer_of(row)

    # open reservations
    def hold(self, transfer: Transfer) -> None:
        assert transfer.timeout_at is not None
        self._c.execute(_HOLD, {"transfer_id": transfer.id, "timeout_at": transfer.timeout_at})

    def release(self, pending_id: TransferId) -> bool:
        return bool(self._c.execute(_RELEASE, {"p_id": pending_id}).rowcount == 1)

    def open_pending(self) -> set[TransferId]:
        return {TransferId(r[0]) for r in self._c.execute(select(ledger_pending.c.transfer_id))}

    def stale_pending(self, now: datetime, limit: int) -> list[Transfer]:
        query = (
            select(ledger_transfers)
            .join(ledger_pending, ledger_pending.c.transfer_id == T.id)
            .where(ledger_pending.c.timeout_at < now)
            .order_by(ledger_pending.c.timeout_at)
            .limit(limit)
        )
        return [transfer_of(r) for r in self._c.execute(query)]

    # grants
    def grants(self, *, account: AccountId | None = None) -> list[Grant]:
        expiry = ledger_transfers.alias("expiry")
        query = (
            select(ledger_transfers, expiry.c.id.label("expiry_id"))
            .outerjoin(expiry, expiry.c.grant_id == T.id)
            .where(T.code == Code.GRANT.value)
            .order_by(T.seq)
        )
        if account is not None:
            query = query.where(T.credit_account == account)
        rows = list(self._c.execute(query))
        expired = {
            r.id: r
            for r in self._c.execute(
                select(ledger_transfers).where(
                    T.id.in_([r.expiry_id for r in rows if r.expiry_id is not None])
                )
            )
        }
        return [
            Grant(
                transfer=transfer_of(r),
                expired=transfer_of(expired[r.expiry_id]) if r.expiry_id in expired else None,
            )
            for r in rows
        ]

    def due_grants(self, now: datetime, limit: int) -> list[Transfer]:
        expiry = ledger_transfers.alias("expiry")
        query = (
            select(ledger_transfers)
            .outerjoin(expiry, expiry.c.grant_id == T.id)
            .where(
                and_(
                    T.code == Code.GRANT.value,
                    T.grant_expires_at.is_not(None),
                    T.grant_expires_at <= now,
                    expiry.c.id.is_(None),
                )
            )
            .order_by(T.grant_expires_at, T.seq)
            .limit(limit)
        )
        return [transfer_of(r) for r in self._c.execute(query)]

    def granted_since(self, since: datetime) -> dict[AccountId, int]:
        query = (
            select(T.credit_account, func.sum(T.amount))
            .where(T.code == Code.GRANT.value, T.created_at >= since)
            .group_by(T.credit_account)
        )
        return {AccountId(r[0]): int(r[1]) for r in self._c.execute(query)}

    # usage checkpoints (events of kind ledger.usage, subject = the pending transfer)
    def latest_usage(self, pending_id: TransferId) -> tuple[Usage, bool] | None:
        query = (
            select(events.c.data)
            .where(events.c.subject == pending_id, events.c.kind == USAGE_EVENT)
            .order_by(events.c.seq.desc())
            .limit(1)
        )
        row = self._c.execute(query).first()
        if row is None:
            return None
        data = orjson.loads(row.data)
        final = bool(data.pop("final", False))
        return Usage(**{k: int(v) for k, v in data.items() if k in Usage.__slots__}), final

    def ledger_event_subjects(self) -> set[str]:
        query = select(events.c.subject).where(
            events.c.kind.like("ledger.%"), events.c.kind != USAGE_EVENT
        )
        return {r[0] for r in self._c.execute(query)}


class SqlLedgerStore:
    """The ledger's transactions over the Database's engine."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @contextmanager
    def unit(self) -> Iterator[SqlLedgerUnit]:
        with write_connection(self._engine) as conn:
            yield SqlLedgerUnit(conn)

    def reservations(self) -> AbstractContextManager[DriverReservationUnit]:
        return reservation_transaction(self._engine)

    @contextmanager
    def reader(self) -> Iterator[SqlLedgerUnit]:
        with read_connection(self._engine) as conn:
            yield SqlLedgerUnit(conn)

    @contextmanager
    def snapshot(self) -> Iterator[SqlLedgerUnit]:
        if self._engine.dialect.name != "postgresql":
            # A SQLite read transaction is one snapshot from its first read (WAL).
            with read_connection(self._engine) as conn:
                yield SqlLedgerUnit(conn)
            return
        try:
            with (
                self._engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn,
                conn.begin(),
            ):
                yield SqlLedgerUnit(conn)
        except OperationalError as exc:
            raise StoreError(f"database unavailable: {exc.orig}") from None


def open_ledger(db: Database, settings: Settings, *, clock: Clock = utcnow) -> LedgerService:
    """The gateway's ledger (reserve, post, settle, void, record_usage, sweep)."""
    return LedgerService(store=SqlLedgerStore(db.engine), settings=settings, clock=clock)


def open_credits(
    db: Database, settings: Settings, *, clock: Clock = utcnow
) -> tuple[LedgerService, CreditsService]:
    """The ledger and the operators' credits service over it (CLI, admin API)."""
    store = SqlLedgerStore(db.engine)
    ledger = LedgerService(store=store, settings=settings, clock=clock)
    return ledger, CreditsService(store=store, settings=settings, ledger=ledger, clock=clock)


def open_rate_limiter(settings: Settings) -> RateLimiter:
    """Redis-backed when ENCLAVE_REDIS_URL is set (limits shared by every process),
    otherwise in-process."""
    if settings.redis_url is None:
        return LocalRateLimiter()
    # One immediate retry covers a pooled connection dropped by a Redis restart; redis-py's
    # default (three retries with backoff) held a request about 4 s against a Redis that
    # is down (measured in tests/unit/ledger/test_ratelimit.py), and the answer is the same
    # refusal.
    client = redis.Redis.from_url(
        settings.redis_url.get_secret_value(),
        socket_timeout=2.0,
        socket_connect_timeout=1.0,
        retry=Retry(NoBackoff(), 1),
    )
    return RedisRateLimiter(client, errors=(redis.RedisError, OSError))


__all__ = [
    "SqlLedgerStore",
    "SqlLedgerUnit",
    "open_credits",
    "open_ledger",
    "open_rate_limiter",
]
