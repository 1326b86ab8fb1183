"""`enclave credits` against a real database (SQLite and PostgreSQL via ``db_url``), run
in-process with typer's CliRunner (the same code below `main()` as the console script)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from cli_support import clean_env
from cli_support import run_cli as cli
from enclave.config import load_settings
from enclave.runtime import Runtime, open_runtime
from enclave.store.tables import ledger_accounts

M = 1_000_000


@pytest.fixture
def rt(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    """Initialised by the CLI; `curl` and `zlib` approved maintainers; `bigco` a partner;
    a reviewer `rev`."""
    env = clean_env(monkeypatch, tmp_path, db_url, cwd=tmp_path / "cwd")
    assert cli("init").code == 0
    runtime = open_runtime(load_settings(environ=env))
    reg = runtime.registry
    admin = reg.operator_for_cli(None)
    rev = reg.create_operator(admin, name="rev", roles=["reviewer"]).operator
    for name, kind in (("curl", "maintainer"), ("zlib", "maintainer"), ("bigco", "partner")):
        _, application = reg.create_org(admin, name=name, kind=kind, tier=kind)
        reg.decide(admin, application.id, decision="approve", reason="ok")
        reg.decide(rev, application.id, decision="approve", reason="ok")
    yield runtime
    runtime.close()


def test_fund_grant_balance_history_pools_check_sweep(rt: Runtime) -> None:
    funded = cli("credits", "fund", "--pool", "oss", "--amount", "1000", "--new", "--json")
    assert funded.code == 0, funded.stderr
    assert funded.json()["amount"] == 1000 * M and funded.json()["credits"] == "1,000"
    granted = cli("credits", "grant", "--org", "curl", "--pool", "oss", "--amount", "250.5",
                  "--expires", "90d", "--id", "g-1", "--json")  # fmt: skip
    assert granted.code == 0, granted.stderr
    assert granted.json()["id"] == "g-1" and granted.json()["grant_expires_at"]
    again = cli("credits", "grant", "--org", "curl", "--pool", "oss", "--amount", "250.5",
                "--expires", "90d", "--id", "g-1", "--json")  # fmt: skip
    assert again.json() == granted.json()  # the id is the idempotency key

    balance = cli("credits", "balance", "--org", "curl", "--json").json()
    assert balance["account"]["available"] == 250_500_000
    assert [g["transfer"]["id"] for g in balance["grants"]] == ["g-1"]
    human = cli("credits", "balance", "--org", "curl")
    assert "250.5" in human.stdout and "g-1" in human.stdout
    every = {a["id"]: a for a in cli("credits", "balance", "--json").json()}
    assert every["pool:oss"]["available"] == 749_500_000
    # `init` in demo mode also funded the demo organisation from a `demo` pool.
    assert [p["name"] for p in cli("credits", "pools", "--json").json()] == ["demo", "oss"]
    history = cli("credits", "history", "oss", "--json").json()
    assert [t["code"] for t in history] == ["grant", "fund"]
    assert "g-1" in cli("credits", "history", "curl").stdout

    checked = cli("credits", "check", "--json")
    assert checked.code == 0 and checked.json()["ok"] is True
    assert "ok: every balance" in cli("credits", "check").stdout
    swept = cli("credits", "sweep", "--json").json()
    assert swept["expired"] == [] and swept["grants_expired"] == []
    # A reviewer reads but does not grant.
    assert cli("credits", "balance", "--org", "curl", "--as", "rev").code == 0
    denied = cli("credits", "grant", "--org", "curl", "--pool", "oss", "--amount", "1",
                 "--as", "rev")  # fmt: skip
    assert denied.code == 3 and "needs role admin" in denied.stderr


def _accounts(rt: Runtime) -> Any:
    return cli("credits", "balance", "--json").json(), cli("credits", "history", "issuer",
                                                           "--json").json()  # fmt: skip


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("fund", "--pool", "oss", "--amount", "-5"), 2, "not a positive number"),
        (("fund", "--pool", "oss", "--amount", "1.0000001"), 2, "6 decimal places"),
        (("fund", "--pool", "nope", "--amount", "5"), 4, "unknown pool"),
        (("grant", "--org", "ghost", "--pool", "oss", "--amount", "1"), 4, "unknown organisation"),
        (("grant", "--org", "curl", "--pool", "oss", "--amount", "5000"), 5, "pool oss has 1,000"),
        (("grant", "--org", "curl", "--pool", "oss", "--amount", "1", "--expires", "soon"), 2,
         "expiry"),
        (("grant", "--org", "curl", "--pool", "oss", "--amount", "1", "--id", "bad id"), 2,
         "not a valid transfer id"),
        (("history", "nowhere"), 4, "unknown account"),
        (("history", "oss", "--limit", "0"), 2, "limit"),
    ],
)  # fmt: skip
def test_bad_input_exits_with_its_code_and_changes_nothing(
    rt: Runtime, args: tuple[str, ...], code: int, message: str
) -> None:
    assert cli("credits", "fund", "--pool", "oss", "--amount", "1000", "--new").code == 0
    before = _accounts(rt)
    result = cli("credits", *args)
    assert result.code == code, result.stdout + result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert _accounts(rt) == before


def test_check_exits_7_when_a_balance_was_tampered_with(rt: Runtime) -> None:
    assert cli("credits", "fund", "--pool", "oss", "--amount", "10", "--new").code == 0
    with rt.db.engine.begin() as conn:
        conn.execute(
            update(ledger_accounts)
            .where(ledger_accounts.c.id == "pool:oss")
            .values(credits_posted=ledger_accounts.c.credits_posted + 1)
        )
    result = cli("credits", "check")
    assert result.code == 7
    assert "pool:oss: cached" in result.stderr and "2 problem(s)" in result.stderr  # and the totals


SIGNALS = (
    "org,asset,created_since,contributor_count,dependents_count,updated_since\n"
    "curl,https://github.com/curl/curl,300,1200,450000,0\n"
    "zlib,https://github.com/madler/zlib,360,60,90000,2\n"
    "bigco,https://github.com/bigco/tool,12,400,1000,0\n"
)


def test_allocate_proposes_and_grants_only_on_confirmation(rt: Runtime, tmp_path: Path) -> None:
    signals = tmp_path / "signals.csv"
    signals.write_text(SIGNALS, encoding="utf-8")
    assert cli("credits", "fund", "--pool", "oss", "--amount", "1000", "--new").code == 0
    before = _accounts(rt)

    shown = cli("credits", "allocate", str(signals), "--pool", "oss", "--budget", "600")
    assert shown.code == 0, shown.stderr
    assert shown.stdout.index("curl") < shown.stdout.index("zlib")
    assert "left out: bigco: kind partner" in shown.stdout and "nothing granted" in shown.stdout
    assert _accounts(rt) == before

    declined = cli("credits", "allocate", str(signals), "--pool", "oss", "--budget", "600",
                   "--apply", stdin="n\n")  # fmt: skip
    assert declined.code == 1 and _accounts(rt) == before

    applied = cli("credits", "allocate", str(signals), "--pool", "oss", "--budget", "600",
                  "--apply", "--yes", "--expires", "365d", "--json")  # fmt: skip
    assert applied.code == 0, applied.stderr
    body = applied.json()
    assert sum(t["amount"] for t in body["granted"]) == 600 * M
    assert {c["org_name"] for c in body["proposal"]["candidates"]} == {"curl", "zlib"}
    pools = {p["name"]: p for p in cli("credits", "pools", "--json").json()}
    assert pools["oss"]["available"] == 400 * M

    bad = tmp_path / "bad.json"
    bad.write_text('[{"org": "curl", "asset": "x", "stars": 5}]', encoding="utf-8")
    refused = cli("credits", "allocate", str(bad), "--pool", "oss", "--budget", "1")
    assert refused.code == 2 and "unknown column" in refused.stderr
    missing = cli("credits", "allocate", str(tmp_path / "none.csv"), "--pool", "oss",
                  "--budget", "1")  # fmt: skip
    assert missing.code == 2 and "cannot read" in missing.stderr
