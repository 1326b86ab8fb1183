"""Fixtures for the safeguards: the shipped model, a fake judge (our own Protocol), and a
real OpenAI-compatible judge server on loopback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from safeguards_support import FakeJudge, JudgeServer, completion

from enclave.safeguards import LinearClassifier, Safeguards, SafeguardsConfig, load_taxonomy


@pytest.fixture(scope="session")
def classifier() -> LinearClassifier:
    return LinearClassifier.load()


@pytest.fixture
def safeguards(classifier: LinearClassifier) -> Safeguards:
    return Safeguards(classifier, load_taxonomy(), SafeguardsConfig())


@pytest.fixture
def fake_judge() -> FakeJudge:
    return FakeJudge()


@pytest.fixture
def judge_server() -> Iterator[JudgeServer]:
    state: dict[str, JudgeServer] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            server = state["server"]
            length = int(self.headers.get("content-length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            server.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
            if server.stall:
                server.release.wait(timeout=10)
                return
            if self.path != "/v1/chat/completions":
                status, payload = 404, b'{"error": "not found"}'
            else:
                status, payload = server.reply(body)
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    host, port = httpd.server_address[:2]
    state["server"] = JudgeServer(f"http://{host}:{port}/v1", lambda body: completion("benign"))
    # A short poll interval: shutdown() waits up to one interval.
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield state["server"]
    finally:
        state["server"].release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
