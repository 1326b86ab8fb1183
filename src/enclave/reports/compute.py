"""From raw figures to the public report: small-count suppression, the median time to
fix, deadlines met and missed, the subtraction table's lines. Pure: no clock, no store.

Suppression (docs/transparency.md, "Small counts"). A count of 1 to 4 in a breakdown, a
breakdown's total or a session count is published as ``<5``: with few organisations in a
tier or sector, a small count can point at one of them. A total is exact when it is 5 or
more, so a breakdown with exactly one suppressed cell would give it away by subtraction;
the smallest other non-zero cell is then suppressed too and shown as ``≥5`` (secondary
suppression, as statistics offices do). More cells are suppressed until no suppressed cell
can be pinned down from the total (``_safe``), and when no cell is left the total is
withheld instead, together with every total that must equal it. Rows are ordered by their
keys, never by their counts, so the order says nothing about a suppressed value.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any, Literal

from enclave.ledger.models import format_credits
from enclave.policy.interface import SubtractionTable
from enclave.reports.interface import (
    Breakdown,
    CaseTimes,
    Cell,
    CreditsRow,
    Disclosure,
    Gathered,
    Period,
    Report,
    Row,
    Sessions,
    Subtraction,
    SubtractionLine,
)

THRESHOLD = 5
# Closed without a fix being owed: not counted in time-to-fix or deadlines.
NOT_OWED = frozenset({"duplicate", "invalid", "withdrawn"})
_DAY = 86_400.0
_NO_RISK = "none"
_ACTION = "invoke"

Outcome = Literal["met", "missed"]


WITHHELD = Cell(None, "withheld")


def cell(value: int, threshold: int = THRESHOLD) -> Cell:
    if 0 < value < threshold:
        return Cell(None, f"<{threshold}")
    return Cell(value, str(value))


def _safe(primaries: int, secondaries: int, hidden: int, k: int) -> bool:
    """Whether a reader who knows the table's total can pin down no suppressed cell.
    They know each ``<k`` cell is in [1, k-1], each ``≥k`` cell is at least k, and the
    suppressed cells sum to ``hidden``; a cell is pinned when its feasible range is one
    value (worked out in docs/transparency.md, "Small counts")."""
    if primaries == 0:
        return True
    if secondaries == 0:
        return primaries >= 2 and primaries < hidden < (k - 1) * primaries
    return hidden > primaries + k * secondaries


def breakdown(
    columns: tuple[str, ...],
    counts: Mapping[Any, int],  # keyed by a tuple of strings, or one string
    threshold: int = THRESHOLD,
) -> Breakdown:
    items = [((k,) if isinstance(k, str) else tuple(k), v) for k, v in counts.items() if v > 0]
    items.sort(key=lambda kv: kv[0])
    total = sum(v for _, v in items)
    cells = [cell(v, threshold) for _, v in items]
    primaries = sum(1 for c in cells if c.value is None)
    secondaries = 0
    hidden = sum(v for (_, v), c in zip(items, cells, strict=True) if c.value is None)
    total_cell = cell(total, threshold)
    # A total under the threshold is itself suppressed, so it pins nothing down.
    while total_cell.value is not None and not _safe(primaries, secondaries, hidden, threshold):
        shown = [i for i, c in enumerate(cells) if c.value is not None]
        if not shown:
            total_cell = WITHHELD  # nothing left to hide behind: the total goes instead
            break
        smallest = min(shown, key=lambda i: (items[i][1], items[i][0]))
        cells[smallest] = Cell(None, f"≥{threshold}")
        secondaries += 1
        hidden += items[smallest][1]
    rows = tuple(Row(keys, c) for (keys, _), c in zip(items, cells, strict=True))
    return Breakdown(columns, rows, total_cell)


def _linked(*tables: Breakdown) -> tuple[Breakdown, ...]:
    """Tables that sum to the same total: if one had to withhold it, all do."""
    if all(t.total is not WITHHELD for t in tables):
        return tables
    return tuple(replace(t, total=WITHHELD) for t in tables)


def median_days_to_fix(cases: Iterable[CaseTimes], period: Period) -> tuple[int, float | None]:
    """How many cases got a fix in the period, and the median days from notification to
    that fix (one decimal; a fix released before the notification counts as 0 days)."""
    days = [
        max(0.0, (c.fix_released_at - c.notified_at).total_seconds() / _DAY)
        for c in cases
        if c.state not in NOT_OWED
        and c.notified_at is not None
        and c.fix_released_at is not None
        and period.since <= c.fix_released_at < period.until
    ]
    if not days:
        return 0, None
    return len(days), round(statistics.median(days), 1)


def deadline_outcome(case: CaseTimes, period: Period, as_of: datetime) -> Outcome | None:
    """``met`` when the fix was released in the period on or before the case's deadline;
    ``missed`` when the deadline passed in the period (and before ``as_of``) with no fix by
    then; None when neither happened in the period. A case counts at most once."""
    if case.state in NOT_OWED or case.deadline is None:
        return None
    fix = case.fix_released_at
    if fix is not None and fix <= case.deadline:
        return "met" if period.since <= fix < period.until else None
    due = case.deadline
    if period.since <= due < period.until and due <= as_of:
        return "missed"
    return None


def disclosure(cases: Iterable[CaseTimes], period: Period, as_of: datetime) -> Disclosure:
    listed = list(cases)
    fixed, median = median_days_to_fix(listed, period)
    outcomes = Counter(deadline_outcome(c, period, as_of) for c in listed)
    return Disclosure(fixed, median, outcomes["met"], outcomes["missed"])


def subtraction(table: SubtractionTable) -> Subtraction:
    """The policy's subtraction table (enclave.policy.table) for model calls, one line per
    tier, purposes and outcome, the categories treated alike listed together (as
    `enclave policy table` prints it)."""
    lines: dict[tuple[str, tuple[str, ...], str], list[str]] = {}
    for row in table.rows:
        if row.action != _ACTION or row.category == _NO_RISK:
            continue
        lines.setdefault((row.tier, row.purposes, row.summary), []).append(row.category)
    return Subtraction(
        policy_digest=table.digest,
        thresholds=table.thresholds,
        lines=tuple(
            SubtractionLine(tier, purposes, tuple(categories), summary)
            for (tier, purposes, summary), categories in lines.items()
        ),
    )


def _credits(raw: Mapping[str, tuple[int, int, int]], threshold: int) -> tuple[CreditsRow, ...]:
    rows = []
    for kind in sorted(raw):
        granted, spent, orgs = raw[kind]
        shown = 0 == orgs or orgs >= threshold  # a sum over 1..4 organisations is withheld
        rows.append(
            CreditsRow(
                kind,
                cell(orgs, threshold),
                format_credits(granted) if shown else None,
                format_credits(spent) if shown else None,
            )
        )
    return tuple(rows)


def build(
    gathered: Gathered,
    period: Period,
    *,
    table: SubtractionTable | None,
    threshold: int = THRESHOLD,
) -> Report:
    access = gathered.access
    by_kind = Counter(kind for kind, _, _ in access)
    by_sector = Counter(sector or "(unstated)" for _, sector, _ in access)
    by_tier = Counter(tier for _, _, tier in access)
    by_kind_t, by_sector_t, by_tier_t = _linked(
        breakdown(("kind",), by_kind, threshold),
        breakdown(("sector",), by_sector, threshold),
        breakdown(("tier",), by_tier, threshold),
    )
    alerts_t, alert_status_t = _linked(
        breakdown(("category", "action"), gathered.alerts, threshold),
        breakdown(("status",), gathered.alert_status, threshold),
    )
    requests_t = breakdown(("tier", "purpose"), gathered.requests, threshold)
    blocked_t = breakdown(("category",), gathered.blocked, threshold)
    # Each daily series sums to a table's total: it is published only when that total
    # is published exactly (else it would undo the suppression).
    with_requests = requests_t.total.value is not None
    with_refused = blocked_t.total.value is not None
    days: list[tuple[date, int | None, int | None]] = []
    for offset in range(period.days):
        day = period.start + timedelta(days=offset)
        requests, refused = gathered.daily.get(day, (0, 0))
        days.append((day, requests if with_requests else None, refused if with_refused else None))
    return Report(
        period=period,
        generated_at=gathered.as_of,
        checkpoint=gathered.checkpoint,
        threshold=threshold,
        organisations=by_kind_t.total,
        by_kind=by_kind_t,
        by_sector=by_sector_t,
        by_tier=by_tier_t,
        applications=breakdown(("tier", "outcome"), gathered.applications, threshold),
        requests=requests_t,
        daily=tuple(days),
        blocked=blocked_t,
        alerts=alerts_t,
        alert_status=alert_status_t,
        sessions=Sessions(
            opened=cell(gathered.sessions_opened, threshold),
            held=cell(gathered.sessions_held, threshold),
            terminated=cell(gathered.sessions_terminated, threshold),
            held_calls=breakdown(("decision",), gathered.held_calls, threshold),
        ),
        findings=breakdown(("severity", "state"), gathered.findings, threshold),
        disclosure=disclosure(gathered.cases, period, gathered.as_of),
        credits=_credits(gathered.credits, threshold),
        subtraction=None if table is None else subtraction(table),
        named=tuple(sorted(gathered.named, key=lambda o: o.name)),
    )


__all__ = [
    "NOT_OWED",
    "THRESHOLD",
    "breakdown",
    "build",
    "cell",
    "deadline_outcome",
    "disclosure",
    "median_days_to_fix",
    "subtraction",
]
