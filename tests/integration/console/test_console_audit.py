"""The console's audit log page over real HTTP: the latest signed checkpoint, the verify
button (OK on an intact log, the first bad index on a tampered one), and inclusion and
consistency proofs looked up by leaf index, event id or tree sizes, each checked with the
log's public key; bad input is a 400 page."""

from __future__ import annotations

import html
import json
import re

import pytest
from console_support import SignIn, error_message
from sqlalchemy import text

from enclave.auditlog import AuditLog, Signer, create_signing_key
from enclave.config import Settings
from enclave.registry import Operator, RegistryService
from enclave.store import Database
from enclave.store.auditlog_repo import SqlAuditLog


@pytest.fixture
def log(db: Database, settings: Settings, operators: dict[str, Operator]) -> AuditLog:
    """The log signed with the key file the console reads, integrated once (the events
    of creating the operators)."""
    signer: Signer = create_signing_key(settings.log_key_path, settings.log_origin)
    audit = AuditLog(store=SqlAuditLog(db.engine), signer=signer)
    audit.integrate()
    return audit


def _grow(registry: RegistryService, ops: dict[str, Operator], log: AuditLog, name: str) -> int:
    registry.create_org(ops["root"], name=name, kind="maintainer", tier="maintainer")
    return log.integrate().tree_size


def _tamper(db: Database, seq: int) -> None:
    """Edit one events row the way an insider with DDL rights could (past the triggers)."""
    statement = "UPDATE events SET data = :data WHERE seq = :seq"
    params = {"data": '{"tampered":true}', "seq": seq}
    if db.engine.dialect.name == "postgresql":
        with db.engine.begin() as conn:
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(text(statement), params)
        return
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("DROP TRIGGER IF EXISTS events_no_update")
        cursor.execute("BEGIN IMMEDIATE")
        cursor.execute(statement, params)
        cursor.execute("COMMIT")
    finally:
        raw.close()


def _verify(client: object) -> str:
    response = client.post("/audit/verify")  # type: ignore[attr-defined]
    assert response.status_code == 200, response.text
    return str(response.text)


def test_page_shows_the_latest_checkpoint(signed: SignIn, log: AuditLog) -> None:
    latest = log.latest_checkpoint()
    for who in ("root", "auditor"):
        page = html.unescape(signed(who).get("/audit").text)
        assert latest.note in page  # the signed note, exactly as /log/checkpoint serves it
        assert f"Tree size</dt><dd>{latest.size}<" in page
        assert log.verifier.vkey in page


def test_page_without_a_checkpoint_says_so(signed: SignIn) -> None:
    page = signed("auditor").get("/audit").text
    assert "no checkpoint yet" in page
    missing = signed("auditor").post("/audit/verify")
    assert missing.status_code == 200
    assert "Cannot verify" in missing.text and "missing" in missing.text


def test_verify_reports_ok_on_an_intact_log(
    signed: SignIn, log: AuditLog, registry: RegistryService, operators: dict[str, Operator]
) -> None:
    size = _grow(registry, operators, log, "curl")
    for who in ("root", "auditor"):
        page = _verify(signed(who))
        assert "verify-ok" in page
        assert (
            f"<strong>OK</strong>: every entry and every checkpoint verifies ({size} entries"
            in page
        )
    assert signed("root").post("/audit/verify", csrf="").status_code == 403


def test_verify_names_the_first_bad_index_of_a_tampered_log(
    signed: SignIn, log: AuditLog, db: Database
) -> None:
    proof = log.inclusion_proof(2)
    seq = json.loads(proof.entry)["seq"]
    _tamper(db, seq)
    page = html.unescape(_verify(signed("auditor")))
    assert "verify-failed" in page and "The log does not verify" in page
    assert "first bad index 2" in page and "entry_changed" in page


def test_inclusion_proof_by_leaf_index_and_by_event_id(
    signed: SignIn, log: AuditLog, registry: RegistryService, operators: dict[str, Operator]
) -> None:
    size = _grow(registry, operators, log, "curl")
    client = signed("auditor")
    by_index = html.unescape(client.get("/audit/inclusion?index=3").text)
    entry = log.inclusion_proof(3).entry.decode()
    assert "The proof holds" in by_index and entry in by_index
    assert f"Tree size</dt><dd>{size}<" in by_index
    seq = json.loads(entry)["seq"]
    by_event = html.unescape(client.get(f"/audit/inclusion?seq={seq}").text)
    assert "The proof holds" in by_event and entry in by_event
    assert "Leaf index</dt><dd>3<" in by_event
    # Against an older signed size too.
    older = html.unescape(client.get("/audit/inclusion?index=0&tree_size=1").text)
    assert "The proof holds" in older or "Not checked" in older


def test_consistency_proof_between_two_signed_sizes(
    signed: SignIn, log: AuditLog, registry: RegistryService, operators: dict[str, Operator]
) -> None:
    old = log.latest_checkpoint().size
    new = _grow(registry, operators, log, "curl")
    assert new > old
    page = html.unescape(
        signed("auditor").get(f"/audit/consistency?old_size={old}&new_size={new}").text
    )
    assert "The proof holds" in page
    assert f"Old size</dt><dd>{old}<" in page and f"New size</dt><dd>{new}<" in page
    # A size the log never signed: the proof is shown, and said to be unchecked.
    unsigned = html.unescape(signed("auditor").get("/audit/consistency?old_size=1").text)
    assert "Not checked" in unsigned


@pytest.mark.parametrize(
    ("query", "status", "words"),
    [
        ("/audit/inclusion?index=abc", 400, "expected a non-negative integer"),
        ("/audit/inclusion?index=-1", 400, "expected a non-negative integer"),
        ("/audit/inclusion", 400, "not both"),
        ("/audit/inclusion?index=1&seq=1", 400, "not both"),
        ("/audit/inclusion?index=100000", 400, "outside the tree"),
        ("/audit/inclusion?index=0&tree_size=100000", 400, "not covered by a signed checkpoint"),
        ("/audit/inclusion?seq=999999", 404, "not in the log"),
        ("/audit/consistency", 400, "old size is required"),
        ("/audit/consistency?old_size=0", 400, "expected 0 < old size"),
        ("/audit/consistency?old_size=x", 400, "expected a non-negative integer"),
    ],
)
def test_bad_lookups_are_a_clear_error_page(
    signed: SignIn, log: AuditLog, query: str, status: int, words: str
) -> None:
    response = signed("auditor").get(query, status=status)
    assert words in html.unescape(error_message(response))
    assert re.search(r"<h1>", response.text)
