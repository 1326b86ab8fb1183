"""Suppression, medians, deadlines and periods: the arithmetic a reader relies on."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from enclave.reports import CaseTimes, Period, ReportInputError
from enclave.reports.compute import breakdown, cell, deadline_outcome, median_days_to_fix

PERIOD = Period(date(2026, 7, 1), date(2026, 10, 1))
AS_OF = datetime(2026, 11, 1, tzinfo=UTC)


def at(month: int, day: int) -> datetime:
    return datetime(2026, month, day, tzinfo=UTC)


def test_counts_of_one_to_four_are_published_as_less_than_five() -> None:
    assert [cell(n).shown for n in (0, 1, 4, 5, 12)] == ["0", "<5", "<5", "5", "12"]
    assert [cell(n).value for n in (0, 1, 4, 5)] == [0, None, None, 5]


def test_a_lone_suppressed_cell_cannot_be_recovered_from_the_total() -> None:
    table = breakdown(("sector",), {"energy": 3, "finance": 9, "health": 40})
    shown = {r.keys[0]: r.cell.shown for r in table.rows}
    # total 52 is exact; without a second suppression energy = 52 - 9 - 40.
    assert table.total.shown == "52"
    assert shown == {"energy": "<5", "finance": "≥5", "health": "40"}
    assert all(r.cell.value is None for r in table.rows if r.keys[0] != "health")


def test_two_suppressed_cells_need_no_secondary_suppression() -> None:
    table = breakdown(("kind",), {"a": 2, "b": 3, "c": 7})
    assert [r.cell.shown for r in table.rows] == ["<5", "<5", "7"]
    assert table.total.shown == "12"


def test_a_small_total_is_suppressed_too() -> None:
    table = breakdown(("tier",), {"partner": 1, "public": 2})
    assert table.total == cell(3)
    assert table.total.shown == "<5"


def test_two_ones_beside_a_five_cannot_be_protected_so_the_total_is_withheld() -> None:
    # 5 + 1 + 1 = 7: with the total, "<5" and "<5" summing to 2 can only be 1 and 1, and
    # hiding the 5 too leaves 7 = 1 + 1 + 5 pinned down. Only withholding the total helps.
    table = breakdown(("kind",), {"maintainer": 5, "partner": 1, "public": 1})
    assert [r.cell.shown for r in table.rows] == ["≥5", "<5", "<5"]
    assert table.total.value is None and table.total.shown == "withheld"


def test_secondary_suppression_continues_until_nothing_is_pinned() -> None:
    # 1 + 5: hiding the 5 leaves 6 = 1 + 5 pinned; a third cell is hidden as well.
    table = breakdown(("k",), {"a": 1, "b": 5, "c": 6, "d": 50})
    assert [r.cell.shown for r in table.rows] == ["<5", "≥5", "≥5", "50"]
    assert table.total.shown == "62"


def test_suppressed_cells_summing_to_their_minimum_or_maximum_are_protected() -> None:
    assert [r.cell.shown for r in breakdown(("k",), {"a": 1, "b": 1, "c": 9}).rows] == [
        "<5",
        "<5",
        "≥5",
    ]
    # 4 + 4 = 8 is the most two "<5" cells can hold: pinned too.
    four_fours = breakdown(("k",), {"a": 4, "b": 4, "c": 9, "d": 30})
    assert [r.cell.shown for r in four_fours.rows] == ["<5", "<5", "≥5", "30"]


def test_rows_are_ordered_by_key_not_by_count() -> None:
    table = breakdown(("category", "action"), {("b", "x"): 1, ("a", "y"): 50, ("a", "x"): 2})
    assert [r.keys for r in table.rows] == [("a", "x"), ("a", "y"), ("b", "x")]


def test_zero_counts_are_left_out() -> None:
    assert breakdown(("k",), {"a": 0}).rows == ()


def case(
    notified: datetime | None,
    fixed: datetime | None,
    deadline: datetime | None,
    state: str = "fix-available",
) -> CaseTimes:
    return CaseTimes(state, notified, fixed, deadline)


def test_median_days_from_notification_to_fix_counts_fixes_in_the_period() -> None:
    cases = [
        case(at(6, 1), at(7, 1), at(8, 30)),  # 30 days
        case(at(7, 1), at(7, 11), at(9, 29)),  # 10 days
        case(
            at(7, 1),
            at(
                7,
                3,
            ),
            at(9, 29),
        ),  # 2 days
        case(at(7, 1), at(10, 1), at(9, 29)),  # fixed after the period: not counted
        case(at(7, 1), at(7, 5), None, state="withdrawn"),  # no fix owed: not counted
        case(None, at(7, 5), None),  # never notified
    ]
    assert median_days_to_fix(cases, PERIOD) == (3, 10.0)
    assert median_days_to_fix([], PERIOD) == (0, None)


def test_median_of_an_even_count_is_the_mean_of_the_middle_two() -> None:
    cases = [case(at(7, 1), at(7, 1) + timedelta(days=d), at(12, 1)) for d in (1, 2, 4, 9)]
    assert median_days_to_fix(cases, PERIOD) == (4, 3.0)


def test_deadlines_met_and_missed() -> None:
    met = case(at(6, 1), at(7, 10), at(8, 9))
    missed_no_fix = case(at(5, 1), None, at(7, 30))
    missed_late_fix = case(at(5, 1), at(8, 20), at(7, 30))
    not_yet_due = case(at(8, 1), None, at(10, 30))
    due_after_as_of = case(at(8, 1), None, at(9, 15))
    assert deadline_outcome(met, PERIOD, AS_OF) == "met"
    assert deadline_outcome(missed_no_fix, PERIOD, AS_OF) == "missed"
    assert deadline_outcome(missed_late_fix, PERIOD, AS_OF) == "missed"
    assert deadline_outcome(not_yet_due, PERIOD, AS_OF) is None
    # A deadline in the period but after the report was computed has not been missed yet.
    assert deadline_outcome(due_after_as_of, PERIOD, at(9, 1)) is None
    assert deadline_outcome(case(at(5, 1), None, at(7, 30), "invalid"), PERIOD, AS_OF) is None


def test_period_default_is_the_90_days_before_today() -> None:
    period = Period.parse(None, None, today=date(2026, 11, 25))
    assert (period.start, period.end, period.days) == (date(2026, 8, 27), date(2026, 11, 25), 90)
    assert period.since == datetime(2026, 8, 27, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2026-02-30", "2026-03-01", "not a date"),
        ("2026-1-1", "2026-03-01", "not a date"),
        ("yesterday", None, "not a date"),
        ("2026-03-01", "2026-03-01", "must start before it ends"),
        ("2026-04-01", "2026-03-01", "must start before it ends"),
    ],
)
def test_bad_periods_are_refused(start: str, end: str | None, message: str) -> None:
    with pytest.raises(ReportInputError, match=message):
        Period.parse(start, end, today=date(2026, 11, 25))
