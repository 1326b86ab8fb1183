"""Pure deadline arithmetic. No clock, no store: every input is an aware datetime and every
output is an aware UTC datetime.

Defaults follow Google Project Zero's disclosure policy (2021 revision, "90+30"):
https://googleprojectzero.blogspot.com/p/vulnerability-disclosure-policy.html

* details are disclosed 90 days after the vendor is notified;
* if a fix ships before that deadline, disclosure waits 30 days after the fix (time for
  users to patch), even when that lands after day 90 (P0: "if the vendor patches within
  90 days, we publish 30 days after the patch"); a fix after the deadline changes nothing;
* 7 days after notification when the bug is exploited in the wild;
* a one-time 14-day grace period on request when a fix is scheduled within it.

Arithmetic is on instants (UTC), not wall-clock dates: "90 days" is 90 * 24 hours from the
notification instant, so a daylight-saving change in the reporter's zone neither shortens
nor lengthens the embargo.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from enclave.disclosure.interface import DisclosureInputError


@dataclass(frozen=True, slots=True)
class DeadlinePolicy:
    disclosure_days: int = 90
    fix_adoption_days: int = 30
    in_the_wild_days: int = 7
    grace_days: int = 14


def aware(value: datetime, name: str) -> datetime:
    """``value`` in UTC; a naive datetime is refused (its zone would be a guess)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise DisclosureInputError(
            f"{name} {value.isoformat()} has no time zone",
            hint="give an offset, e.g. 2026-12-01T09:00:00+01:00 or ...Z",
        )
    return value.astimezone(UTC)


def base_deadline(
    policy: DeadlinePolicy, notified_at: datetime, *, exploited: bool = False, grace: bool = False
) -> datetime:
    """The embargo end before any fix: notification + 90 days (7 when exploited in the
    wild), plus the grace period when it was granted."""
    start = aware(notified_at, "notified_at")
    days = policy.in_the_wild_days if exploited else policy.disclosure_days
    if grace:
        days += policy.grace_days
    return start + timedelta(days=days)


def deadline(
    policy: DeadlinePolicy,
    notified_at: datetime,
    *,
    fix_released_at: datetime | None = None,
    exploited: bool = False,
    grace: bool = False,
) -> datetime:
    """The disclosure date under every rule of the policy."""
    base = base_deadline(policy, notified_at, exploited=exploited, grace=grace)
    if fix_released_at is None:
        return base
    fixed = aware(fix_released_at, "fix_released_at")
    if fixed >= base:
        return base  # the fix came too late to move the date
    return fixed + timedelta(days=policy.fix_adoption_days)


def after_fix(policy: DeadlinePolicy, current: datetime, fix_released_at: datetime) -> datetime:
    """The deadline once a fix ships: fix + 30 days when the fix beat the current deadline
    (whatever set it: the policy, a grace period or a coordinator's date), else unchanged."""
    now_deadline = aware(current, "deadline")
    fixed = aware(fix_released_at, "fix_released_at")
    if fixed >= now_deadline:
        return now_deadline
    return fixed + timedelta(days=policy.fix_adoption_days)


def grace_allowed(
    policy: DeadlinePolicy, notified_at: datetime, now: datetime, *, already: bool, exploited: bool
) -> None:
    """Raise unless a grace request is acceptable: once per case, before the deadline."""
    if already:
        raise DisclosureInputError("the grace period has already been granted for this case")
    if policy.grace_days == 0:
        raise DisclosureInputError("the programme's deadline policy allows no grace period")
    if aware(now, "now") >= base_deadline(policy, notified_at, exploited=exploited):
        raise DisclosureInputError("the deadline has passed; a grace period is no longer possible")


def explicit_deadline(value: datetime, now: datetime) -> datetime:
    """A coordinator's chosen date: aware, and in the future."""
    when = aware(value, "deadline")
    if when <= aware(now, "now"):
        raise DisclosureInputError(
            f"deadline {when.isoformat()} is in the past", hint="give a future date"
        )
    return when


def due_reminders(
    deadline_at: datetime, now: datetime, windows: tuple[int, ...], already: int | None
) -> int | None:
    """The smallest reminder window (days before the deadline) that has opened and was not
    raised yet, or None. Windows raised are remembered as the smallest one, so a reminder
    fires once per window even if the scheduler runs often or late."""
    left = aware(deadline_at, "deadline") - aware(now, "now")
    opened = [d for d in windows if left <= timedelta(days=d) and left > timedelta(0)]
    if not opened:
        return None
    smallest = min(opened)
    if already is not None and smallest >= already:
        return None
    return smallest


__all__ = [
    "DeadlinePolicy",
    "after_fix",
    "aware",
    "base_deadline",
    "deadline",
    "due_reminders",
    "explicit_deadline",
    "grace_allowed",
]
