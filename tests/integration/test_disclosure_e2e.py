"""A whole disclosure case over real HTTP and real SMTP (aiosmtpd on loopback): submit,
dedupe, notify by e-mail, acknowledge through the link, fix, publish; the OSV and CSAF
exports validate against the upstream schemas."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from aiosmtpd.controller import Controller

from enclave.app import build_app
from enclave.config import Settings, load_settings
from enclave.disclosure import Validators
from enclave.registry import RegistryService
from enclave.runtime import Runtime
from enclave.store import Database

SCHEMAS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "schemas"
VECTOR = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"
SECRET_TEXT = "parse_frame() trusts the length byte; a 0xff frame overwrites the heap."


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.arrived = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        self.arrived.set()
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = _free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self.ready.set()


@dataclass
class World:
    http: httpx.Client
    url: str
    token: str
    mailbox: Mailbox
    clock: Any

    def admin(self, method: str, path: str, body: Any = None) -> httpx.Response:
        return self.http.request(
            method, "/admin/v1" + path, json=body, headers={"Authorization": f"Bearer {self.token}"}
        )


@pytest.fixture
def world(
    db: Database, db_url: str, tmp_path: Path, mailbox: tuple[Mailbox, int], clock: Any
) -> Iterator[World]:
    box, smtp_port = mailbox
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings: Settings = load_settings(
        environ={
            "ENCLAVE_DATABASE_URL": db_url,
            "ENCLAVE_STATE_DIR": str(tmp_path / "state"),
            "ENCLAVE_DISCLOSURE__DATA_KEY": "ab" * 32,
            "ENCLAVE_DISCLOSURE__SMTP_HOST": "127.0.0.1",
            "ENCLAVE_DISCLOSURE__SMTP_PORT": str(smtp_port),
            "ENCLAVE_DISCLOSURE__PUBLIC_URL": url,
            "ENCLAVE_DISCLOSURE__SCHEMA_DIR": str(SCHEMAS),
            "ENCLAVE_DISCLOSURE__MAX_POC_BYTES": "100",
        },
        config_path=tmp_path / "absent.toml",
    )
    registry = RegistryService(store=db, settings=settings, pepper=b"p" * 32, clock=clock)
    token = registry.create_operator(None, name="root", roles=["admin"]).token
    app = build_app(Runtime(settings=settings, db=db, registry=registry))
    server = _Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        assert server.ready.wait(timeout=30)
        with httpx.Client(base_url=url, timeout=30) as http:
            yield World(http=http, url=url, token=token, mailbox=box, clock=clock)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def _finding(**overrides: Any) -> dict[str, Any]:
    body = {
        "title": "Heap overflow in frame parser",
        "purl": "pkg:pypi/examplelib",
        "versions": ["1.0.0", "1.1.0"],
        "location": "src/examplelib/frames.c:120",
        "cwe": "CWE-787",
        "cvss_vector": VECTOR,
        "description": SECRET_TEXT,
        "reporting_org": "Acme Defenders",
        "session_id": "sess-42",
        "poc_base64": "AAEC",
        "poc_name": "crash.bin",
    }
    body.update(overrides)
    return body


def test_a_whole_case_end_to_end(world: World) -> None:
    first = world.admin("POST", "/findings", _finding())
    assert first.status_code == 201, first.text
    case_id = first.json()["case"]["id"]
    dup = world.admin(
        "POST",
        "/findings",
        _finding(location="./SRC/examplelib/frames.c:120 ", reporting_org="Second Team"),
    )
    assert dup.json()["case"]["id"] == case_id
    assert dup.json()["duplicate_of"] == first.json()["finding"]["id"]
    assert len(world.admin("GET", "/cases").json()["items"]) == 1

    added = world.admin(
        "POST",
        f"/cases/{case_id}/maintainers",
        {"name": "examplelib security team", "email": "security@example.org"},
    )
    assert added.status_code == 201, added.text
    notified = world.admin("POST", f"/cases/{case_id}/notify", {})
    assert notified.status_code == 200, notified.text
    assert world.mailbox.arrived.wait(timeout=10)
    mail = world.mailbox.messages[0]
    assert mail["To"] == "security@example.org"
    text = mail.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert SECRET_TEXT not in text  # the e-mail carries a link, not the details
    link = re.search(r"(http://\S+/links/edl_\S+)", text)
    assert link is not None
    path = link.group(1).removeprefix(world.url)

    # The public page shows only the reporting-transparency facts while embargoed.
    page = world.http.get(f"/disclosures/{case_id}").json()
    assert page["state"] == "embargoed" and SECRET_TEXT not in str(page)
    assert page["maintainers"] == ["examplelib security team"]

    view = world.http.get(path)
    assert view.status_code == 200 and view.headers["cache-control"] == "no-store"
    assert view.json()["findings"][0]["description"] == SECRET_TEXT

    ack = world.http.post(path, json={"action": "acknowledge"})
    assert ack.status_code == 200, ack.text
    reused = world.http.post(path, json={"action": "acknowledge"})
    assert reused.status_code == 403 and reused.json()["code"] == "link_refused"
    assert world.admin("GET", f"/cases/{case_id}").json()["state"] == "acknowledged"

    following = ack.json()["next"]["url"].removeprefix(world.url)
    world.clock.advance(days=20)
    fixed = world.http.post(following, json={"action": "fixed", "version": "1.2.0"})
    assert fixed.status_code == 200, fixed.text
    case = world.admin("GET", f"/cases/{case_id}").json()
    assert case["state"] == "fix-available" and case["fixed_version"] == "1.2.0"

    early = world.admin("POST", f"/cases/{case_id}/publish", {})
    assert early.status_code == 409 and "embargoed" in early.json()["detail"]
    world.clock.advance(days=30)
    published = world.admin("POST", f"/cases/{case_id}/publish", {})
    assert published.status_code == 200, published.text
    assert published.json()["state"] == "disclosed"

    validators = Validators(SCHEMAS)
    osv = world.admin("GET", f"/cases/{case_id}/advisory?format=osv").json()
    csaf = world.admin("GET", f"/cases/{case_id}/advisory?format=csaf").json()
    assert validators.osv_errors(osv) == []
    assert validators.csaf_errors(csaf) == []
    assert osv["details"] == SECRET_TEXT
    assert {c["name"] for c in osv["credits"]} == {"Acme Defenders", "Second Team"}
    public = world.http.get(f"/disclosures/{case_id}").json()
    assert public["state"] == "disclosed" and public["osv"] == osv

    kinds = [e["kind"] for e in world.admin("GET", f"/cases/{case_id}/timeline").json()["items"]]
    for kind in (
        "case.opened",
        "finding.submitted",
        "finding.duplicate",
        "case.notified",
        "case.details_read",
        "case.acknowledged",
        "case.status_changed",
        "case.deadline_changed",
        "case.published",
    ):
        assert kind in kinds, kind


def test_bad_input_over_http_is_a_problem_and_changes_nothing(world: World) -> None:
    for body, fragment in (
        (_finding(cvss_vector="CVSS:4.0/AV:N"), "invalid CVSS vector"),
        (_finding(purl="pkg:weird/thing"), "unknown purl type"),
        (_finding(poc_base64="A" * 400), "proof of concept is 300 bytes"),
    ):
        response = world.admin("POST", "/findings", body)
        assert response.status_code == 400, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert fragment in response.json()["detail"]
    assert world.admin("GET", "/cases").json()["items"] == []
    case_id = world.admin("POST", "/findings", _finding()).json()["case"]["id"]
    world.admin("POST", f"/cases/{case_id}/maintainers", {"name": "m", "email": "m@example.org"})
    assert world.admin("POST", f"/cases/{case_id}/notify", {}).status_code == 200
    before = world.admin("GET", f"/cases/{case_id}").json()
    past = world.admin(
        "POST",
        f"/cases/{case_id}/deadline",
        {"reason": "oops", "until": "2020-01-01T00:00:00+02:00"},
    )
    assert past.status_code == 400 and "in the past" in past.json()["detail"]
    assert world.admin("GET", f"/cases/{case_id}").json() == before
    bogus = world.http.get(f"/disclosure/cases/{case_id}/links/edl_notatoken")
    assert bogus.status_code == 403 and bogus.json()["code"] == "link_refused"
