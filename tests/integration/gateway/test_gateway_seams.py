"""The seams for the stages that arrive in later issues: safeguards feed the policy
context, the ledger reserves before the upstream call and posts or voids after it.

The doubles here implement the gateway's own Protocols (enclave.gateway.seams) and record
what the gateway asked of them; the gateway and the real PolicyEngine are under test.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from gateway_support import Gateway, Swappable, openai_error, run_gateway

from enclave.config import Settings
from enclave.errors import EnclaveError
from enclave.gateway.seams import Charge, Settlement
from enclave.registry import Operator, RegistryService
from enclave.safeguards import NONE, Category, Verdict
from enclave.store import Database

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

ASK = {"model": "gpt-fake", "messages": [{"role": "user", "content": "hi"}]}


class Fixed:
    """Safeguards that return a set verdict and record what they were asked."""

    def __init__(self) -> None:
        self.verdict = Verdict(NONE, 0.0)
        self.seen: list[tuple[Mapping[str, Any], str]] = []

    def classify_request(self, body: Mapping[str, Any], api: str) -> Verdict:
        self.seen.append((body, api))
        return self.verdict

    def needs_judge(self, verdict: Verdict) -> bool:
        return False

    async def assess_request(self, body: Mapping[str, Any], api: str, tier: str) -> Verdict:
        raise AssertionError("no judge is configured")

    async def aclose(self) -> None:
        return None


class OutOfCredit(EnclaveError):
    code = "insufficient_credit"
    status = 429


@dataclass
class Hold:
    id: str


@dataclass
class Book:
    calls: list[tuple[str, Any]] = field(default_factory=list)
    refuse: bool = False

    async def reserve(self, charge: Charge) -> Hold:
        if self.refuse:
            raise OutOfCredit("no credit left for this organisation")
        self.calls.append(("reserve", charge))
        return Hold(f"hold-{len(self.calls)}")

    async def confirm(self, reservation: Hold) -> None:
        pass  # reserved synchronously above: nothing to wait for

    async def post(self, reservation: Hold, settlement: Settlement) -> None:
        self.calls.append(("post", (reservation.id, settlement)))

    async def void(self, reservation: Hold, reason: str) -> None:
        self.calls.append(("void", (reservation.id, reason)))


@dataclass
class Staged:
    gateway: Gateway
    verdict: Fixed
    book: Book


@pytest.fixture
def staged(
    gateway_settings: Settings,
    db: Database,
    registry: RegistryService,
    admin: Operator,
    second_admin: Operator,
    clock: Any,
    enclave_server: tuple[str, Any, Swappable],
    upstream: Any,
) -> Iterator[Staged]:
    verdict, book = Fixed(), Book()
    for gateway in run_gateway(
        gateway_settings,
        db,
        registry,
        admin,
        second_admin,
        clock,
        enclave_server,
        upstream,
        safeguards=verdict,
        ledger=book,
    ):
        yield Staged(gateway, verdict, book)


def test_high_risk_is_blocked_for_the_public_and_flagged_for_partners(staged: Staged) -> None:
    gateway = staged.gateway
    staged.verdict.verdict = Verdict(Category("exploit-development"), 0.9)
    error = openai_error(gateway.chat(gateway.keys.public, ASK), 403, "safeguards_blocked")
    assert "public-block-high-risk" in error["message"]
    served = gateway.chat(gateway.keys.partner_one, ASK)
    assert served.status_code == 200
    decisions = [e.event.data["decision"] for e in gateway.events()]
    assert decisions[0]["advice"] == "block"
    assert decisions[1]["advice"] == "flag" and decisions[1]["allowed"] is True
    assert staged.verdict.seen[0] == (ASK, "openai")
    assert {e.event.data["screened"] for e in gateway.events()} == {True}
    # Refused before the ledger: nothing was reserved for the blocked request.
    assert [kind for kind, _ in staged.book.calls] == ["reserve", "post"]


def test_ledger_reserves_then_posts_the_upstream_usage(staged: Staged) -> None:
    gateway = staged.gateway
    assert gateway.chat(gateway.keys.public, ASK).status_code == 200
    (reserve, charge), (post, (hold, settlement)) = staged.book.calls
    assert (reserve, post) == ("reserve", "post")
    assert charge.variant == "fake-safeguarded" and charge.request_bytes > 0
    assert settlement.outcome == "ok" and settlement.usage is not None
    assert settlement.usage.output_tokens == 2
    assert gateway.events()[-1].event.data["charged"] is True


def test_ledger_voids_when_the_upstream_fails(staged: Staged) -> None:
    gateway = staged.gateway
    openai_error(gateway.chat(gateway.keys.public, {**ASK, "model": "failing"}), 502)
    assert [kind for kind, _ in staged.book.calls] == ["reserve", "void"]
    assert staged.book.calls[1][1][1] == "upstream_error"


def test_ledger_posts_what_a_cut_stream_delivered(staged: Staged) -> None:
    gateway = staged.gateway
    body = {"model": "hang", "stream": True, "messages": [{"role": "user", "content": "a b c"}]}
    with (
        httpx.Client(base_url=gateway.url, timeout=30) as http,
        http.stream(
            "POST", "/v1/chat/completions", json=body, headers=gateway.headers(gateway.keys.public)
        ) as response,
    ):
        received = b""
        for chunk in response.iter_raw():
            received += chunk
            if b'" b"' in received:  # the third word of "echo: a b c"
                break
    assert gateway.upstream.disconnected.wait(timeout=10)
    gateway.wait_recorded(1)
    kind, (_, settlement) = staged.book.calls[-1]
    assert kind == "post" and settlement.outcome == "client_disconnected"
    assert settlement.delivered["content_deltas"] >= 1


def test_ledger_refusal_is_native_and_sends_nothing(staged: Staged) -> None:
    gateway = staged.gateway
    staged.book.refuse = True
    error = openai_error(gateway.chat(gateway.keys.public, ASK), 429)
    assert "no credit" in error["message"]
    assert gateway.upstream.requests == []
