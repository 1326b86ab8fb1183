"""Helpers for the gateway tests: the fake upstream, the live Enclave, keys, events."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import anthropic
import httpx
import openai

from enclave.app import ModelCalls, build_app
from enclave.config import Settings
from enclave.events import StoredEvent
from enclave.gateway.client_routes import ClientApi
from enclave.gateway.credits import CreditsLedger
from enclave.gateway.providers import build_providers
from enclave.policy import PolicyEngine
from enclave.registry import Operator, OrgStatus, RegistryService
from enclave.runtime import Runtime
from enclave.safeguards import Safeguards
from enclave.store import Database
from enclave.store.ledger_repo import open_credits, open_ledger, open_rate_limiter
from enclave.store.monitor_repo import build_monitor

T = TypeVar("T")

_FAKE = Path(__file__).resolve().parents[3] / "benchmarks" / "fake_upstream.py"


def _load_fake() -> Any:
    """benchmarks/fake_upstream.py, shared with the benchmark (not a package)."""
    if "fake_upstream" in sys.modules:
        return sys.modules["fake_upstream"]
    spec = importlib.util.spec_from_file_location("fake_upstream", _FAKE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["fake_upstream"] = module
    spec.loader.exec_module(module)
    return module


fake = _load_fake()
FakeUpstream = fake.FakeUpstream
State = fake.State
serve_in_thread = fake.serve_in_thread
HANG_CHUNKS: int = fake.HANG_CHUNKS

UPSTREAM_KEYS = {"FAKE_OPENAI_KEY": "sk-fake-openai", "FAKE_ANTHROPIC_KEY": "sk-fake-anthropic"}


FAKE_VARIANTS = (
    "fake-safeguarded",
    "fake-full",
    "fake-status-500",
    "fake-status-429",
    "fake-status-401",
    "fake-status-307",
    "fake-status-400",
    "fake-slow",
    "fake-hang",
    "fake-broken",
    "fake-long",
    "fake-tool",
)
PRICE = {"input": 1_000_000, "output": 1_000_000, "max_output_tokens": 4096}
GRANT = 1000 * 1_000_000  # micro-credits per test organisation


def fund_orgs(db: Database, settings: Settings, admin: Operator, amount: int = GRANT) -> None:
    """Grant ``amount`` to every approved organisation from a ``test`` pool."""
    _, credits = open_credits(db, settings)
    orgs = [o for o in credits.list_orgs(admin) if o.status is OrgStatus.APPROVED]
    credits.fund(admin, pool="test", amount=amount * max(1, len(orgs)), create=True)
    for org in orgs:
        credits.grant(admin, pool="test", org=org.id, amount=amount)


def gateway_config(upstream: str) -> dict[str, Any]:
    """Providers and models over the fake upstream (see fake_upstream.py's behaviours)."""
    base = f"{upstream}/v1"
    oai = {"kind": "openai", "base_url": base, "api_key_env": "FAKE_OPENAI_KEY", "read_timeout": 5}
    ant = {"kind": "anthropic", "base_url": base, "api_key_env": "FAKE_ANTHROPIC_KEY"}
    quick = {**oai, "read_timeout": 0.3}
    quick_ant = {**ant, "read_timeout": 0.3}

    def everyone(provider: str, variant: str) -> dict[str, Any]:
        return {
            "tiers": {
                t: {"provider": provider, "variant": variant}
                for t in ("public", "maintainer", "partner", "operator")
            }
        }

    return {
        # Every fake variant priced (1 credit per million tokens; the ledger is on, as in
        # `enclave serve`); run_gateway grants each test organisation GRANT.
        "prices": dict.fromkeys(FAKE_VARIANTS, PRICE),
        "providers": {"oai": oai, "ant": ant, "quick": quick, "quick-ant": quick_ant},
        "models": {
            "gpt-fake": {
                "description": "OpenAI-shaped fake",
                "tiers": {
                    "public": {"provider": "oai", "variant": "fake-safeguarded"},
                    "partner": {"provider": "oai", "variant": "fake-full"},
                },
            },
            "claude-fake": {
                "tiers": {
                    "public": {"provider": "ant", "variant": "fake-safeguarded"},
                    "partner": {"provider": "ant", "variant": "fake-full"},
                }
            },
            "partner-only": {"tiers": {"partner": {"provider": "oai", "variant": "fake-full"}}},
            "failing": everyone("oai", "fake-status-500"),
            "failing-claude": everyone("ant", "fake-status-500"),
            "limited": everyone("oai", "fake-status-429"),
            "wrong-key": everyone("oai", "fake-status-401"),
            "redirecting": everyone("oai", "fake-status-307"),
            "bad-param": everyone("ant", "fake-status-400"),
            "slow": everyone("quick", "fake-slow"),
            "slow-claude": everyone("quick-ant", "fake-slow"),
            "hang": everyone("oai", "fake-hang"),
            "hang-claude": everyone("ant", "fake-hang"),
            "broken": everyone("oai", "fake-broken"),
            "long": everyone("oai", "fake-long"),
            "tool": everyone("oai", "fake-tool"),  # one bash call (the monitor's tests)
            "tool-claude": everyone("ant", "fake-tool"),
        },
    }


@dataclass
class Keys:
    public: str  # public tier, purpose general
    partner: str  # partner tier, purposes vuln-detection + remediation
    partner_one: str  # partner tier, purpose vuln-detection only


@dataclass
class Gateway:
    url: str
    client: ClientApi
    loop: asyncio.AbstractEventLoop
    registry: RegistryService
    admin: Operator
    keys: Keys
    db: Database
    upstream: Any  # fake_upstream.State
    swappable: Any = None  # the mount point: knows which requests are still in flight
    http: httpx.Client = field(init=False)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        """Run a coroutine on the server's event loop (where the gateway lives)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def idle(self) -> None:
        """Until every handler has finished: a request's ledger settlement and event come
        after its response, so they may finish just after the client has read it."""
        if self.swappable is not None:
            self.swappable.wait_idle()

    def flush(self) -> None:
        self.idle()
        self.run(self.client.recorder.flush())

    def wait_recorded(self, count: int) -> None:
        """Until ``count`` gateway events exist in total (synchronises with a request
        whose handler is still finishing after the client saw its response)."""
        self.run(self.client.recorder.wait_written(count))

    def events(self, kind: str = "gateway.request") -> list[StoredEvent]:
        self.flush()
        return self.registry.list_events(self.admin, kind=kind, limit=1000)

    def headers(self, key: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}", **extra}

    def chat(self, key: str, body: dict[str, Any], **headers: str) -> httpx.Response:
        return self.http.post(
            "/v1/chat/completions", json=body, headers=self.headers(key, **headers)
        )

    def messages(self, key: str, body: dict[str, Any], **headers: str) -> httpx.Response:
        sent = {"x-api-key": key, "anthropic-version": "2023-06-01", **headers}
        return self.http.post("/v1/messages", json=body, headers=sent)


def issue_keys(registry: RegistryService, admin: Operator, second: Operator) -> Keys:
    public, app = registry.create_org(admin, name="Public Org", kind="public", tier="public")
    registry.decide(admin, app.id, decision="approve", reason="test")
    partner, app = registry.create_org(admin, name="Partner Org", kind="partner", tier="partner")
    registry.decide(admin, app.id, decision="approve", reason="test")
    registry.decide(second, app.id, decision="approve", reason="test")
    return Keys(
        public=registry.issue_key(admin, public.id, purposes=["general"]).secret,
        partner=registry.issue_key(
            admin, partner.id, purposes=["vuln-detection", "remediation"]
        ).secret,
        partner_one=registry.issue_key(admin, partner.id, purposes=["vuln-detection"]).secret,
    )


def openai_error(response: httpx.Response, status: int, code: str | None = None) -> Any:
    """The OpenAI error object, and nothing internal in it."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"message", "type", "param", "code"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code, body
    assert "Traceback" not in response.text and 'File "' not in response.text
    return body["error"]


def anthropic_error(response: httpx.Response, status: int, kind: str | None = None) -> Any:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == "error", body
    assert set(body["error"]) == {"type", "message"}, body
    if kind is not None:
        assert body["error"]["type"] == kind, body
    assert "Traceback" not in response.text and 'File "' not in response.text
    return body["error"]


@contextmanager
def mounted(swappable: Any, app: Any) -> Iterator[None]:
    swappable.target = app
    try:
        yield
    finally:
        # A handler may still be settling with the ledger and recording after its client
        # saw the response (as under uvicorn, which drains them before the lifespan ends):
        # the test's database must outlive it.
        if hasattr(swappable, "wait_idle"):
            swappable.wait_idle()
        swappable.target = None


class Swappable:
    def __init__(self) -> None:
        self.target: Any = None
        self._active = 0
        self._idle = threading.Condition()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert self.target is not None, "no app mounted for this test"
        with self._idle:
            self._active += 1
        try:
            await self.target(scope, receive, send)
        finally:
            with self._idle:
                self._active -= 1
                self._idle.notify_all()

    def wait_idle(self, timeout: float = 30) -> None:
        with self._idle:
            assert self._idle.wait_for(lambda: self._active == 0, timeout), "requests in flight"


def start_gateway(
    settings: Settings,
    db: Database,
    registry: RegistryService,
    clock: Any,
    enclave_server: tuple[str, Any, Swappable],
    **kwargs: Any,
) -> tuple[ClientApi, Any]:
    url, server, swappable = enclave_server
    runtime = Runtime(settings=settings, db=db, registry=registry)
    providers = build_providers(settings, environ=UPSTREAM_KEYS, demo_delay=0)
    # The shipped classifier, as `enclave serve` loads it (ClientApi.build); a test may
    # pass its own (or None for a gateway without safeguards).
    kwargs.setdefault("safeguards", Safeguards.load(settings.safeguards))
    policy = PolicyEngine.from_settings(settings)
    # The monitor as ClientApi.build composes it, on the test's clock (hold timeouts).
    kwargs.setdefault("monitor", build_monitor(settings, db, policy=policy, clock=clock))
    kwargs.setdefault("hold_poll", 0.01)
    # The ledger as ClientApi.build composes it (on by default: fail closed), on the
    # test's clock; in-process rate limits unless the settings name Redis.
    kwargs.setdefault(
        "ledger",
        CreditsLedger(
            open_ledger(db, settings, clock=clock),
            open_rate_limiter(settings),
            settings,
            lanes=db.lanes,
        ),
    )
    client = ClientApi(
        runtime,
        policy=policy,
        providers=providers,
        clock=clock,
        install_signals=False,
        freeze_gc=False,  # a test process builds many apps: freezing would keep them all
        **kwargs,
    )
    # As `enclave serve` mounts it: the model calls ahead of the framework.
    return client, ModelCalls(build_app(runtime, client=client))


def run_gateway(
    settings: Settings,
    db: Database,
    registry: RegistryService,
    admin: Operator,
    second_admin: Operator,
    clock: Any,
    enclave_server: tuple[str, Any, Swappable],
    upstream: Any,
    **kwargs: Any,
) -> Iterator[Gateway]:
    url, server, swappable = enclave_server
    client, app = start_gateway(settings, db, registry, clock, enclave_server, **kwargs)
    keys = issue_keys(registry, admin, second_admin)
    if isinstance(client.ledger, CreditsLedger):
        fund_orgs(db, settings, admin)
    handle = Gateway(url, client, server.loop, registry, admin, keys, db, upstream, swappable)
    handle.run(client.start())
    try:
        with mounted(swappable, app), httpx.Client(base_url=url, timeout=30) as http:
            handle.http = http
            yield handle
    finally:
        handle.run(client.close())


# SDK clients made by the tests, closed after each test (conftest.close_sdk_clients): one
# left to the garbage collector leaks its socket into a later test as a ResourceWarning,
# an error under -W error, whichever test happens to be running then.
_SDK_CLIENTS: list[Any] = []


def sdk_openai(gateway: Gateway, key: str | None = None, **kwargs: Any) -> openai.OpenAI:
    client = openai.OpenAI(
        base_url=f"{gateway.url}/v1", api_key=key or gateway.keys.public, max_retries=0, **kwargs
    )
    _SDK_CLIENTS.append(client)
    return client


def sdk_anthropic(gateway: Gateway, key: str | None = None, **kwargs: Any) -> anthropic.Anthropic:
    client = anthropic.Anthropic(
        base_url=gateway.url, api_key=key or gateway.keys.public, max_retries=0, **kwargs
    )
    _SDK_CLIENTS.append(client)
    return client


def close_sdk_clients() -> None:
    while _SDK_CLIENTS:
        _SDK_CLIENTS.pop().close()


__all__ = [
    "close_sdk_clients",
    "sdk_anthropic",
    "sdk_openai",
    "GRANT",
    "HANG_CHUNKS",
    "PRICE",
    "UPSTREAM_KEYS",
    "FakeUpstream",
    "Gateway",
    "Keys",
    "State",
    "Swappable",
    "anthropic_error",
    "fund_orgs",
    "gateway_config",
    "issue_keys",
    "mounted",
    "openai_error",
    "run_gateway",
    "start_gateway",
    "serve_in_thread",
]
