"""Signed webhooks against a real loopback HTTP receiver that verifies them."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from enclave.config.disclosure import DisclosureConfig
from enclave.disclosure import BadSignature, Delivery, DeliveryFailed, Notice
from enclave.disclosure.notify import SIGNATURE_HEADER, sign, verify

SECRET = b"maintainer-shared-secret"
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


class Receiver(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.accepted: list[bytes] = []
        self.refused: list[str] = []


class Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        try:
            verify(SECRET, body, self.headers.get(SIGNATURE_HEADER, ""), now=NOW)
        except BadSignature as exc:
            self.server.refused.append(exc.message)
            self.send_response(401)
        else:
            self.server.accepted.append(body)
            self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def _notice(url: str, secret: bytes) -> Notice:
    return Notice(
        case_id="case_1",
        kind="notification",
        subject="s",
        text="t",
        email=None,
        webhook_url=url,
        webhook_secret=secret,
        payload={"case": "case_1", "link": "http://x/links/edl_y"},
    )


def test_signed_delivery_is_accepted(receiver: Receiver) -> None:
    url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    used = asyncio.run(
        Delivery(DisclosureConfig(), clock=lambda: NOW).deliver(_notice(url, SECRET))
    )
    assert used == ["webhook"] and len(receiver.accepted) == 1
    assert b'"case":"case_1"' in receiver.accepted[0]


def test_wrong_secret_is_rejected_by_the_receiver(receiver: Receiver) -> None:
    url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    with pytest.raises(DeliveryFailed, match="answered 401"):
        asyncio.run(Delivery(DisclosureConfig(), clock=lambda: NOW).deliver(_notice(url, b"guess")))
    assert receiver.accepted == [] and receiver.refused == [
        "webhook signature does not match the body"
    ]


def test_tampering_and_replay_are_detected() -> None:
    body = b'{"case":"case_1"}'
    header = sign(SECRET, body, NOW)
    verify(SECRET, body, header, now=NOW)
    with pytest.raises(BadSignature, match="does not match"):
        verify(SECRET, b'{"case":"case_2"}', header, now=NOW)
    stamp, mac = header.split(",")
    flipped = mac[:-1] + ("0" if mac[-1] != "0" else "1")
    with pytest.raises(BadSignature, match="does not match"):
        verify(SECRET, body, f"{stamp},{flipped}", now=NOW)
    with pytest.raises(BadSignature, match="tolerance"):
        verify(SECRET, body, header, now=NOW + timedelta(minutes=10))
    with pytest.raises(BadSignature, match="malformed"):
        verify(SECRET, body, "garbage", now=NOW)


def test_unreachable_participant_is_a_delivery_failure() -> None:
    with pytest.raises(DeliveryFailed, match="no way to reach"):
        asyncio.run(
            Delivery(DisclosureConfig(), clock=lambda: NOW).deliver(
                Notice("c", "notification", "s", "t", "a@b.c", None, None, {})
            )
        )
