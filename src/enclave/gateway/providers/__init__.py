"""Provider adapters: OpenAI-compatible, Anthropic, and the built-in demo."""

from __future__ import annotations

from collections.abc import Mapping

from enclave.config import Settings
from enclave.config.gateway import DEMO
from enclave.gateway.providers.anthropic import AnthropicProvider
from enclave.gateway.providers.base import Provider, UpstreamCall, UpstreamReply
from enclave.gateway.providers.demo import DemoProvider
from enclave.gateway.providers.openai import OpenAIProvider


def build_providers(
    settings: Settings, *, environ: Mapping[str, str] | None = None, demo_delay: float = 0.02
) -> dict[str, Provider]:
    """One adapter per configured provider; the demo only when none is configured, so
    that it can never answer in place of a real model."""
    if not settings.providers:
        return {DEMO: DemoProvider(delay=demo_delay)}
    built: dict[str, Provider] = {}
    for name, config in settings.providers.items():
        if config.kind == "openai":
            built[name] = OpenAIProvider(name, config, environ=environ)
        else:
            built[name] = AnthropicProvider(name, config, environ=environ)
    return built


__all__ = [
    "AnthropicProvider",
    "DemoProvider",
    "OpenAIProvider",
    "Provider",
    "UpstreamCall",
    "UpstreamReply",
    "build_providers",
]
