"""The disclosure service over a real store (SQLite and PostgreSQL via `db`)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from disclosure_helpers import Outbox, finding
from sqlalchemy import func, select

from enclave.disclosure import (
    CaseConflict,
    CaseState,
    DeliveryFailed,
    DisclosureInputError,
    DisclosureService,
    LinkRefused,
    UnknownCase,
    Validators,
    VendorStatus,
)
from enclave.errors import PermissionDenied
from enclave.registry import Operator, RegistryService
from enclave.store import Database
from enclave.store.tables import disclosure_cases, disclosure_findings, events


def _counts(db: Database) -> tuple[int, int, int]:
    with db.engine.connect() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (disclosure_cases, disclosure_findings, events)
        )


def _notified(
    service: DisclosureService, admin: Operator, outbox: Outbox, **overrides: object
) -> tuple[str, str]:
    case = service.submit(admin, finding(**overrides)).case
    service.add_vendor(admin, case.id, name="examplelib maintainers", email="sec@example.org")
    links = asyncio.run(service.notify(admin, case.id))
    return case.id, links[0].token


def test_submit_opens_a_case_and_duplicates_join_it(
    service: DisclosureService, admin: Operator, db: Database
) -> None:
    first = service.submit(admin, finding())
    again = service.submit(
        admin, finding(location="./SRC/examplelib/frames.c:120", reporting_org="Other Org")
    )
    assert first.case.state is CaseState.TRIAGE and first.duplicate_of is None
    assert again.case.id == first.case.id and again.duplicate_of == first.finding.id
    assert _counts(db)[:2] == (1, 2)
    other = service.submit(admin, finding(cwe="CWE-125"))
    assert other.case.id != first.case.id
    kinds = [e.event.kind for e in service.timeline(admin, first.case.id)]
    assert kinds == ["case.opened", "finding.submitted", "finding.duplicate"]
    assert first.finding.cvss.score == 9.3 and first.finding.cvss.computed_by.startswith("cvss")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"cvss_vector": "CVSS:4.0/AV:Q"}, "invalid CVSS vector"),
        ({"purl": "pkg:nosuchtype/x"}, "unknown purl type"),
        ({"poc": b"x" * 1001}, "proof of concept is 1001 bytes"),
        ({"versions": []}, "at least one affected version"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(
    service: DisclosureService,
    admin: Operator,
    db: Database,
    overrides: dict[str, object],
    message: str,
) -> None:
    before = _counts(db)
    with pytest.raises(DisclosureInputError, match=message):
        service.submit(admin, finding(**overrides))
    assert _counts(db) == before


def test_details_are_encrypted_at_rest_and_reads_recorded(
    service: DisclosureService, admin: Operator, registry: RegistryService, db: Database
) -> None:
    case = service.submit(admin, finding()).case
    with db.engine.connect() as conn:
        raw = conn.execute(
            select(disclosure_findings.c.description, disclosure_findings.c.poc)
        ).one()
    assert b"crafted frame" not in bytes(raw.description) and b"crash" not in bytes(raw.poc)
    auditor = registry.create_operator(admin, name="aud", roles=["auditor"]).operator
    service.overview(auditor, case.id)  # metadata is fine
    with pytest.raises(PermissionDenied):
        service.details(auditor, case.id)
    details = service.details(admin, case.id)
    assert list(details.descriptions.values()) == [finding().description]
    assert list(details.pocs.values()) == [b"\x00\x01crash"]
    reads = [e for e in service.timeline(admin, case.id) if e.event.kind == "case.details_read"]
    assert [r.event.actor for r in reads] == [f"operator:{admin.id}"]


def test_links_are_per_case_single_use_and_expire(
    service: DisclosureService, admin: Operator, outbox: Outbox, clock: object
) -> None:
    case_a, token_a = _notified(service, admin, outbox)
    case_b, token_b = _notified(service, admin, outbox, cwe="CWE-125")
    assert case_a != case_b
    assert token_a in outbox.sent[0].text and "crafted" not in outbox.sent[0].text
    view = service.link_view(case_a, token_a)
    assert view["findings"][0]["description"] == finding().description
    with pytest.raises(LinkRefused):  # a participant of A cannot read B
        service.link_view(case_b, token_a)
    nxt = service.link_act(case_a, token_a, "acknowledge")
    assert service.overview(admin, case_a).case.state is CaseState.ACKNOWLEDGED
    with pytest.raises(LinkRefused, match="already been used"):
        service.link_act(case_a, token_a, "acknowledge")
    with pytest.raises(LinkRefused, match="already been used"):
        service.link_view(case_a, token_a)
    service.link_view(case_a, nxt.token)
    clock.advance(days=31)  # type: ignore[attr-defined]
    with pytest.raises(LinkRefused, match="expired"):
        service.link_view(case_b, token_b)
    kinds = [e.event.kind for e in service.timeline(admin, case_a)]
    assert kinds.count("case.details_read") == 2 and "case.link_used" in kinds


def test_fix_moves_the_deadline_and_publication_validates(
    service: DisclosureService,
    admin: Operator,
    outbox: Outbox,
    clock: object,
    validators: Validators,
) -> None:
    case_id, token = _notified(service, admin, outbox)
    notified = service.overview(admin, case_id).case
    assert notified.deadline == notified.notified_at + timedelta(days=90)  # type: ignore[operator]
    clock.advance(days=10)  # type: ignore[attr-defined]
    service.link_act(case_id, token, "fixed", version="1.2.0")
    fixed = service.overview(admin, case_id).case
    assert fixed.state is CaseState.FIX_AVAILABLE
    assert fixed.deadline == fixed.fix_released_at + timedelta(days=30)  # type: ignore[operator]
    with pytest.raises(CaseConflict, match="embargoed"):
        service.publish(admin, case_id)
    page = service.public_page(case_id)
    assert set(page) == {"id", "maintainers", "product", "reported", "deadline", "state"}
    clock.advance(days=30)  # type: ignore[attr-defined]
    done = service.publish(admin, case_id)
    assert done.state is CaseState.DISCLOSED
    osv = service.export(admin, case_id, "osv")
    csaf = service.export(admin, case_id, "csaf")
    assert validators.osv_errors(osv) == [] and validators.csaf_errors(csaf) == []
    assert osv["affected"][0]["ranges"][0]["events"][1] == {"fixed": "1.2.0"}
    assert osv["severity"] == [{"type": "CVSS_V4", "score": finding().cvss_vector}]
    assert "scores" not in csaf["vulnerabilities"][0]
    assert service.public_page(case_id)["osv"] == osv


def test_deadline_changes_recorded_with_reason(
    service: DisclosureService, admin: Operator, outbox: Outbox, clock: object
) -> None:
    case_id, _ = _notified(service, admin, outbox)
    before = service.overview(admin, case_id).case
    with pytest.raises(DisclosureInputError, match="in the past"):
        service.extend(admin, case_id, reason="typo", until=datetime(2020, 1, 1, tzinfo=UTC))
    assert service.overview(admin, case_id).case == before
    graced = service.extend(admin, case_id, reason="fix lands next week", grace=True)
    assert graced.deadline == before.deadline + timedelta(days=14)  # type: ignore[operator]
    with pytest.raises(DisclosureInputError, match="already"):
        service.extend(admin, case_id, reason="again", grace=True)
    itw = service.extend(admin, case_id, reason="exploited in the wild", exploited=True)
    assert itw.deadline == before.notified_at + timedelta(days=7)  # type: ignore[operator]
    changes = [
        e.event.data
        for e in service.timeline(admin, case_id)
        if e.event.kind == "case.deadline_changed"
    ]
    assert [c["reason"] for c in changes] == [
        "maintainers notified",
        "fix lands next week",
        "exploited in the wild",
    ]


def test_reminders_raised_once_per_window(
    service: DisclosureService, admin: Operator, outbox: Outbox, clock: object
) -> None:
    case_id, _ = _notified(service, admin, outbox)
    assert service.remind() == []
    clock.advance(days=77)  # type: ignore[attr-defined]
    assert [r.days for r in service.remind()] == [14]
    assert service.remind() == []
    clock.advance(days=12)  # type: ignore[attr-defined]
    assert [(r.case_id, r.days) for r in service.remind()] == [(case_id, 1)]


def test_close_and_state_rules(service: DisclosureService, admin: Operator) -> None:
    case = service.submit(admin, finding()).case
    with pytest.raises(CaseConflict, match="no maintainer"):
        asyncio.run(service.notify(admin, case.id))
    service.close(admin, case.id, CaseState.INVALID, reason="not reproducible")
    with pytest.raises(CaseConflict, match="invalid"):
        service.add_vendor(admin, case.id, name="x", email="a@b.c")
    with pytest.raises(CaseConflict):
        service.close(admin, case.id, CaseState.NOTIFIED, reason="no")
    assert service.overview(admin, case.id).statuses == []
    with pytest.raises(UnknownCase):  # closed as invalid: no public page
        service.public_page(case.id)


def test_maintainer_statuses_per_finding(service: DisclosureService, admin: Operator) -> None:
    first = service.submit(admin, finding())
    case = first.case
    vendor = service.add_vendor(admin, case.id, name="m", email="m@example.org")
    dup = service.submit(admin, finding(reporting_org="Second"))
    statuses = service.overview(admin, case.id).statuses
    assert {(s.finding_id, s.status) for s in statuses} == {
        (case_finding, VendorStatus.UNKNOWN) for case_finding in (first.finding.id, dup.finding.id)
    }
    service.set_status(
        admin, case.id, vendor.id, VendorStatus.NOT_AFFECTED, finding_id=dup.finding.id
    )
    after = {s.finding_id: s.status for s in service.overview(admin, case.id).statuses}
    assert after[dup.finding.id] is VendorStatus.NOT_AFFECTED


def test_cases_past_their_deadline_are_due_and_publish_without_a_fix(
    service: DisclosureService, admin: Operator, outbox: Outbox, clock: object
) -> None:
    case_id, _ = _notified(service, admin, outbox)
    assert service.due(admin) == []
    clock.advance(days=90)  # type: ignore[attr-defined]
    assert [c.id for c in service.due(admin)] == [case_id]
    published = service.publish(admin, case_id)
    assert published.state is CaseState.DISCLOSED and service.due(admin) == []
    assert "ranges" not in service.export(admin, case_id, "osv")["affected"][0]  # no fix


def test_failed_delivery_records_nothing(
    service: DisclosureService, admin: Operator, outbox: Outbox, db: Database
) -> None:
    case = service.submit(admin, finding()).case
    service.add_vendor(admin, case.id, name="m", email="m@example.org")
    before = (_counts(db), service.overview(admin, case.id))
    outbox.fail = True
    with pytest.raises(DeliveryFailed):
        asyncio.run(service.notify(admin, case.id))
    assert (_counts(db), service.overview(admin, case.id)) == before
    outbox.fail = False
    asyncio.run(service.notify(admin, case.id))
    assert service.overview(admin, case.id).case.state is CaseState.NOTIFIED


def test_events_carry_no_embargoed_detail_and_maintainer_notes_are_sealed(
    service: DisclosureService,
    admin: Operator,
    outbox: Outbox,
    registry: RegistryService,
    db: Database,
) -> None:
    case_id, token = _notified(service, admin, outbox)
    service.link_act(case_id, token, "dispute", reason="the overflow needs CAP_NET_ADMIN")
    with db.engine.connect() as conn:
        rows = [r.data for r in conn.execute(select(events.c.data))]
    text = "\n".join(rows)
    for secret in ("CAP_NET_ADMIN", "CWE", "CVSS", "frames.c", "Heap overflow", "crafted"):
        assert secret not in text, secret
    auditor = registry.create_operator(admin, name="aud", roles=["auditor"]).operator
    seen = [e.event.data for e in service.timeline(auditor, case_id)]
    assert any("note_sealed" in d for d in seen) and not any("note" in d for d in seen)
    opened = [e.event.data for e in service.timeline(admin, case_id)]
    assert {"note": "the overflow needs CAP_NET_ADMIN"}.items() <= next(
        d for d in opened if "note" in d
    ).items()
    reads = [e for e in service.timeline(auditor, case_id) if e.event.kind == "case.details_read"]
    assert reads[-1].event.actor == f"operator:{admin.id}"


def test_links_of_a_withdrawn_case_show_nothing(
    service: DisclosureService, admin: Operator, outbox: Outbox
) -> None:
    case_id, token = _notified(service, admin, outbox)
    service.close(admin, case_id, CaseState.WITHDRAWN, reason="reporter withdrew")
    with pytest.raises(LinkRefused, match="closed"):
        service.link_view(case_id, token)
    with pytest.raises(CaseConflict, match="withdrawn"):
        service.link_act(case_id, token, "acknowledge")
