"""What the gateway needs from a model provider, whatever it is.

An adapter sends one prepared request (the client's body with the model replaced by the
routed variant) and hands back the upstream's status, headers and body, read whole or
chunk by chunk. It never translates between the two APIs: a route whose provider does
not speak the client's API is refused by the router before anything is sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from enclave.gateway.client_errors import Api


@dataclass(frozen=True, slots=True)
class UpstreamCall:
    api: Api
    body: bytes  # JSON; "model" is already the routed variant
    stream: bool
    # Client headers the upstream API defines and the gateway forwards (lower-case):
    # anthropic-version and anthropic-beta. Nothing else of the client's reaches upstream.
    headers: tuple[tuple[str, str], ...] = ()


class UpstreamReply(Protocol):
    """One upstream response, after its status line and headers arrived."""

    status: int
    content_type: bytes
    # Headers worth passing back to the client (retry-after on 429).
    passthrough: tuple[tuple[bytes, bytes], ...]

    async def read(self) -> bytes:
        """The whole body (non-streaming requests and error responses)."""
        ...

    def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives, for streams."""
        ...

    async def release(self) -> None:
        """Done with a fully read body: the connection may be reused."""
        ...

    def abort(self) -> None:
        """Stop now (the client went away): close the connection, which cancels the
        upstream request."""
        ...


class Provider(Protocol):
    name: str
    kind: str  # "openai" | "anthropic" | "demo"
    # Whether OpenAI-shaped streams may be asked for usage (stream_options.include_usage).
    stream_usage: bool

    def speaks(self, api: Api) -> bool: ...

    async def start(self) -> None:
        """Open connection pools (inside the running event loop)."""
        ...

    async def send(self, call: UpstreamCall) -> UpstreamReply:
        """Send the request; raise UpstreamError or UpstreamTimeout when no response came."""
        ...

    async def close(self) -> None: ...


__all__ = ["Provider", "UpstreamCall", "UpstreamReply"]
