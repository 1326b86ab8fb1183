"""Deadline arithmetic for every rule of the policy, in several time zones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from enclave.disclosure import DeadlinePolicy, DisclosureInputError
from enclave.disclosure.deadlines import (
    after_fix,
    base_deadline,
    deadline,
    due_reminders,
    explicit_deadline,
    grace_allowed,
)

P = DeadlinePolicy()
NOTIFIED = datetime(2026, 1, 10, 9, 30, tzinfo=UTC)


def test_ninety_days_after_notification() -> None:
    assert deadline(P, NOTIFIED) == datetime(2026, 4, 10, 9, 30, tzinfo=UTC)


def test_fix_within_ninety_days_publishes_thirty_days_after_the_fix() -> None:
    fixed = NOTIFIED + timedelta(days=20)
    assert deadline(P, NOTIFIED, fix_released_at=fixed) == fixed + timedelta(days=30)


def test_fix_on_day_eighty_waits_thirty_days_past_day_ninety() -> None:
    fixed = NOTIFIED + timedelta(days=80)
    assert deadline(P, NOTIFIED, fix_released_at=fixed) == NOTIFIED + timedelta(days=110)


def test_fix_after_the_deadline_changes_nothing() -> None:
    fixed = NOTIFIED + timedelta(days=95)
    assert deadline(P, NOTIFIED, fix_released_at=fixed) == NOTIFIED + timedelta(days=90)


def test_exploited_in_the_wild_is_seven_days() -> None:
    assert deadline(P, NOTIFIED, exploited=True) == NOTIFIED + timedelta(days=7)


def test_grace_adds_fourteen_days() -> None:
    assert deadline(P, NOTIFIED, grace=True) == NOTIFIED + timedelta(days=104)


def test_grace_then_fix_within_it() -> None:
    fixed = NOTIFIED + timedelta(days=100)
    assert deadline(P, NOTIFIED, fix_released_at=fixed, grace=True) == fixed + timedelta(days=30)


def test_configurable_policy() -> None:
    policy = DeadlinePolicy(disclosure_days=45, fix_adoption_days=10, in_the_wild_days=3)
    assert deadline(policy, NOTIFIED) == NOTIFIED + timedelta(days=45)
    assert deadline(policy, NOTIFIED, exploited=True) == NOTIFIED + timedelta(days=3)
    fixed = NOTIFIED + timedelta(days=1)
    assert deadline(policy, NOTIFIED, fix_released_at=fixed) == fixed + timedelta(days=10)


@pytest.mark.parametrize(
    "zone", ["America/New_York", "Europe/Berlin", "Asia/Kolkata", "Pacific/Chatham"]
)
def test_same_instant_in_any_zone(zone: str) -> None:
    local = NOTIFIED.astimezone(ZoneInfo(zone))
    result = deadline(P, local)
    assert result == deadline(P, NOTIFIED)
    assert result.tzinfo is UTC


def test_across_a_daylight_saving_change_the_embargo_is_exactly_ninety_days() -> None:
    # 2026-03-08 US DST starts: wall-clock arithmetic would give 89 days 23 hours.
    notified = datetime(2026, 2, 1, 9, 0, tzinfo=ZoneInfo("America/New_York"))
    end = deadline(P, notified)
    assert end - notified == timedelta(days=90)
    assert end.astimezone(ZoneInfo("America/New_York")).hour == 10  # wall clock moved, not time


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(DisclosureInputError, match="no time zone"):
        deadline(P, datetime(2026, 1, 1))  # noqa: DTZ001
    with pytest.raises(DisclosureInputError, match="no time zone"):
        deadline(P, NOTIFIED, fix_released_at=datetime(2026, 1, 2))  # noqa: DTZ001


def test_after_fix_respects_an_explicit_deadline() -> None:
    current = NOTIFIED + timedelta(days=60)
    assert after_fix(P, current, NOTIFIED + timedelta(days=10)) == NOTIFIED + timedelta(days=40)
    assert after_fix(P, current, NOTIFIED + timedelta(days=61)) == current


def test_grace_only_once_and_only_before_the_deadline() -> None:
    now = NOTIFIED + timedelta(days=80)
    grace_allowed(P, NOTIFIED, now, already=False, exploited=False)
    with pytest.raises(DisclosureInputError, match="already"):
        grace_allowed(P, NOTIFIED, now, already=True, exploited=False)
    with pytest.raises(DisclosureInputError, match="passed"):
        grace_allowed(P, NOTIFIED, NOTIFIED + timedelta(days=91), already=False, exploited=False)
    with pytest.raises(DisclosureInputError, match="no grace"):
        grace_allowed(DeadlinePolicy(grace_days=0), NOTIFIED, now, already=False, exploited=False)


def test_explicit_deadline_in_the_past_is_refused() -> None:
    now = datetime(2026, 6, 1, tzinfo=UTC)
    with pytest.raises(DisclosureInputError, match="in the past"):
        explicit_deadline(datetime(2026, 5, 31, 23, 0, tzinfo=timezone(timedelta(hours=2))), now)
    later = explicit_deadline(datetime(2026, 6, 2, 1, 0, tzinfo=timezone(timedelta(hours=2))), now)
    assert later == datetime(2026, 6, 1, 23, 0, tzinfo=UTC)


def test_reminders_fire_once_per_window() -> None:
    end = NOTIFIED + timedelta(days=90)
    windows = (14, 7, 1)
    assert due_reminders(end, end - timedelta(days=20), windows, None) is None
    assert due_reminders(end, end - timedelta(days=13), windows, None) == 14
    assert due_reminders(end, end - timedelta(days=12), windows, 14) is None
    assert due_reminders(end, end - timedelta(days=6), windows, 14) == 7
    # A scheduler that was down for a week jumps straight to the smallest open window.
    assert due_reminders(end, end - timedelta(hours=3), windows, 14) == 1
    assert due_reminders(end, end + timedelta(hours=1), windows, None) is None


def test_base_deadline_with_exploited_and_grace() -> None:
    assert base_deadline(P, NOTIFIED, exploited=True, grace=True) == NOTIFIED + timedelta(days=21)
