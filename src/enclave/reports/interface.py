"""Transparency reports: values, errors and the storage they need (issue 10; DESIGN.md
principles 5 and 6: publish what was subtracted, show who has access).

Two kinds of values live here. :class:`Gathered` is what the store aggregates for a
period: raw counts that never leave the process. :class:`Report` is the public report
built from it: every breakdown already suppressed (``compute.py``), so nothing downstream
(renderers, the published row, the public pages) can reach a raw small count.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NewType, Protocol

from enclave.errors import EnclaveError, InputError, NotFound
from enclave.events import EventWriter

ReportId = NewType("ReportId", str)

SCHEMA = "enclave.transparency-report/1"
DEFAULT_DAYS = 90
MAX_DAYS = 3660  # ten years: a bound on the daily series, not a policy


class ReportError(EnclaveError):
    code = "report_error"


class ReportInputError(ReportError, InputError):
    code = "invalid_report_input"


class UnknownReport(ReportError, NotFound):
    code = "report_not_found"


@dataclass(frozen=True, slots=True)
class Period:
    """``[start, end)`` in whole UTC days: ``end`` is the first day not covered."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.start >= self.end:
            raise ReportInputError(
                f"the period must start before it ends (from {self.start}, to {self.end})",
                hint="--to is the first day not covered, e.g. --from 2026-01-01 --to 2026-04-01",
            )
        if (self.end - self.start).days > MAX_DAYS:
            raise ReportInputError(f"the period is longer than {MAX_DAYS} days")

    @classmethod
    def parse(cls, start: str | None, end: str | None, *, today: date) -> Period:
        """From ``YYYY-MM-DD`` texts; the default is the last 90 whole days before today
        (UTC), so a report regenerated later the same day gives the same figures."""
        until = _day("--to", end) if end is not None else today
        since = _day("--from", start) if start is not None else until - timedelta(DEFAULT_DAYS)
        return cls(since, until)

    @property
    def since(self) -> datetime:
        return datetime.combine(self.start, time(), tzinfo=UTC)

    @property
    def until(self) -> datetime:
        return datetime.combine(self.end, time(), tzinfo=UTC)

    @property
    def days(self) -> int:
        return (self.end - self.start).days


def _day(flag: str, text: str) -> date:
    try:
        if len(text) != 10:
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise ReportInputError(f"{flag} {text!r} is not a date (YYYY-MM-DD)") from None


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The signed audit-log checkpoint the event figures were computed at: events in the
    log's first ``tree_size`` leaves, and no other, were counted."""

    tree_size: int
    root_hash: bytes
    note: str  # the C2SP signed note, exactly as signed
    created_at: datetime


@dataclass(frozen=True, slots=True)
class CaseTimes:
    """One disclosure case's dates, for median time to fix and deadlines met."""

    state: str
    notified_at: datetime | None
    fix_released_at: datetime | None
    deadline: datetime | None


@dataclass(frozen=True, slots=True)
class OrgActivity:
    """An organisation the operator opted in to being named (``report_opt_in``)."""

    name: str
    kind: str
    tier: str
    requests: int
    credits_spent: int  # micro-credits


@dataclass(frozen=True, slots=True)
class Gathered:
    """Raw figures for one period, as the store aggregates them. Keys are tuples of
    category values; no organisation is named except in ``named`` (opted in)."""

    as_of: datetime
    checkpoint: Checkpoint | None
    access: Sequence[tuple[str, str, str]]  # (kind, sector, tier), one per organisation
    applications: Mapping[tuple[str, str], int]  # (tier, outcome)
    requests: Mapping[tuple[str, str], int]  # (tier, purpose)
    daily: Mapping[date, tuple[int, int]]  # day -> (requests, refused)
    blocked: Mapping[str, int]  # risk category -> refused requests
    alerts: Mapping[tuple[str, str], int]  # (category, action)
    alert_status: Mapping[str, int]
    sessions_opened: int
    sessions_held: int
    sessions_terminated: int
    held_calls: Mapping[str, int]  # held tool calls by decision
    findings: Mapping[tuple[str, str], int]  # (severity, case state)
    cases: Sequence[CaseTimes]
    credits: Mapping[str, tuple[int, int, int]]  # org kind -> (granted, spent, organisations)
    named: Sequence[OrgActivity] = ()


