"""Pure ledger rules: validated values, credits as text, what a transfer does to the four
balance fields, idempotency comparison and how much of an expiring grant expires.

The service applies these rules through the store; the check applies the same
:func:`effects` to recompute every balance from the transfers alone.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import fields
from decimal import Decimal, InvalidOperation

from enclave.ledger.interface import (
    MAX_AMOUNT,
    MICRO,
    AccountId,
    BalanceDelta,
    LedgerInputError,
    Phase,
    Transfer,
    TransferId,
    Usage,
)

# Transfer ids come from callers (the gateway uses its request id): printable, bounded, and
# with room for the "/post", "/void", "/expire" suffixes of derived resolution ids.
_TRANSFER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
_POOL = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")
_CREDITS = re.compile(r"\d+(\.\d+)?")


def new_transfer_id(prefix: str) -> TransferId:
    return TransferId(f"{prefix}_{secrets.token_hex(10)}")


def valid_transfer_id(value: object, *, field: str = "transfer_id") -> TransferId:
    if not isinstance(value, str) or not _TRANSFER_ID.fullmatch(value):
        raise LedgerInputError(
            f"{field} {str(value)[:80]!r} is not a valid transfer id",
            hint="1-64 characters: letters, digits and . _ : - (not first)",
        )
    return TransferId(value)


def derived_id(pending_id: TransferId, phase: Phase) -> TransferId:
    """The default id of a resolution: retrying the same post returns the first one,
    and a post after a void (or the reverse) is a second resolution, refused."""
    return TransferId(f"{pending_id}/{phase.value}")


def valid_pool(value: object) -> str:
    if not isinstance(value, str) or not _POOL.fullmatch(value):
        raise LedgerInputError(
            f"pool name {str(value)[:80]!r} is not valid",
            hint="1-63 characters: lowercase letters, digits and . _ - (not first)",
        )
    return value


def valid_amount(value: object, *, field: str = "amount", allow_zero: bool = False) -> int:
    """Integer micro-credits, positive (or zero where a transfer may post nothing)."""
    # bool is an int in Python; a True amount is a bug in the caller, not one micro-credit.
    if not isinstance(value, int) or isinstance(value, bool):
        raise LedgerInputError(
            f"{field} must be an integer number of micro-credits, not {type(value).__name__}",
            hint="amounts are integers: 1 credit = 1,000,000 micro-credits",
        )
    if value < 0 or (value == 0 and not allow_zero):
        raise LedgerInputError(f"{field} must be {'>= 0' if allow_zero else '> 0'}, not {value}")
    if value > MAX_AMOUNT:
        raise LedgerInputError(f"{field} {value} exceeds the largest transfer ({MAX_AMOUNT})")
    return value


def valid_usage(usage: object) -> Usage:
    if not isinstance(usage, Usage):
        raise LedgerInputError(f"usage must be a Usage, not {type(usage).__name__}")
    for f in fields(Usage):
        valid_amount(getattr(usage, f.name), field=f"usage.{f.name}", allow_zero=True)
    return usage


def parse_credits(text: str) -> int:
    """'12.5' credits -> 12_500_000 micro-credits, exactly (Decimal, never float)."""
    cleaned = text.strip().replace("_", "")
    if not _CREDITS.fullmatch(cleaned):
        raise LedgerInputError(
            f"amount {text!r} is not a positive number of credits", hint="e.g. 250 or 12.5"
        )
    try:
        micro = Decimal(cleaned) * MICRO
    except InvalidOperation:
        raise LedgerInputError(f"amount {text!r} is not a number") from None
    if micro != micro.to_integral_value():
        raise LedgerInputError(f"amount {text!r} has more than 6 decimal places")
    return valid_amount(int(micro))


def format_credits(micro: int) -> str:
    """12_500_000 -> '12.5'; exact, no float on the way."""
    sign = "-" if micro < 0 else ""
    whole, frac = divmod(abs(micro), MICRO)
    tail = f"{frac:06d}".rstrip("0")
    return f"{sign}{whole:,}" + (f".{tail}" if tail else "")


def effects(transfer: Transfer, pending: Transfer | None) -> list[tuple[AccountId, BalanceDelta]]:
    """What ``transfer`` does to its two accounts (TigerBeetle's balance rules).

    A resolution (post/void/expire) undoes the whole pending amount and posts its own
    amount, which is at most the pending one: the rest returns to the debit account.
    """
    a = transfer.amount
    if transfer.phase is Phase.SINGLE:
        return [
            (transfer.debit_account, BalanceDelta(debits_posted=a)),
            (transfer.credit_account, BalanceDelta(credits_posted=a)),
        ]
    if transfer.phase is Phase.PENDING:
        return [
            (transfer.debit_account, BalanceDelta(debits_pending=a)),
            (transfer.credit_account, BalanceDelta(credits_pending=a)),
        ]
    if pending is None:
        raise ValueError(f"resolution {transfer.id} needs its pending transfer")
    p = pending.amount
    return [
        (transfer.debit_account, BalanceDelta(debits_pending=-p, debits_posted=a)),
        (transfer.credit_account, BalanceDelta(credits_pending=-p, credits_posted=a)),
    ]


# Fields that define what a transfer does; a retry must repeat them exactly. Who made it,
# when, and the memo may differ (TigerBeetle compares user_data too; we keep the memo free
# so that a retry after a timeout does not fail over its wording).
_INTENT = (
    "phase",
    "code",
    "debit_account",
    "credit_account",
    "amount",
    "pending_id",
    "grant_id",
    "timeout_seconds",
    "grant_expires_at",
    "price",
    "usage",
    "key_id",
)


def differences(existing: Transfer, wanted: Transfer) -> list[str]:
    return [f for f in _INTENT if getattr(existing, f) != getattr(wanted, f)]


def expiring_amount(grant_amount: int, available: int, in_force: int) -> int:
    """How much of an expiring grant moves to ``expired``.

    The organisation keeps whatever of its available balance the grants still in force
    (expiring later, or never) can account for; only the excess, and at most the expiring
    grant's own amount, expires. Equivalently, spending is taken from the grant that
    expires soonest: the order that leaves the organisation the most.
    """
    return max(0, min(grant_amount, available - in_force))


__all__ = [
    "derived_id",
    "differences",
    "effects",
    "expiring_amount",
    "format_credits",
    "new_transfer_id",
    "parse_credits",
    "valid_amount",
    "valid_pool",
    "valid_transfer_id",
    "valid_usage",
]
