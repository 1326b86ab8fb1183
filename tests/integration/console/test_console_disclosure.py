"""The console's disclosure pages over real HTTP: cases seeded through the disclosure
service show their deadline state (overdue, due soon, not notified); a case page shows
findings, maintainers' statuses and the timeline but never embargoed text; granting the
grace period and closing a case go through the service (admin only, CSRF and
confirmation required); bad input is a 400 page and changes nothing."""

from __future__ import annotations

import asyncio
import html
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import pytest
from console_support import SignIn, error_message

from enclave.config import Settings
from enclave.disclosure import (
    DeliveryFailed,
    DisclosureService,
    FindingInput,
    Notice,
    ensure_key_file,
)
from enclave.registry import Operator
from enclave.store import Database
from enclave.store.disclosure_repo import build_disclosure

VECTOR = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"
SECRET_TEXT = "A crafted frame overflows the heap buffer in parse_frame()."


class Outbox:
    """Records notices instead of sending mail (implements disclosure's Notifier)."""

    def __init__(self) -> None:
        self.sent: list[Notice] = []

    async def deliver(self, notice: Notice) -> list[str]:
        if notice.email is None:
            raise DeliveryFailed("no address")
        self.sent.append(notice)
        return ["email"]


def _finding(package: str, title: str) -> FindingInput:
    return FindingInput(
        title=title,
        purl=f"pkg:pypi/{package}",
        versions=["1.0.0"],
        location="src/frames.c:120",
        cwe="CWE-787",
        cvss_vector=VECTOR,
        description=SECRET_TEXT,
        reporting_org="Acme Defenders",
        poc=b"\x00\x01crash-bytes",
        poc_name="crash.bin",
    )


@pytest.fixture
def service(db: Database, settings: Settings, clock: object) -> DisclosureService:
    """The service the tests seed through: same database and data key as the console's."""
    ensure_key_file(settings.disclosure_key_path)
    return build_disclosure(settings, db, notifier=Outbox(), clock=clock)  # type: ignore[arg-type]


@pytest.fixture
def cases(
    service: DisclosureService, operators: dict[str, Operator], clock: object
) -> dict[str, str]:
    """overdue: notified on day 0 (deadline day 90); soon: notified on day 14 (deadline
    day 104); triage: never notified. The clock then stands at day 91."""
    root = operators["root"]
    ids = {}
    for name in ("overdue", "soon", "triage"):
        ids[name] = service.submit(root, _finding(f"lib-{name}", f"Overflow in {name}")).case.id
        if name != "triage":
            service.add_vendor(root, ids[name], name=f"{name} maintainers", email="sec@example.org")
    asyncio.run(service.notify(root, ids["overdue"]))
    clock.advance(days=14)  # type: ignore[attr-defined]
    asyncio.run(service.notify(root, ids["soon"]))
    clock.advance(days=77)  # type: ignore[attr-defined]
    return ids


Unchanged = Callable[[str], AbstractContextManager[None]]


@pytest.fixture
def unchanged(service: DisclosureService, operators: dict[str, Operator]) -> Unchanged:
    """``with unchanged(case_id):`` asserts that the block changed neither the case nor its
    timeline."""
    root = operators["root"]

    def state(case_id: str) -> tuple[object, ...]:
        return service.overview(root, case_id), len(service.timeline(root, case_id))

    @contextmanager
    def check(case_id: str) -> Iterator[None]:
        before = state(case_id)
        yield
        assert state(case_id) == before

    return check


def test_cases_list_shows_deadline_states(signed: SignIn, cases: dict[str, str]) -> None:
    for who in ("root", "auditor"):
        page = signed(who).get("/disclosure").text
        rows = {name: page.index(case_id) for name, case_id in cases.items()}
        # The most urgent first: overdue, then due soon, then those without a deadline.
        assert rows["overdue"] < rows["soon"] < rows["triage"]
        assert "1 overdue" in page and "1 due soon" in page and "1 not notified" in page
        overdue_row = page[rows["overdue"] : rows["soon"]]
        assert "deadline-overdue" in overdue_row and "overdue by 1 day" in overdue_row
        soon_row = page[rows["soon"] : rows["triage"]]
        assert "deadline-soon" in soon_row and "13 days left" in soon_row
        assert "not notified" in page[rows["triage"] :]
    root = signed("root")
    triage = root.get("/disclosure?state=triage").text
    assert cases["triage"] in triage and cases["overdue"] not in triage
    assert root.get("/disclosure?sort=opened&dir=desc").status_code == 200
    bad = root.get("/disclosure?state=bogus", status=400)
    assert "unknown case state" in html.unescape(error_message(bad))