@dataclass(frozen=True, slots=True)
class Cell:
    """One published count: ``value`` is None when suppressed; ``shown`` is what a reader
    sees (``"12"``, ``"<5"``, ``"≥5"``)."""

    value: int | None
    shown: str


@dataclass(frozen=True, slots=True)
class Row:
    keys: tuple[str, ...]
    cell: Cell


@dataclass(frozen=True, slots=True)
class Breakdown:
    columns: tuple[str, ...]  # the key columns, e.g. ("tier", "purpose")
    rows: tuple[Row, ...]
    total: Cell


@dataclass(frozen=True, slots=True)
class CreditsRow:
    kind: str
    organisations: Cell
    granted: str | None  # decimal credits, None when withheld (fewer than 5 organisations)
    spent: str | None


@dataclass(frozen=True, slots=True)
class SubtractionLine:
    tier: str
    purposes: tuple[str, ...]
    categories: tuple[str, ...]
    outcome: str  # e.g. "allow; flag >= 0.5000; block >= 0.8000"


@dataclass(frozen=True, slots=True)
class Subtraction:
    policy_digest: str
    thresholds: tuple[str, ...]
    lines: tuple[SubtractionLine, ...]


@dataclass(frozen=True, slots=True)
class Disclosure:
    fixed: int
    median_days_to_fix: float | None
    deadlines_met: int
    deadlines_missed: int


@dataclass(frozen=True, slots=True)
class Sessions:
    opened: Cell
    held: Cell
    terminated: Cell
    held_calls: Breakdown


@dataclass(frozen=True, slots=True)
class Report:
    """The public report: every figure as published."""

    period: Period
    generated_at: datetime
    checkpoint: Checkpoint | None
    threshold: int
    organisations: Cell
    by_kind: Breakdown
    by_sector: Breakdown
    by_tier: Breakdown
    applications: Breakdown
    requests: Breakdown
    daily: tuple[tuple[date, int | None, int | None], ...]  # None: series withheld
    blocked: Breakdown
    alerts: Breakdown
    alert_status: Breakdown
    sessions: Sessions
    findings: Breakdown
    disclosure: Disclosure
    credits: tuple[CreditsRow, ...]
    subtraction: Subtraction | None
    named: tuple[OrgActivity, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Published:
    id: ReportId
    period_from: date
    period_to: date
    created_at: datetime
    created_by: str
    checkpoint_size: int | None
    digest: str  # "sha256:<hex>" of the canonical JSON body
    body: Mapping[str, Any]  # the report's JSON document (schema above)


class ReportUnit(EventWriter, Protocol):
    def insert_report(self, report: Published) -> None: ...


class ReportStore(Protocol):
    def gather(self, period: Period, *, as_of: datetime) -> Gathered:
        """Aggregate the period's figures in one read transaction, event figures at the
        latest signed checkpoint."""
        ...

    def unit(self) -> AbstractContextManager[ReportUnit]: ...

    def list_reports(self) -> list[Published]:
        """Published reports, newest first."""
        ...

    def get_report(self, report_id: ReportId) -> Published | None: ...


__all__ = [
    "DEFAULT_DAYS",
    "SCHEMA",
    "Breakdown",
    "CaseTimes",
    "Cell",
    "Checkpoint",
    "CreditsRow",
    "Disclosure",
    "Gathered",
    "OrgActivity",
    "Period",
    "Published",
    "Report",
    "ReportError",
    "ReportId",
    "ReportInputError",
    "ReportStore",
    "ReportUnit",
    "Row",
    "Sessions",
    "Subtraction",
    "SubtractionLine",
    "UnknownReport",
]
