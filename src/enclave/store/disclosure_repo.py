"""SQL implementation of the disclosure domain's DisclosureStore."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from enclave.clock import Clock, utcnow
from enclave.config import Settings
from enclave.disclosure import Delivery, DisclosureService, Notifier, Sealer, Validators, load_key
from enclave.disclosure.interface import (
    Case,
    CaseId,
    CaseState,
    Cvss,
    Finding,
    FindingId,
    Link,
    LinkId,
    Participant,
    ParticipantId,
    ParticipantRole,
    StatusEntry,
    VendorStatus,
)
from enclave.store.database import Database
from enclave.store.engine import read_connection, write_connection
from enclave.store.events_repo import SqlEvents
from enclave.store.tables import (
    disclosure_cases,
    disclosure_findings,
    disclosure_links,
    disclosure_participants,
    disclosure_statuses,
)

C = disclosure_cases.c
F = disclosure_findings.c
P = disclosure_participants.c
S = disclosure_statuses.c
L = disclosure_links.c

_CASE_FIELDS = (
    "title",
    "product",
    "created_at",
    "updated_at",
    "exploited",
    "notified_at",
    "fix_released_at",
    "fixed_version",
    "deadline",
    "grace_used",
    "published_at",
    "reminded_days",
    "osv",
    "csaf",
)


def _case(row: Any) -> Case:
    values = {name: getattr(row, name) for name in _CASE_FIELDS}
    return Case(id=CaseId(row.id), state=CaseState(row.state), **values)


def _case_values(case: Case) -> dict[str, Any]:
    values = {name: getattr(case, name) for name in _CASE_FIELDS}
    return {"id": case.id, "state": case.state.value, **values}


def _finding(row: Any) -> Finding:
    return Finding(
        id=FindingId(row.id),
        case_id=CaseId(row.case_id),
        title=row.title,
        purl=row.purl,
        versions=tuple(row.versions),
        location=row.location,
        cwe=row.cwe,
        cvss=Cvss(
            vector=row.cvss_vector,
            score=float(row.cvss_score),
            severity=row.cvss_severity,
            computed_by=row.cvss_computed_by,
        ),
        fingerprint=row.fingerprint,
        reporting_org=row.reporting_org,
        session_id=row.session_id,
        description=bytes(row.description),
        poc=bytes(row.poc) if row.poc is not None else None,
        poc_name=row.poc_name,
        poc_size=row.poc_size,
        created_at=row.created_at,
        duplicate_of=FindingId(row.duplicate_of) if row.duplicate_of else None,
    )


def _finding_values(f: Finding) -> dict[str, Any]:
    return {
        "id": f.id,
        "case_id": f.case_id,
        "title": f.title,
        "purl": f.purl,
        "versions": list(f.versions),
        "location": f.location,
        "cwe": f.cwe,
        "cvss_vector": f.cvss.vector,
        "cvss_score": f"{f.cvss.score:.1f}",
        "cvss_severity": f.cvss.severity,
        "cvss_computed_by": f.cvss.computed_by,
        "fingerprint": f.fingerprint,
        "reporting_org": f.reporting_org,
        "session_id": f.session_id,
        "description": f.description,
        "poc": f.poc,
        "poc_name": f.poc_name,
        "poc_size": f.poc_size,
        "created_at": f.created_at,
        "duplicate_of": f.duplicate_of,
    }


def _participant(row: Any) -> Participant:
    return Participant(
        id=ParticipantId(row.id),
        case_id=CaseId(row.case_id),
        role=ParticipantRole(row.role),
        name=row.name,
        email=row.email,
        webhook_url=row.webhook_url,
        webhook_secret=bytes(row.webhook_secret) if row.webhook_secret is not None else None,
        created_at=row.created_at,
    )


def _link(row: Any) -> Link:
    return Link(
        id=LinkId(row.id),
        token_hash=row.token_hash,
        case_id=CaseId(row.case_id),
        participant_id=ParticipantId(row.participant_id),
        created_at=row.created_at,
        expires_at=row.expires_at,
        used_at=row.used_at,
    )


class SqlDisclosureUnit(SqlEvents):
    def __init__(self, conn: Connection) -> None:
        super().__init__(conn)
        self._c = conn

    # -- findings -------------------------------------------------------------------

    def insert_finding(self, finding: Finding) -> None:
        self._c.execute(insert(disclosure_findings).values(**_finding_values(finding)))

    def get_finding(self, finding_id: FindingId) -> Finding | None:
        row = self._c.execute(select(disclosure_findings).where(F.id == finding_id)).first()
        return _finding(row) if row else None

    def find_by_fingerprint(self, fingerprint: str) -> Finding | None:
        query = (
            select(disclosure_findings)
            .where(F.fingerprint == fingerprint, F.duplicate_of.is_(None))
            .order_by(F.created_at, F.id)
            .limit(1)
        )
        row = self._c.execute(query).first()
        return _finding(row) if row else None

    def list_findings(self, *, case_id: CaseId | None = None) -> list[Finding]:
        query = select(disclosure_findings).order_by(F.created_at, F.id).limit(10_000)
        if case_id is not None:
            query = query.where(F.case_id == case_id)
        return [_finding(r) for r in self._c.execute(query)]

    # -- cases ----------------------------------------------------------------------

    def insert_case(self, case: Case) -> None:
        self._c.execute(insert(disclosure_cases).values(**_case_values(case)))

    def update_case(self, case: Case) -> None:
        values = _case_values(case)
        del values["id"]
        self._c.execute(update(disclosure_cases).where(C.id == case.id).values(**values))

    def get_case(self, case_id: CaseId) -> Case | None:
        row = self._c.execute(select(disclosure_cases).where(C.id == case_id)).first()
        return _case(row) if row else None

    def list_cases(self, *, state: CaseState | None = None) -> list[Case]:
        query = select(disclosure_cases).order_by(C.created_at, C.id).limit(10_000)
        if state is not None:
            query = query.where(C.state == state.value)
        return [_case(r) for r in self._c.execute(query)]

    # -- participants and statuses --------------------------------------------------

    def insert_participant(self, participant: Participant) -> None:
        p = participant
        self._c.execute(
            insert(disclosure_participants).values(
                id=p.id,
                case_id=p.case_id,
                role=p.role.value,
                name=p.name,
                email=p.email,
                webhook_url=p.webhook_url,
                webhook_secret=p.webhook_secret,
                created_at=p.created_at,
            )
        )

    def list_participants(self, case_id: CaseId) -> list[Participant]:
        query = (
            select(disclosure_participants).where(P.case_id == case_id).order_by(P.created_at, P.id)
        )
        return [_participant(r) for r in self._c.execute(query)]

    def upsert_status(self, entry: StatusEntry) -> None:
        key = (
            (S.case_id == entry.case_id)
            & (S.participant_id == entry.participant_id)
            & (S.finding_id == entry.finding_id)
        )
        values = {
            "status": entry.status.value,
            "fixed_version": entry.fixed_version,
            "updated_at": entry.updated_at,
        }
        # Callers hold the write lock (one unit per change), so read-then-write is safe on
        # both backends without a dialect-specific ON CONFLICT.
        if self._c.execute(select(S.status).where(key)).first() is None:
            self._c.execute(
                insert(disclosure_statuses).values(
                    case_id=entry.case_id,
                    participant_id=entry.participant_id,
                    finding_id=entry.finding_id,
                    **values,
                )
            )
        else:
            self._c.execute(update(disclosure_statuses).where(key).values(**values))

    def list_statuses(self, case_id: CaseId) -> list[StatusEntry]:
        query = (
            select(disclosure_statuses)
            .where(S.case_id == case_id)
            .order_by(S.participant_id, S.finding_id)
        )
        return [
            StatusEntry(
                case_id=CaseId(r.case_id),
                participant_id=ParticipantId(r.participant_id),
                finding_id=FindingId(r.finding_id),
                status=VendorStatus(r.status),
                fixed_version=r.fixed_version,
                updated_at=r.updated_at,
            )
            for r in self._c.execute(query)
        ]

    # -- links ----------------------------------------------------------------------

    def insert_links(self, links: Sequence[Link]) -> None:
        if links:
            self._c.execute(
                insert(disclosure_links),
                [
                    {
                        "id": k.id,
                        "token_hash": k.token_hash,
                        "case_id": k.case_id,
                        "participant_id": k.participant_id,
                        "created_at": k.created_at,
                        "expires_at": k.expires_at,
                        "used_at": k.used_at,
                    }
                    for k in links
                ],
            )

    def get_link(self, token_hash: str) -> Link | None:
        row = self._c.execute(select(disclosure_links).where(L.token_hash == token_hash)).first()
        return _link(row) if row else None

    def consume_link(self, link_id: LinkId, at: datetime) -> bool:
        # Conditional update: of two concurrent uses exactly one sees rowcount 1.
        result = self._c.execute(
            update(disclosure_links).where(L.id == link_id, L.used_at.is_(None)).values(used_at=at)
        )
        return result.rowcount == 1


class SqlDisclosureStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @contextmanager
    def unit(self) -> Iterator[SqlDisclosureUnit]:
        with write_connection(self._engine) as conn:
            yield SqlDisclosureUnit(conn)

    @contextmanager
    def reader(self) -> Iterator[SqlDisclosureUnit]:
        with read_connection(self._engine) as conn:
            yield SqlDisclosureUnit(conn)


def build_disclosure(
    settings: Settings,
    db: Database,
    *,
    notifier: Notifier | None = None,
    validators: Validators | None = None,
    clock: Clock = utcnow,
) -> DisclosureService:
    """Compose the disclosure service: data key (setting or state_dir file), SMTP and
    webhook delivery, schemas loaded on first publication."""
    config = settings.disclosure
    secret = config.data_key.get_secret_value() if config.data_key else None
    sealer = Sealer(load_key(settings.disclosure_key_path, secret))
    return DisclosureService(
        store=SqlDisclosureStore(db.engine),
        sealer=sealer,
        config=config,
        notifier=notifier or Delivery(config, clock=clock),
        validators=validators,
        clock=clock,
    )


__all__ = ["SqlDisclosureStore", "SqlDisclosureUnit", "build_disclosure"]
