"""OpenAI-compatible upstreams: POST {base_url}/chat/completions, Bearer key."""

from __future__ import annotations

from enclave.gateway.providers._http import HttpProvider
from enclave.gateway.providers.base import UpstreamCall


class OpenAIProvider(HttpProvider):
    kind = "openai"
    path = "/chat/completions"

    def headers(self, call: UpstreamCall) -> dict[str, str]:
        headers = {
            "content-type": "application/json",
            "accept": "text/event-stream" if call.stream else "application/json",
        }
        if self.api_key:
            headers["authorization"] = f"Bearer {self.api_key}"
        return headers


__all__ = ["OpenAIProvider"]
