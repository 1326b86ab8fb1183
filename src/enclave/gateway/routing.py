"""Routing: a public model name and the caller's tier -> model variant -> provider.

The same public name can send partners to the full model and the public to a
safeguarded variant, or be unavailable to a tier (no route). Routes are data from
Settings.models; in demo mode (no provider configured) there is one model, ``demo``,
for every tier.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from enclave.config import Settings
from enclave.config.gateway import DEMO
from enclave.gateway.client_errors import (
    Api,
    BadRequest,
    ModelNotAvailable,
    ModelNotFound,
)
from enclave.gateway.providers.base import Provider


@dataclass(frozen=True, slots=True)
class Route:
    model: str  # the public name the client asked for
    variant: str  # what the provider is asked for, and what policy decides on
    provider: Provider


@dataclass(frozen=True, slots=True)
class ModelInfo:
    id: str
    description: str


class Router:
    def __init__(self, settings: Settings, providers: Mapping[str, Provider]) -> None:
        self._routes: dict[str, dict[str, Route]] = {}
        self._descriptions: dict[str, str] = {}
        if not settings.providers:
            demo = providers[DEMO]
            self._routes[DEMO] = {tier: Route(DEMO, DEMO, demo) for tier in settings.tiers}
            self._descriptions[DEMO] = "Enclave's built-in demo model (canned answers, offline)"
        for name, model in settings.models.items():
            routes: dict[str, Route] = {}
            for tier, route in model.tiers.items():
                allowed = settings.tiers[tier].models
                # The tier table may narrow further: "*" or the model's or variant's name.
                if "*" in allowed or name in allowed or route.variant in allowed:
                    routes[tier] = Route(name, route.variant, providers[route.provider])
            self._routes[name] = routes
            self._descriptions[name] = model.description
        self._listing: dict[str, tuple[ModelInfo, ...]] = {
            tier: tuple(
                ModelInfo(name, self._descriptions[name])
                for name, routes in sorted(self._routes.items())
                if tier in routes
            )
            for tier in settings.tiers
        }

    @property
    def providers(self) -> tuple[Provider, ...]:
        unique = {id(r.provider): r.provider for t in self._routes.values() for r in t.values()}
        return tuple(unique.values())

    def resolve(self, model: str, tier: str, api: Api) -> Route:
        routes = self._routes.get(model)
        if routes is None:
            raise ModelNotFound(
                f"model {model!r} does not exist",
                hint="GET /v1/models lists the models your key may use",
                param="model",
            )
        route = routes.get(tier)
        if route is None:
            raise ModelNotAvailable(
                f"model {model!r} is not available to the {tier} tier",
                hint="GET /v1/models lists the models your key may use",
                param="model",
            )
        if not route.provider.speaks(api):
            # No translation between the two APIs: it would change what clients get.
            other = "/v1/chat/completions" if api == "anthropic" else "/v1/messages"
            raise BadRequest(
                f"model {model!r} is served through the other API for your tier",
                hint=f"call {other}",
                param="model",
            )
        return route

    def models_for(self, tier: str) -> tuple[ModelInfo, ...]:
        return self._listing.get(tier, ())


__all__ = ["ModelInfo", "Route", "Router"]
