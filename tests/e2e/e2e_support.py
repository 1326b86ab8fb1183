"""The end-to-end harness: a real Enclave server in its own process and a real browser.

`EnclaveServer.start` runs `enclave init` on a temporary SQLite file (settings through
ENCLAVE_* variables, as an operator would set them), creates operators with console
passwords through the CLI, then `enclave serve` on a free loopback port in demo mode (no
provider configured) and polls /healthz until it answers. `launch_chromium` starts Debian's
chromium (/usr/bin/chromium) through Playwright; Playwright's own browser downloads are
never used. The screenshot script (scripts/console_screenshots.py) uses the same harness.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

BIN = Path(sys.executable).parent
CHROMIUM = Path("/usr/bin/chromium")
# The flags issue 10 asks for: no sandbox (the tests run as root in a container), no GPU,
# and no background traffic (component updates, safe-browsing lists) from the browser.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
START_TIMEOUT = 60.0  # seconds for `enclave serve` to answer /healthz on a loaded machine
CLI_TIMEOUT = 120.0


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def chromium_problem() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} not installed (Debian's chromium; make test installs it)"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Operator:
    name: str
    password: str
    roles: tuple[str, ...] = ("admin",)


# Two admins, so that the four-eyes approvals of the partner tier can be made in the
# console by two different people.
ALICE = Operator("alice", "correct horse battery staple")
BOB = Operator("bob", "tr0ub4dor&3-but-longer")
TIMEOUT_MS = 15_000  # one browser action or expectation; generous for a loaded 2-core machine


class CliFailed(AssertionError):
    """An `enclave` command exited non-zero (the message carries its output)."""


@dataclass
class EnclaveServer:
    """A running `enclave serve` and the environment its CLI commands share."""

    root: Path
    env: dict[str, str]
    url: str
    operators: dict[str, Operator] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # admin-API tokens by operator
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @classmethod
    @contextmanager
    def start(
        cls, root: Path, *, operators: Sequence[Operator], extra_env: dict[str, str] | None = None
    ) -> Iterator[EnclaveServer]:
        root.mkdir(parents=True, exist_ok=True)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("ENCLAVE_")}
        env.update(
            ENCLAVE_DATABASE_URL=f"sqlite:///{root / 'enclave.db'}",
            ENCLAVE_STATE_DIR=str(root / "state"),
            ENCLAVE_HOST="127.0.0.1",
            ENCLAVE_PORT=str(port),
            # Integrate events into the log quickly, so the audit pages show them.
            ENCLAVE_LOG_INTEGRATE_SECONDS="0.2",
        )
        env.update(extra_env or {})
        server = cls(root=root, env=env, url=f"http://127.0.0.1:{port}")
        server.enclave("init")
        for operator in operators:
            server.add_operator(operator)
        server._serve()
        try:
            yield server
        finally:
            server.stop()

    # -- the CLI ------------------------------------------------------------------------------

    def enclave(self, *args: str, input: str | None = None, as_operator: str | None = None) -> str:
        """Run `enclave ARGS` against this server's database; its stdout, or CliFailed."""
        env = dict(self.env)
        if as_operator is not None:
            env["ENCLAVE_OPERATOR"] = as_operator
        done = subprocess.run(
            [str(BIN / "enclave"), *args],
            env=env,
            cwd=self.root,
            input=input,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
            check=False,
        )
        if done.returncode != 0:
            raise CliFailed(
                f"enclave {' '.join(args)} exited {done.returncode}\n{done.stdout}{done.stderr}"
            )
        return done.stdout

    def enclave_json(self, *args: str, as_operator: str | None = None) -> Any:
        return json.loads(self.enclave(*args, "--json", as_operator=as_operator))

    def add_operator(self, operator: Operator) -> None:
        roles = [arg for role in operator.roles for arg in ("--role", role)]
        created = self.enclave_json("operator", "create", "--name", operator.name, *roles)
        self.tokens[operator.name] = created["token"]
        self.enclave(
            "operator",
            "set-password",
            operator.name,
            "--password-stdin",
            input=operator.password + "\n",
        )
        self.operators[operator.name] = operator

    @property
    def bootstrap_token(self) -> str:
        """The admin-API token of the operator `enclave init` created."""
        path = Path(self.env["ENCLAVE_STATE_DIR"]) / "operator-token"
        return path.read_text(encoding="ascii").strip()

    def admin_api(self, operator: str | None = None) -> httpx.Client:
        """An admin-API client acting as OPERATOR (default: the bootstrap operator)."""
        token = self.bootstrap_token if operator is None else self.tokens[operator]
        return httpx.Client(
            base_url=f"{self.url}/admin/v1",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )

    def wait_for_records(self, request_ids: set[str], timeout: float = 20.0) -> None:
        """Wait until the server's recorder has written the `gateway.request` event of
        every id in REQUEST_IDS (events are written in batches after the response)."""
        deadline = time.monotonic() + timeout
        with self.admin_api() as api:
            while True:
                seen: set[str] = set()
                after = 0
                while True:
                    page = api.get(
                        "/events", params={"kind": "gateway.request", "after": after, "limit": 1000}
                    ).json()
                    seen.update(item["data"].get("request_id", "") for item in page["items"])
                    if not page["items"]:
                        break
                    after = page["next_after"]
                missing = request_ids - seen
                if not missing:
                    return
                assert time.monotonic() < deadline, f"requests never recorded: {sorted(missing)}"
                time.sleep(0.1)

    @property
    def demo_key(self) -> str:
        path = Path(self.env["ENCLAVE_STATE_DIR"]) / "demo-key"
        return path.read_text(encoding="ascii").strip()

    # -- the server process -------------------------------------------------------------------

    def _serve(self) -> None:
        self.log_path = self.root / "serve.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [str(BIN / "enclave"), "serve"],
                env=self.env,
                cwd=self.root,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT
        # Readiness of another process: poll /healthz until it answers (or the process dies).
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"enclave serve exited early:\n{self.output()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"enclave serve did not answer /healthz:\n{self.output()}")
            time.sleep(0.05)

    def output(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)  # graceful: queued events are written first
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


# A bash tool in OpenAI's shape: the demo model answers "please run `...`" with a call to
# it, which the gateway's monitor judges.
BASH_TOOL = [
    {
        "type": "function",
        "function": {
            "name": "bash",
            "parameters": {
                "type": "object",
                "properties": {"command": {"type": "string"}},
                "required": ["command"],
            },
        },
    }
]


def agent_turn(
    server: EnclaveServer, key: str, command: str, session: str, *, timeout: float = 30
) -> httpx.Response:
    """One agent turn through the gateway: the demo model asked to run ``command``."""
    return httpx.post(
        f"{server.url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}", "X-Enclave-Session": session},
        json={
            "model": "demo",
            "tools": BASH_TOOL,
            "messages": [{"role": "user", "content": f"please run `{command}`"}],
        },
        timeout=timeout,
    )


def launch_chromium(playwright: Any) -> Any:
    """Debian's chromium through Playwright (sync API), headless, with issue 10's flags."""
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )


__all__ = [
    "ALICE",
    "BASH_TOOL",
    "BOB",
    "TIMEOUT_MS",
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "CliFailed",
    "EnclaveServer",
    "Operator",
    "agent_turn",
    "chromium_problem",
    "free_port",
    "in_ci",
    "launch_chromium",
]
