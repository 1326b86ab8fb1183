"""What the console's disclosure pages show (cases, their deadlines, findings, maintainers'
statuses and timeline) and its two case actions (grant the grace period, close a case),
through ``enclave.disclosure.DisclosureService``: the service behind the admin API's
``/cases`` routes and `enclave cases`, so the same roles apply (every role reads;
coordination is admin only) and the same events are written.

Threat-model note: nothing here reads embargoed text. Findings are shown from the
``Overview`` (descriptions and PoCs stay sealed); reading them is the admin API's
recorded ``details`` call, which the console does not offer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from enclave.disclosure import (
    Case,
    CaseState,
    DisclosureInputError,
    DisclosureService,
    Finding,
)
from enclave.disclosure.cases import SIDE_EXITS
from enclave.disclosure.interface import CLOSED
from enclave.events import StoredEvent
from enclave.registry import Operator

_MAX_REASON = 2000


class DeadlineState(StrEnum):
    NONE = "none"  # not notified yet: no deadline runs
    RUNNING = "running"
    SOON = "soon"  # within the first reminder window (docs/disclosure.md, "Reminders")
    OVERDUE = "overdue"  # open and past its deadline: due for publication
    CLOSED = "closed"  # disclosed, or closed as duplicate, invalid or withdrawn


def deadline_state(case: Case, now: datetime, soon: timedelta) -> DeadlineState:
    if case.state in CLOSED:
        return DeadlineState.CLOSED
    if case.deadline is None:
        return DeadlineState.NONE
    if case.deadline <= now:
        return DeadlineState.OVERDUE
    if case.deadline - now <= soon:
        return DeadlineState.SOON
    return DeadlineState.RUNNING


def soon_window(reminder_days: Iterable[int]) -> timedelta:
    """The widest reminder window: a deadline inside it is highlighted as coming up."""
    return timedelta(days=max(reminder_days, default=14))


@dataclass(frozen=True, slots=True)
class CaseRow:
    id: str
    title: str
    product: str
    state: str
    findings: int
    created_at: datetime
    notified_at: datetime | None
    deadline: datetime | None
    deadline_state: DeadlineState
    days_left: int | None  # whole days to the deadline; negative once overdue
    exploited: bool


@dataclass(frozen=True, slots=True)
class FindingRow:
    id: str
    title: str
    purl: str
    versions: str
    location: str
    cwe: str
    score: float
    severity: str
    vector: str
    reporting_org: str
    duplicate_of: str | None
    poc: str | None  # "name (N bytes)"; the PoC itself stays sealed
    created_at: datetime


@dataclass(frozen=True, slots=True)
class StatusRow:
    participant: str
    finding: str
    status: str
    fixed_version: str | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ParticipantRow:
    id: str
    role: str
    name: str
    contact: str


@dataclass(frozen=True, slots=True)
class TimelineRow:
    seq: int
    at: datetime
    kind: str
    actor: str
    transition: str | None  # "triage -> notified" for events that moved the state
    details: list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class CaseDetail:
    case: CaseRow
    fixed_version: str | None
    fix_released_at: datetime | None
    grace_used: bool
    published_at: datetime | None
    findings: list[FindingRow]
    participants: list[ParticipantRow]
    statuses: list[StatusRow]
    timeline: list[TimelineRow]
    close_states: list[str]


def _days_left(deadline: datetime | None, now: datetime) -> int | None:
    if deadline is None:
        return None
    return (deadline - now) // timedelta(days=1)  # floor: an hour overdue is day -1


def case_row(case: Case, now: datetime, soon: timedelta, findings: int) -> CaseRow:
    return CaseRow(
        id=case.id,
        title=case.title,
        product=case.product,
        state=case.state.value,
        findings=findings,
        created_at=case.created_at,
        notified_at=case.notified_at,
        deadline=case.deadline,
        deadline_state=deadline_state(case, now, soon),
        days_left=_days_left(case.deadline, now),
        exploited=case.exploited,
    )


def parse_state(raw: str | None) -> CaseState | None:
    if not raw:
        return None
    try:
        return CaseState(raw)
    except ValueError:
        raise DisclosureInputError(
            f"unknown case state {raw[:40]!r}",
            hint=f"one of {', '.join(s.value for s in CaseState)}",
        ) from None


def cases(
    service: DisclosureService,
    actor: Operator,
    *,
    now: datetime,
    soon: timedelta,
    state: CaseState | None = None,
) -> list[CaseRow]:
    """Every case (or those in ``state``), open ones with the nearest deadline first."""
    found = service.list_cases(actor, state=state)
    counts: dict[str, int] = {}
    for f in service.list_findings(actor):
        counts[f.case_id] = counts.get(f.case_id, 0) + 1
    rows = [case_row(c, now, soon, counts.get(c.id, 0)) for c in found]
    order = {
        DeadlineState.OVERDUE: 0,
        DeadlineState.SOON: 1,
        DeadlineState.RUNNING: 2,
        DeadlineState.NONE: 3,
        DeadlineState.CLOSED: 4,
    }
    far = datetime.max.replace(tzinfo=now.tzinfo)
    rows.sort(key=lambda r: (order[r.deadline_state], r.deadline or far, r.id))
    return rows


def _finding(f: Finding) -> FindingRow:
    return FindingRow(
        id=f.id,
        title=f.title,
        purl=f.purl,
        versions=", ".join(f.versions),
        location=f.location,
        cwe=f"CWE-{f.cwe}",
        score=f.cvss.score,
        severity=f.cvss.severity,
        vector=f.cvss.vector,
        reporting_org=f.reporting_org,
        duplicate_of=f.duplicate_of,
        poc=f"{f.poc_name or 'poc'} ({f.poc_size} bytes)" if f.poc is not None else None,
        created_at=f.created_at,
    )


def _text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def _timeline_row(stored: StoredEvent) -> TimelineRow:
    e = stored.event
    data = dict(e.data)
    transition = None
    moved = data.get("old") != data.get("new")
    if e.kind == "case.opened":
        transition = f"-> {data.get('state', CaseState.TRIAGE.value)}"
    elif e.kind in ("case.state_changed", "case.acknowledged") and moved:
        transition = f"{data.get('old')} -> {data.get('new')}"
    elif e.kind == "case.deadline_changed" and data.get("old") is None:
        # The first notification starts the deadline and moves the case to notified in
        # the same transaction (DisclosureService.notify); no state_changed event is made.
        transition = f"-> {CaseState.NOTIFIED.value}"
    elif e.kind == "case.published":
        transition = f"{data.get('old')} -> {CaseState.DISCLOSED.value}"
    # A sealed note stays sealed for roles that may not read it (the service opens it for
    # admins and records that read); its ciphertext means nothing on a page.
    shown = [(k, _text(v)) for k, v in sorted(data.items()) if k != "note_sealed"]
    if "note_sealed" in data:
        shown.append(("note", "(sealed: maintainers' text, readable by admins)"))
    return TimelineRow(
        seq=stored.seq, at=e.at, kind=e.kind, actor=e.actor, transition=transition, details=shown
    )


def case_detail(
    service: DisclosureService, actor: Operator, case_id: str, *, now: datetime, soon: timedelta
) -> CaseDetail:
    overview = service.overview(actor, case_id)
    timeline = service.timeline(actor, case_id)
    names = {p.id: p.name for p in overview.participants}
    c = overview.case
    return CaseDetail(
        case=case_row(c, now, soon, len(overview.findings)),
        fixed_version=c.fixed_version,
        fix_released_at=c.fix_released_at,
        grace_used=c.grace_used,
        published_at=c.published_at,
        findings=[_finding(f) for f in overview.findings],
        participants=[
            ParticipantRow(
                id=p.id,
                role=p.role.value,
                name=p.name,
                contact=", ".join(x for x in (p.email, p.webhook_url) if x),
            )
            for p in overview.participants
        ],
        statuses=[
            StatusRow(
                participant=names.get(s.participant_id, s.participant_id),
                finding=s.finding_id,
                status=s.status.value,
                fixed_version=s.fixed_version,
                updated_at=s.updated_at,
            )
            for s in overview.statuses
        ],
        timeline=[_timeline_row(e) for e in timeline],
        close_states=sorted(s.value for s in SIDE_EXITS),
    )


# -- actions -------------------------------------------------------------------------------


def _reason(form: Mapping[str, str]) -> str:
    reason = form.get("reason", "").strip()
    if not reason:
        raise DisclosureInputError(
            "a reason is required", hint="it is recorded in clear: write it as a public statement"
        )
    if len(reason) > _MAX_REASON:
        raise DisclosureInputError(f"the reason is longer than {_MAX_REASON} characters")
    return reason


def grant_grace(
    service: DisclosureService, actor: Operator, case_id: str, form: Mapping[str, str]
) -> Case:
    """The policy's one grace period (admin; the service checks it is allowed)."""
    return service.extend(actor, case_id, reason=_reason(form), grace=True)


def close_case(
    service: DisclosureService, actor: Operator, case_id: str, form: Mapping[str, str]
) -> Case:
    """Close as duplicate, invalid or withdrawn (admin)."""
    state = parse_state(form.get("state", "").strip())
    if state is None or state not in SIDE_EXITS:
        raise DisclosureInputError(
            "choose how to close the case",
            hint=f"one of {', '.join(sorted(s.value for s in SIDE_EXITS))}",
        )
    return service.close(actor, case_id, state, reason=_reason(form))


__all__ = [
    "CaseDetail",
    "CaseRow",
    "DeadlineState",
    "FindingRow",
    "ParticipantRow",
    "StatusRow",
    "TimelineRow",
    "case_detail",
    "case_row",
    "cases",
    "close_case",
    "deadline_state",
    "grant_grace",
    "parse_state",
    "soon_window",
]
