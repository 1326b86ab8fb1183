"""`enclave findings|cases|advisories` against a real database and a loopback SMTP server."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from typer.testing import CliRunner

from enclave.cli.main import app
from enclave.disclosure import Validators

SCHEMAS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "schemas"
VECTOR = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"


class _Mailbox:
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        return "250 OK"


@pytest.fixture
def env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[_Mailbox]:
    for name in list(os.environ):
        if name.startswith("ENCLAVE_"):
            monkeypatch.delenv(name)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    box = _Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    values = {
        "ENCLAVE_DATABASE_URL": db_url,
        "ENCLAVE_STATE_DIR": str(tmp_path / "state"),
        "ENCLAVE_DISCLOSURE__SMTP_HOST": "127.0.0.1",
        "ENCLAVE_DISCLOSURE__SMTP_PORT": str(port),
        "ENCLAVE_DISCLOSURE__SCHEMA_DIR": str(SCHEMAS),
        "ENCLAVE_DISCLOSURE__MAX_POC_BYTES": "64",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "desc.txt").write_text("length byte trusted; heap overwrite", encoding="utf-8")
    (tmp_path / "poc.bin").write_bytes(b"\x00" * 10)
    (tmp_path / "big.bin").write_bytes(b"\x00" * 65)
    try:
        yield box
    finally:
        controller.stop()


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def submit(*extra: str) -> tuple[int, str, str]:
    return run(
        "findings",
        "submit",
        "--title",
        "Heap overflow",
        "--purl",
        "pkg:cargo/framekit",
        "--version",
        "0.3.0",
        "--version",
        "0.3.1",
        "--location",
        "src/parse.rs:88",
        "--cwe",
        "CWE-787",
        "--cvss",
        VECTOR,
        "--description",
        "desc.txt",
        "--org",
        "Acme",
        "--poc",
        "poc.bin",
        "--json",
        *extra,
    )


def test_cli_case_from_submission_to_export(env: _Mailbox, tmp_path: Path) -> None:
    assert run("init")[0] == 0
    assert (tmp_path / "state" / "disclosure.key").stat().st_mode & 0o777 == 0o600
    code, out, err = submit()
    assert code == 0, err
    case_id = json.loads(out)["case"]["id"]
    code, out, _ = submit("--org", "Beta")
    assert json.loads(out)["duplicate_of"] and json.loads(out)["case"]["id"] == case_id
    assert len(json.loads(run("findings", "list", "--json")[1])) == 2

    # Bad input: a clear error, exit 2, and nothing new.
    for args, message in (
        (("--cvss", "CVSS:4.0/nope"), "invalid CVSS vector"),
        (("--purl", "pkg:nope/x"), "unknown purl type"),
        (("--poc", "big.bin"), "the limit is 64"),
    ):
        code, _, err = submit(*args)
        assert code == 2 and message in err, err
    assert len(json.loads(run("findings", "list", "--json")[1])) == 2

    code, out, err = run(
        "cases",
        "notify",
        case_id,
        "--maintainer",
        "framekit",
        "--email",
        "sec@framekit.dev",
        "--json",
    )
    assert code == 0, err
    assert env.count == 1 and json.loads(out)[0]["url"].startswith("http://127.0.0.1:8400/")
    shown = json.loads(run("cases", "show", case_id, "--json")[1])
    assert shown["state"] == "notified" and "description" not in json.dumps(shown)
    deadline = shown["deadline"]

    code, _, err = run("cases", "extend", case_id, "--reason", "x", "--until", "2001-01-01T00:00Z")
    assert code == 2 and "in the past" in err
    assert json.loads(run("cases", "show", case_id, "--json")[1])["deadline"] == deadline
    code, out, err = run(
        "cases", "extend", case_id, "--reason", "fix next week", "--grace", "--json"
    )
    assert code == 0, err
    assert json.loads(out)["grace_used"] is True

    vendor = next(p for p in shown["participants"] if p["role"] == "vendor")["id"]
    code, out, err = run(
        "cases",
        "status",
        case_id,
        "--participant",
        vendor,
        "--status",
        "fixed",
        "--fixed-version",
        "0.3.2",
        "--json",
    )
    assert code == 0, err
    assert json.loads(out)["state"] == "fix-available"
    code, _, err = run("advisories", "export", case_id, "--format", "osv")
    assert code == 5 and "not disclosed" in err
    code, out, err = run("cases", "publish", case_id, "--early", "fixed and released", "--json")
    assert code == 0, err
    assert json.loads(out)["state"] == "disclosed"

    validators = Validators(SCHEMAS)
    code, out, _ = run("advisories", "export", case_id, "--format", "osv")
    assert code == 0 and validators.osv_errors(json.loads(out)) == []
    assert run("advisories", "export", case_id, "--format", "csaf", "--out", "a.json")[0] == 0
    assert validators.csaf_errors(json.loads((tmp_path / "a.json").read_text())) == []

    details = json.loads(run("cases", "show", case_id, "--details", "--timeline", "--json")[1])
    assert details["findings"][0]["description"] == "length byte trusted; heap overwrite"
    kinds = [e["kind"] for e in details["timeline"]]
    assert "case.details_read" in kinds and "case.published" in kinds
    code, out, _ = run("cases", "remind", "--publish-due", "--json")
    assert code == 0 and json.loads(out) == {"reminders": [], "published": []}


def test_remind_publishes_cases_past_their_deadline(env: _Mailbox) -> None:
    assert run("init")[0] == 0
    case_id = json.loads(submit()[1])["case"]["id"]
    args = ("cases", "notify", case_id, "--maintainer", "m", "--email", "m@example.org")
    assert run(*args)[0] == 0
    # An embargoed case is never published by the scheduler (the due path with a passed
    # deadline is in tests/unit/disclosure/test_service.py, which moves the clock).
    code, out, _ = run("cases", "remind", "--publish-due", "--json")
    assert code == 0 and json.loads(out)["published"] == []
    assert json.loads(run("cases", "show", case_id, "--json")[1])["state"] == "notified"