def test_case_page_shows_findings_statuses_and_timeline(
    signed: SignIn,
    cases: dict[str, str],
    service: DisclosureService,
    operators: dict[str, Operator],
) -> None:
    case_id = cases["overdue"]
    finding = service.list_findings(operators["root"], case_id=case_id)[0]
    for who in ("root", "auditor"):
        page = html.unescape(signed(who).get(f"/disclosure/{case_id}").text)
        assert "Overflow in overdue" in page and finding.id in page
        assert "CWE-787" in page and "pkg:pypi/lib-overdue" in page
        assert "overdue maintainers" in page and "unknown" in page  # the maintainer's status
        for kind in ("case.opened", "case.participant_added", "case.notified"):
            assert kind in page
        assert "-> triage" in page and "-> notified" in page  # the state history
        # Embargoed: neither the description nor the PoC's bytes reach the page.
        assert SECRET_TEXT not in page and "crash-bytes" not in page
    assert signed("root").get("/disclosure/case_nope", status=404)


def test_admin_grants_grace_and_closes_a_case(
    signed: SignIn,
    cases: dict[str, str],
    service: DisclosureService,
    operators: dict[str, Operator],
) -> None:
    root = signed("root")
    admin = operators["root"]
    before = service.overview(admin, cases["soon"]).case.deadline
    assert before is not None
    page = root.done(
        root.post(f"/disclosure/{cases['soon']}/grace", {"reason": "fix scheduled"}, confirm=True)
    )
    assert "Grace period granted" in page.text
    after = service.overview(admin, cases["soon"]).case
    assert after.grace_used and after.deadline is not None
    assert (after.deadline - before).days == 14
    changed = [
        e for e in service.timeline(admin, cases["soon"]) if e.event.kind == "case.deadline_changed"
    ]
    assert changed[-1].event.actor == f"operator:{admin.id}"
    assert changed[-1].event.data["reason"] == "fix scheduled"

    closed = root.done(
        root.post(
            f"/disclosure/{cases['triage']}/close",
            {"state": "invalid", "reason": "not reproducible"},
            confirm=True,
        )
    )
    assert "Case closed." in closed.text
    assert "triage -> invalid" in html.unescape(closed.text)  # the state history
    assert service.overview(admin, cases["triage"]).case.state.value == "invalid"
    # A closed case offers no more actions.
    assert "Close the case" not in closed.text


def test_auditor_cannot_coordinate(
    signed: SignIn,
    cases: dict[str, str],
    unchanged: Unchanged,
) -> None:
    with unchanged(cases["soon"]):
        auditor = signed("auditor")
        assert "Grant the grace period" not in auditor.get(f"/disclosure/{cases['soon']}").text
        grace = auditor.post(f"/disclosure/{cases['soon']}/grace", {"reason": "r"}, confirm=True)
        assert grace.status_code == 403, grace.text
        close = auditor.post(
            f"/disclosure/{cases['soon']}/close", {"state": "invalid", "reason": "r"}, confirm=True
        )
        assert close.status_code == 403, close.text


@pytest.mark.parametrize(
    ("action", "form", "confirm", "status", "words"),
    [
        ("grace", {"reason": ""}, True, 400, "a reason is required"),
        ("grace", {"reason": "r"}, False, 400, "confirmation"),
        ("close", {"state": "disclosed", "reason": "r"}, True, 400, "choose how to close"),
        ("close", {"state": "bogus", "reason": "r"}, True, 400, "unknown case state"),
        ("close", {"state": "invalid", "reason": "x" * 2001}, True, 400, "longer than"),
    ],
)
def test_bad_input_is_a_400_page_and_changes_nothing(
    signed: SignIn,
    cases: dict[str, str],
    unchanged: Unchanged,
    action: str,
    form: dict[str, str],
    confirm: bool,
    status: int,
    words: str,
) -> None:
    with unchanged(cases["soon"]):
        response = signed("root").post(
            f"/disclosure/{cases['soon']}/{action}", form, confirm=confirm
        )
        assert response.status_code == status, response.text
        assert words in html.unescape(error_message(response))


def test_refusals_of_the_service_change_nothing(
    signed: SignIn,
    cases: dict[str, str],
    unchanged: Unchanged,
) -> None:
    root = signed("root")
    # No CSRF token: refused before the service is asked.
    with unchanged(cases["soon"]):
        no_csrf = root.post(
            f"/disclosure/{cases['soon']}/grace", {"reason": "r"}, confirm=True, csrf=""
        )
        assert no_csrf.status_code == 403
    # Past its deadline a case gets no grace period; a case without one cannot get one.
    for name in ("overdue", "triage"):
        with unchanged(cases[name]):
            response = root.post(f"/disclosure/{cases[name]}/grace", {"reason": "r"}, confirm=True)
            assert response.status_code in (400, 409), response.text
    missing = root.post("/disclosure/case_nope/grace", {"reason": "r"}, confirm=True)
    assert missing.status_code == 404
