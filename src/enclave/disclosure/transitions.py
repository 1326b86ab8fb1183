"""State changes on one unit of work, shared by the service and the maintainer links:
each writes the change and appends its Event in the caller's transaction."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from enclave.disclosure import deadlines
from enclave.disclosure.cases import advance, new_id, require_open, text_field
from enclave.disclosure.deadlines import DeadlinePolicy
from enclave.disclosure.interface import (
    Case,
    CaseConflict,
    CaseId,
    CaseState,
    DisclosureUnit,
    FindingId,
    Participant,
    ParticipantId,
    ParticipantRole,
    StatusEntry,
    UnknownCase,
    VendorStatus,
)
from enclave.events import Event


def apply_status(
    policy: DeadlinePolicy,
    unit: DisclosureUnit,
    by: str,
    case_id: CaseId,
    participant_id: ParticipantId,
    status: VendorStatus,
    *,
    finding_id: FindingId | None,
    fixed_version: str | None,
    now: datetime,
) -> Case:
    case = get_case(unit, case_id)
    require_open(case, "change a maintainer's status")
    if status is VendorStatus.FIXED:
        fixed_version = text_field(fixed_version or "", "fixed version", 200)
    entries = [s for s in unit.list_statuses(case.id) if s.participant_id == participant_id]
    if finding_id is not None:
        entries = [s for s in entries if s.finding_id == finding_id]
    if not entries:
        raise UnknownCase(f"case {case_id} has no status for that maintainer/finding")
    for entry in entries:
        set_status(
            unit,
            case.id,
            participant_id,
            entry.finding_id,
            status,
            now,
            fixed_version if status is VendorStatus.FIXED else None,
        )
        unit.append(
            Event(
                kind="case.status_changed",
                actor=by,
                subject=case.id,
                at=now,
                data={
                    "participant": participant_id,
                    "finding": entry.finding_id,
                    "old": entry.status.value,
                    "new": status.value,
                    "fixed_version": fixed_version,
                },
            )
        )
    if status is not VendorStatus.FIXED:
        return case
    updated = advance(case, CaseState.FIX_AVAILABLE, now)
    if case.fix_released_at is None:
        updated = replace(updated, fix_released_at=now, fixed_version=fixed_version)
        if case.deadline is not None:
            new = deadlines.after_fix(policy, case.deadline, now)
            if new != case.deadline:
                updated = replace(updated, deadline=new)
                unit.append(
                    Event(
                        kind="case.deadline_changed",
                        actor=by,
                        subject=case.id,
                        at=now,
                        data={
                            "old": case.deadline.isoformat(),
                            "new": new.isoformat(),
                            "reason": "fix released",
                        },
                    )
                )
    unit.update_case(updated)
    if updated.state is not case.state:
        unit.append(
            Event(
                kind="case.state_changed",
                actor=by,
                subject=case.id,
                at=now,
                data={
                    "old": case.state.value,
                    "new": updated.state.value,
                    "reason": f"fixed in {fixed_version}",
                },
            )
        )
    return updated


def change_deadline(
    policy: DeadlinePolicy,
    unit: DisclosureUnit,
    by: str,
    case_id: CaseId,
    reason: str,
    *,
    grace: bool,
    until: datetime | None,
    exploited: bool,
    now: datetime,
) -> Case:
    case = get_case(unit, case_id)
    require_open(case, "change its deadline")
    if case.notified_at is None or case.deadline is None:
        raise CaseConflict(f"case {case_id} has no deadline before maintainers are notified")
    if until is not None:
        new = deadlines.explicit_deadline(until, now)
        updated = replace(case, deadline=new, updated_at=now)
    elif grace:
        deadlines.grace_allowed(
            policy,
            case.notified_at,
            now,
            already=case.grace_used,
            exploited=case.exploited,
        )
        new = case.deadline + timedelta(days=policy.grace_days)
        updated = replace(case, deadline=new, grace_used=True, updated_at=now)
    else:
        new = deadlines.deadline(
            policy, case.notified_at, exploited=True, fix_released_at=case.fix_released_at
        )
        new = min(new, case.deadline)
        updated = replace(case, deadline=new, exploited=True, updated_at=now)
    unit.update_case(updated)
    unit.append(
        Event(
            kind="case.deadline_changed",
            actor=by,
            subject=case.id,
            at=now,
            data={
                "old": case.deadline.isoformat(),
                "new": new.isoformat(),
                "reason": reason,
                "grace": grace,
                "exploited": exploited,
            },
        )
    )
    return updated


def get_case(unit: DisclosureUnit, case_id: CaseId) -> Case:
    case = unit.get_case(case_id)
    if case is None:
        raise UnknownCase(f"no case {case_id!r}", hint="list them with `enclave cases list`")
    return case


def vendors(unit: DisclosureUnit, case_id: CaseId) -> list[Participant]:
    return [p for p in unit.list_participants(case_id) if p.role is ParticipantRole.VENDOR]


def add_participant(
    unit: DisclosureUnit, case_id: CaseId, role: ParticipantRole, name: str, now: datetime
) -> None:
    unit.insert_participant(
        Participant(
            id=ParticipantId(new_id("ptc")),
            case_id=case_id,
            role=role,
            name=name,
            created_at=now,
        )
    )


def set_status(
    unit: DisclosureUnit,
    case_id: CaseId,
    participant_id: ParticipantId,
    finding_id: FindingId,
    status: VendorStatus,
    now: datetime,
    fixed_version: str | None = None,
) -> None:
    unit.upsert_status(
        StatusEntry(
            case_id=case_id,
            participant_id=participant_id,
            finding_id=finding_id,
            status=status,
            fixed_version=fixed_version,
            updated_at=now,
        )
    )


__all__ = [
    "add_participant",
    "apply_status",
    "change_deadline",
    "get_case",
    "set_status",
    "vendors",
]
