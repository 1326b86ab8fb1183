"""The console's credits pages over real HTTP: balances, pools and grants seeded through
the ledger's own service appear on the pages; funding and granting go through the same
service (admin only, CSRF and confirmation required, idempotent per form); bad input is a
400 page and changes nothing."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import pytest
from console_support import SignIn, approved, error_message

from enclave.config import Settings
from enclave.ledger import CreditsService
from enclave.registry import Operator, Organisation, RegistryService
from enclave.store import Database
from enclave.store.ledger_repo import open_credits

M = 1_000_000


@pytest.fixture
def ledger(db: Database, settings: Settings) -> CreditsService:
    return open_credits(db, settings)[1]


@pytest.fixture
def seeded(
    registry: RegistryService, operators: dict[str, Operator], ledger: CreditsService
) -> dict[str, Organisation]:
    """Pool oss funded with 1000 credits; curl granted 250 of them (expiring), zlib none."""
    root = operators["root"]
    orgs = {name: approved(registry, operators, name) for name in ("curl", "zlib")}
    ledger.fund(root, pool="oss", amount=1000 * M, create=True)
    ledger.grant(root, pool="oss", org="curl", amount=250 * M, expires_at=None, memo="first")
    return orgs


def _state(ledger: CreditsService, actor: Operator) -> tuple[object, ...]:
    """Everything the credits actions could change: balances and grants."""
    accounts = tuple((a.id, a.balance) for a in ledger.accounts(actor))
    return accounts, len(ledger.grants(actor))


Unchanged = Callable[[], AbstractContextManager[None]]


@pytest.fixture
def unchanged(ledger: CreditsService, operators: dict[str, Operator]) -> Unchanged:
    """``with unchanged():`` asserts that the block changed no balance and no grant."""

    @contextmanager
    def check() -> Iterator[None]:
        before = _state(ledger, operators["root"])
        yield
        assert _state(ledger, operators["root"]) == before

    return check


def test_pages_show_balances_pools_and_grants(
    signed: SignIn, seeded: dict[str, Organisation]
) -> None:
    for who in ("root", "auditor"):  # every role reads
        client = signed(who)
        home = client.get("/credits").text
        assert "curl" in home and "zlib" in home
        assert "250" in home  # curl's available balance
        assert "1,000" in home  # issued to pools
        pools = client.get("/credits/pools").text
        assert "oss" in pools and "750" in pools
        grants = client.get("/credits/grants").text
        assert "curl" in grants and "first" in grants
        statement = client.get(f"/credits/orgs/{seeded['curl'].id}").text
        assert "Credits of curl" in statement and "grant" in statement
    # Tables sort and paginate from the query string.
    root = signed("root")
    by_available = root.get("/credits?sort=available&dir=desc").text
    assert by_available.index("curl") < by_available.index("zlib")
    assert "Page 1 of 1" in root.get("/credits?per=10").text
    assert root.get("/credits?sort=nope", status=400)
    assert "unknown organisation" in error_message(root.get("/credits/orgs/nope", status=404))


def test_admin_funds_and_grants_through_the_ledger(
    signed: SignIn,
    seeded: dict[str, Organisation],
    ledger: CreditsService,
    operators: dict[str, Operator],
    registry: RegistryService,
) -> None:
    root = signed("root")
    page = root.get("/credits/pools").text
    fund_id = re.search(r'name="transfer_id" value="(fund_[^"]*)"', page)
    assert fund_id
    form = {"pool": "oss", "amount": "100.5", "memo": "top up", "transfer_id": fund_id.group(1)}
    after = root.done(root.post("/credits/fund", form, confirm=True))
    assert "funded" in after.text.lower()
    # The same form submitted again (a double click, a retry) moves credits once.
    assert root.post("/credits/fund", form, confirm=True).status_code == 303
    pool = next(a for a in ledger.pools(operators["root"]) if a.name == "oss")
    assert pool.balance.available == (750 * M) + 100_500_000

    grant_id = re.search(r'name="transfer_id" value="(grant_[^"]*)"', page)
    assert grant_id
    grant = {"org": seeded["zlib"].id, "pool": "oss", "amount": "40", "expires": "90d"}
    grant["transfer_id"] = grant_id.group(1)
    root.done(root.post("/credits/grant", grant, confirm=True))
    statement = ledger.statement(operators["root"], "zlib")
    assert statement.account is not None and statement.account.balance.available == 40 * M
    assert statement.grants[0].transfer.grant_expires_at is not None
    # Recorded as the signed-in operator, through the ledger's events.
    events = registry.list_events(operators["root"], kind="ledger.granted")
    assert any(e.event.actor == f"operator:{operators['root'].id}" for e in events)


def test_auditor_cannot_fund_or_grant(
    signed: SignIn,
    seeded: dict[str, Organisation],
    unchanged: Unchanged,
) -> None:
    with unchanged():
        auditor = signed("auditor")
        assert "Fund a pool" not in auditor.get("/credits/pools").text  # no forms offered
        fund = auditor.post("/credits/fund", {"pool": "oss", "amount": "5"}, confirm=True)
        assert fund.status_code == 403, fund.text
        grant = auditor.post(
            "/credits/grant", {"org": seeded["zlib"].id, "pool": "oss", "amount": "5"}, confirm=True
        )
        assert grant.status_code == 403, grant.text
        assert "admin" in error_message(grant).lower() or "not allowed" in error_message(grant)


def test_actions_need_csrf_and_confirmation(
    signed: SignIn,
    seeded: dict[str, Organisation],
    unchanged: Unchanged,
) -> None:
    with unchanged():
        root = signed("root")
        form = {"pool": "oss", "amount": "5"}
        assert root.post("/credits/fund", form, confirm=True, csrf="").status_code == 403
        assert root.post("/credits/fund", form, confirm=True, csrf="forged").status_code == 403
        unconfirmed = root.post("/credits/fund", form)
        assert unconfirmed.status_code == 400
        assert "confirmation" in error_message(unconfirmed)


@pytest.mark.parametrize(
    ("path", "form", "words"),
    [
        ("/credits/fund", {"pool": "oss", "amount": "-5"}, "not a positive number"),
        ("/credits/fund", {"pool": "oss", "amount": "0"}, "must be > 0"),
        ("/credits/fund", {"pool": "oss", "amount": "1.0000001"}, "6 decimal places"),
        ("/credits/fund", {"pool": "nope", "amount": "5"}, "unknown pool"),
        ("/credits/fund", {"pool": "Bad Name", "amount": "5"}, "not valid"),
        ("/credits/grant", {"org": "no-such-org", "pool": "oss", "amount": "5"}, "unknown"),
        ("/credits/grant", {"org": "curl", "pool": "oss", "amount": "-1"}, "positive"),
        ("/credits/grant", {"org": "curl", "pool": "nope", "amount": "5"}, "unknown pool"),
        ("/credits/grant", {"org": "curl", "pool": "oss", "amount": "5", "expires": "soon"}, "30d"),
        ("/credits/grant", {"org": "curl", "pool": "oss", "amount": "5", "transfer_id": "!"}, "id"),
    ],
)
def test_bad_input_is_a_400_page_and_changes_nothing(
    signed: SignIn,
    seeded: dict[str, Organisation],
    unchanged: Unchanged,
    path: str,
    form: dict[str, str],
    words: str,
) -> None:
    with unchanged():
        response = signed("root").post(path, form, confirm=True)
        assert response.status_code == 400, response.text
        assert response.headers["content-type"].startswith("text/html")
        assert words in html.unescape(error_message(response))


def test_overdrawn_pool_is_refused_and_changes_nothing(
    signed: SignIn,
    seeded: dict[str, Organisation],
    unchanged: Unchanged,
) -> None:
    with unchanged():
        response = signed("root").post(
            "/credits/grant", {"org": "zlib", "pool": "oss", "amount": "100000"}, confirm=True
        )
        assert response.status_code == 402, response.text  # InsufficientCredits' own status
        assert "pool oss has 750 credits; the grant needs 100,000" in error_message(response)
