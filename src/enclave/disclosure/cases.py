"""Case state machine (CERT/CC VINCE's case model, simplified to the states of issue 9).

Pure functions on :class:`Case` values: the service loads, calls these, stores the result and
appends the event in one transaction.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import datetime

from enclave.disclosure.interface import (
    CLOSED,
    FORWARD,
    Case,
    CaseConflict,
    CaseState,
    DisclosureInputError,
    StatusEntry,
    VendorStatus,
)

MAX_FIELD = 300

SIDE_EXITS = frozenset({CaseState.DUPLICATE, CaseState.INVALID, CaseState.WITHDRAWN})


def require_open(case: Case, doing: str) -> None:
    if case.state in CLOSED:
        raise CaseConflict(f"case {case.id} is {case.state.value}; cannot {doing}")


def advance(case: Case, target: CaseState, now: datetime) -> Case:
    """Move forward along triage -> ... -> disclosed; staying put is a no-op, going back is
    refused (a maintainer acknowledging after shipping a fix does not reopen the case)."""
    require_open(case, f"move it to {target.value}")
    if target not in FORWARD:
        raise CaseConflict(f"{target.value} is not a forward state")
    if FORWARD.index(target) <= FORWARD.index(case.state):
        return case
    return replace(case, state=target, updated_at=now)


def close(case: Case, target: CaseState, now: datetime) -> Case:
    if target not in SIDE_EXITS:
        raise CaseConflict(
            f"a case can be closed only as {', '.join(sorted(s.value for s in SIDE_EXITS))}"
        )
    require_open(case, f"close it as {target.value}")
    return replace(case, state=target, updated_at=now)


def all_resolved(statuses: list[StatusEntry]) -> bool:
    """Every maintainer has answered every finding with fixed or not-affected."""
    done = {VendorStatus.FIXED, VendorStatus.NOT_AFFECTED}
    return bool(statuses) and all(s.status in done for s in statuses)


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


def text_field(value: str, name: str, limit: int = MAX_FIELD, *, required: bool = True) -> str:
    text = value.strip()
    if required and not text:
        raise DisclosureInputError(f"{name} is required")
    if len(text) > limit:
        raise DisclosureInputError(f"{name} is longer than {limit} characters")
    return text


__all__ = [
    "SIDE_EXITS",
    "advance",
    "all_resolved",
    "close",
    "new_id",
    "require_open",
    "text_field",
]
