"""Anthropic Messages upstreams: POST {base_url}/messages, x-api-key, anthropic-version."""

from __future__ import annotations

from enclave.gateway.providers._http import HttpProvider
from enclave.gateway.providers.base import UpstreamCall

# The API version the gateway speaks when the client names none
# (https://docs.anthropic.com/en/api/versioning).
DEFAULT_VERSION = "2023-06-01"


class AnthropicProvider(HttpProvider):
    kind = "anthropic"
    path = "/messages"

    def headers(self, call: UpstreamCall) -> dict[str, str]:
        headers = {
            "content-type": "application/json",
            "accept": "text/event-stream" if call.stream else "application/json",
            "anthropic-version": DEFAULT_VERSION,
        }
        headers.update(call.headers)  # the client's anthropic-version / anthropic-beta
        if self.api_key:
            headers["x-api-key"] = self.api_key
        return headers


__all__ = ["DEFAULT_VERSION", "AnthropicProvider"]
