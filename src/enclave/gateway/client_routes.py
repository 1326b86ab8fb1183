"""The client APIs' routes and their composition: what app.py mounts.

    POST /v1/chat/completions   OpenAI Chat Completions (enclave.gateway.pipeline)
    POST /v1/messages           Anthropic Messages
    GET  /v1/models[/{id}]      the models the caller's tier may use, in either shape
    GET  /v1/enclave/tiers      public: per tier, what the policies block, flag, allow
    POST /v1/enclave/tool-check may a harness execute this tool call? (the monitor)
    GET  /metrics               Prometheus exposition
    *    /v1/...                anything else: a native 404

Every route is a plain ASGI callable (not a FastAPI endpoint): see pipeline.py for why.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import orjson
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from enclave.clock import Clock, utcnow
from enclave.errors import EnclaveError
from enclave.gateway import sessions
from enclave.gateway.auth import Authenticator
from enclave.gateway.client_errors import (
    Api,
    BadRequest,
    InvalidBody,
    MethodNotAllowed,
    ModelNotFound,
    UnknownEndpoint,
    api_for,
    error_app,
)
from enclave.gateway.credits import CreditsLedger
from enclave.gateway.metrics import GatewayMetrics
from enclave.gateway.pipeline import Pipeline
from enclave.gateway.providers import Provider, build_providers
from enclave.gateway.recorder import Recorder
from enclave.gateway.routing import ModelInfo, Router
from enclave.gateway.seams import Ledger, Safeguards
from enclave.gateway.tiers import TiersPage
from enclave.gateway.validation import parse_body
from enclave.monitor import MonitorService
from enclave.policy import PolicyEngine, ReloadHook, install_sighup_reload
from enclave.runtime import Runtime
from enclave.safeguards import Safeguards as SafeguardsService
from enclave.store.driver import EventLog
from enclave.store.key_rows import KeyRows
from enclave.store.monitor_repo import build_monitor

logger = logging.getLogger("enclave.gateway")

ASGIHandler = Callable[[Scope, Receive, Send], Awaitable[None]]
_JSON_ROUTES = frozenset({"/v1/chat/completions", "/v1/messages", "/v1/enclave/tool-check"})
# A fixed creation time for listed models: the gateway does not know when an upstream
# model was made, and a changing value would only mislead.
_CREATED = 1_735_689_600  # 2025-01-01T00:00:00Z


class _Asgi:
    """Marks a callable as an ASGI app for Starlette's Route (which would otherwise wrap
    a bound method as a request/response endpoint)."""

    __slots__ = ("_handler",)

    def __init__(self, handler: ASGIHandler) -> None:
        self._handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._handler(scope, receive, send)


async def _json(send: Send, body: Any, status: int = 200) -> None:
    data = orjson.dumps(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(data)),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


def _openai_model(info: ModelInfo) -> dict[str, Any]:
    return {"id": info.id, "object": "model", "created": _CREATED, "owned_by": "enclave"}


def _anthropic_model(info: ModelInfo) -> dict[str, Any]:
    return {
        "type": "model",
        "id": info.id,
        "display_name": info.description or info.id,
        "created_at": "2025-01-01T00:00:00Z",
    }


class ClientApi:
    """The gateway's client side, built once per app; :meth:`lifespan` starts and stops it."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        policy: PolicyEngine,
        providers: Mapping[str, Provider] | None = None,
        safeguards: Safeguards | None = None,
        ledger: Ledger | None = None,
        monitor: MonitorService | None = None,
        clock: Clock = utcnow,
        install_signals: bool = True,
        freeze_gc: bool = True,
        hold_poll: float = 0.1,
    ) -> None:
        settings = runtime.settings
        self.settings = settings
        self.policy = policy
        self.providers = dict(providers) if providers is not None else build_providers(settings)
        self.router = Router(settings, self.providers)
        self.key_rows = KeyRows(runtime.db.engine)
        self.auth = Authenticator(runtime.registry, self.key_rows, clock=clock)
        self.metrics = GatewayMetrics()
        bodies = settings.state_dir / "bodies" if settings.gateway.store_bodies else None
        self.recorder = Recorder(
            EventLog(runtime.db.engine),  # on the driver: store/driver.py
            batch=settings.gateway.record_batch,
            interval=settings.gateway.record_interval_ms / 1000,
            bodies_dir=bodies,
            lanes=runtime.db.lanes,
        )
        self.metrics.track_pending(lambda: self.recorder.pending)
        self.safeguards = safeguards
        categories = None
        if isinstance(safeguards, SafeguardsService):
            # The published table lists the categories the loaded classifier can name.
            categories = [str(c) for c in safeguards.taxonomy.names()]
        self.tiers = TiersPage(policy, categories)
        self.monitor = monitor
        self.ledger = ledger
        self.pipeline = Pipeline(
            settings=settings,
            auth=self.auth,
            policy=policy,
            router=self.router,
            recorder=self.recorder,
            metrics=self.metrics,
            safeguards=safeguards,
            ledger=ledger,
            monitor=monitor,
            clock=clock,
            hold_poll=hold_poll,
        )
        self._install_signals = install_signals
        self._freeze_gc = freeze_gc
        self.reload_hook: ReloadHook | None = None

    @classmethod
    def build(cls, runtime: Runtime, **kwargs: Any) -> ClientApi:
        settings = runtime.settings
        # Loaded once at start (model artefact + taxonomy, ~20 ms); a bad file is a
        # SafeguardsConfigError here, before the server accepts a request.
        kwargs.setdefault("safeguards", SafeguardsService.load(settings.safeguards))
        policy = PolicyEngine.from_settings(settings)
        kwargs.setdefault(
            "monitor",
            build_monitor(
                settings,
                runtime.db,
                policy=policy,
                scope_of=runtime.assets.scope_entries_for_key if runtime.assets else None,
            ),
        )
        # The ledger is always on when served: a request is reserved for before its
        # upstream call or refused (docs/credits.md); a variant without a price is refused.
        kwargs.setdefault("ledger", CreditsLedger.open(runtime))
        return cls(runtime, policy=policy, **kwargs)

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        if self._freeze_gc:
            # What exists now (modules, policies, settings, pools) lives as long as the
            # process. Left in the collector's generations, every full collection walks
            # it all: measured here under load, 50-160 ms pauses, which were the whole
            # p99 at 32 clients. gc.freeze() moves them "to a permanent generation and
            # ignore[s] them in all the future collections" (CPython docs, gc.freeze).
            gc.collect()
            gc.freeze()
        await self.recorder.start()
        for provider in self.providers.values():
            await provider.start()
        if isinstance(self.ledger, CreditsLedger):
            self.ledger.start()  # the sweeper: stale reservations reconciled or expired
        if self._install_signals and threading.current_thread() is threading.main_thread():
            # SIGHUP reloads the policies; the outcome is recorded like any event.
            self.reload_hook = install_sighup_reload(
                self.policy,
                state_dir=self.settings.state_dir,
                on_event=self.recorder.record,
                loop=asyncio.get_running_loop(),
            )

    async def close(self) -> None:
        if self.reload_hook is not None:
            self.reload_hook.close()
            self.reload_hook = None
        for provider in self.providers.values():
            await provider.close()
        if isinstance(self.ledger, CreditsLedger):
            await asyncio.to_thread(self.ledger.stop)  # joins a sweep under way
        if self.safeguards is not None:
            await self.safeguards.aclose()  # the judge's HTTP pool, when there is one
        # Last: every request has finished (uvicorn drains them before the lifespan
        # shutdown), so every event is queued; this writes them all.
        await self.recorder.close()
        self.key_rows.close()

    @asynccontextmanager
    async def lifespan(self, app: object) -> AsyncIterator[None]:
        await self.start()
        try:
            yield
        finally:
            await self.close()

    # -- routes ---------------------------------------------------------------------------

    def requires_json(self, scope: Scope) -> bool:
        """For RequestLimits: model calls must be application/json (else 415)."""
        return scope["method"] == "POST" and scope["path"] in _JSON_ROUTES

    def model_calls(self) -> dict[str, ASGIHandler]:
        """The model-call routes: path -> handler (the server also mounts them ahead of
        the framework: enclave.app.ModelCalls)."""
        return {
            "/v1/chat/completions": self.pipeline.chat_completions,
            "/v1/messages": self.pipeline.messages,
        }

    def routes(self) -> list[BaseRoute]:
        return [
            *(Route(path, _Asgi(handler)) for path, handler in self.model_calls().items()),
            Route("/v1/models", _Asgi(self.list_models)),
            Route("/v1/models/{model_id:path}", _Asgi(self.get_model)),
            Route("/v1/enclave/tiers", _Asgi(self.tiers_page)),
            Route("/v1/enclave/tool-check", _Asgi(self.tool_check)),
            Route("/metrics", _Asgi(self.exposition), include_in_schema=False),
            Route("/v1/{rest:path}", _Asgi(self.not_found), include_in_schema=False),
        ]

    async def _listing(self, scope: Scope) -> tuple[Api, tuple[ModelInfo, ...]]:
        if scope["method"] not in ("GET", "HEAD"):
            raise MethodNotAllowed(f"{scope['method']} is not allowed here; use GET")
        principal, _ = self.pipeline.authenticate(scope)
        return api_for(scope), self.router.models_for(principal.tier)

    async def list_models(self, scope: Scope, receive: Receive, send: Send) -> None:
        api = api_for(scope)
        try:
            api, models = await self._listing(scope)
        except EnclaveError as exc:
            await error_app(api, exc)(scope, receive, send)
            return
        if api == "anthropic":
            data = [_anthropic_model(m) for m in models]
            await _json(
                send,
                {
                    "data": data,
                    "has_more": False,
                    "first_id": data[0]["id"] if data else None,
                    "last_id": data[-1]["id"] if data else None,
                },
            )
        else:
            await _json(send, {"object": "list", "data": [_openai_model(m) for m in models]})

    async def get_model(self, scope: Scope, receive: Receive, send: Send) -> None:
        api = api_for(scope)
        wanted = scope["path_params"]["model_id"]
        try:
            api, models = await self._listing(scope)
            found = next((m for m in models if m.id == wanted), None)
            if found is None:
                raise ModelNotFound(f"model {wanted!r} does not exist or is not available")
        except EnclaveError as exc:
            await error_app(api, exc)(scope, receive, send)
            return
        await _json(send, _anthropic_model(found) if api == "anthropic" else _openai_model(found))

    async def tiers_page(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            error = MethodNotAllowed(f"{scope['method']} is not allowed here; use GET")
            await error_app(api_for(scope), error)(scope, receive, send)
            return
        body = self.tiers.body()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", b"%d" % len(body)),
                    # Public and the same for everyone; changes only on a policy reload.
                    (b"cache-control", b"public, max-age=60"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def tool_check(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``{"name": ..., "arguments": str | object, "tool_call_id"?: ...}`` with the
        session in X-Enclave-Session -> ``{"allowed", "action", "reason", "alerts"}``
        (docs/monitor.md); the same rules and session state as the model calls."""
        api = api_for(scope)
        try:
            if scope["method"] != "POST":
                raise MethodNotAllowed(f"{scope['method']} is not allowed here; use POST")
            if self.monitor is None:
                raise UnknownEndpoint("the monitor is not enabled on this gateway")
            principal, headers = self.pipeline.authenticate(scope)
            body = parse_body(await self.pipeline.read_body(receive))
            name, arguments, tool_call_id = _tool_check_fields(body)
            if headers.session is None:
                raise BadRequest(
                    "X-Enclave-Session is required: the check is made in a session",
                    param="X-Enclave-Session",
                )
            ctx = self.monitor.open_session(
                principal,
                client_session_id=sessions.parse(headers.session),
                purpose=self.pipeline.purpose(principal, headers.purpose),
            )
            check = self.monitor.tool_check(
                ctx, name=name, arguments=arguments, tool_call_id=tool_call_id
            )
        except EnclaveError as exc:
            await error_app(api, exc)(scope, receive, send)
            return
        await _json(send, check.as_json())

    async def exposition(self, scope: Scope, receive: Receive, send: Send) -> None:
        body, content_type = self.metrics.exposition()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", content_type.encode("latin-1")),
                    (b"content-length", b"%d" % len(body)),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def not_found(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = UnknownEndpoint(f"no such endpoint: {scope['method']} {scope['path']}")
        await error_app(api_for(scope), error)(scope, receive, send)


def _tool_check_fields(body: Any) -> tuple[str, str, str | None]:
    if not isinstance(body, dict):
        raise InvalidBody("the body must be a JSON object")
    name = body.get("name")
    if not isinstance(name, str) or not name or len(name) > 200:
        raise InvalidBody("name: expected the tool's name (1-200 characters)", param="name")
    arguments = body.get("arguments", "{}")
    if isinstance(arguments, dict):
        arguments = orjson.dumps(arguments).decode()
    if not isinstance(arguments, str):
        raise InvalidBody("arguments: expected a JSON object or its text", param="arguments")
    ident = body.get("tool_call_id")
    if ident is not None and (not isinstance(ident, str) or not ident or len(ident) > 200):
        raise InvalidBody("tool_call_id: expected a string", param="tool_call_id")
    return name, arguments, ident


__all__ = ["ClientApi"]
