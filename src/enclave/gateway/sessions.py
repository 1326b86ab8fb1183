"""Agent sessions: one id across the many API calls of one conversation.

A client names its session with ``X-Enclave-Session``. When it does not, the gateway
derives a stable id from the conversation's opening (the system prompt and the first
user message): every later call of the same conversation repeats that opening, so it
gets the same id. The organisation is part of the hash, so two organisations opening
with the same words never share a session. The id is returned in the response header
``X-Enclave-Session`` either way, so that a client can adopt it.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import orjson

from enclave.gateway.client_errors import Api, BadRequest

HEADER = b"x-enclave-session"
_VALID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,99}$")


def parse(value: bytes) -> str:
    """A client-chosen session id, or BadRequest naming the expected form."""
    text = value.decode("latin-1")
    if not _VALID.match(text):
        raise BadRequest(
            "X-Enclave-Session must be 1-100 characters of letters, digits and . _ : @ / + = -",
            param="X-Enclave-Session",
        )
    return text


def _opening(api: Api, request: dict[str, Any]) -> list[Any]:
    messages = request.get("messages")
    messages = messages if isinstance(messages, list) else []
    opening: list[Any] = []
    if api == "anthropic":
        opening.append(request.get("system"))
        opening.extend(messages[:1])
        return opening
    # OpenAI: leading system/developer messages, up to and including the first user one.
    for message in messages:
        opening.append(message)
        if isinstance(message, dict) and message.get("role") == "user":
            break
    return opening


def derive(api: Api, org_id: str, request: dict[str, Any]) -> str:
    digest = hashlib.sha256(org_id.encode("utf-8") + b"\0" + api.encode("ascii") + b"\0")
    digest.update(orjson.dumps(_opening(api, request), option=orjson.OPT_SORT_KEYS))
    return "ses_" + digest.hexdigest()[:32]


__all__ = ["HEADER", "derive", "parse"]
