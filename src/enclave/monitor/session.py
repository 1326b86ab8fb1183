"""What the gateway knows about a session when it asks the monitor about a call."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from enclave.monitor.interface import MonitorInputError, SessionId
from enclave.monitor.scope import Scope
from enclave.registry import Principal

MAX_CLIENT_SESSION_ID = 200


def session_id_for(org_id: str, client_session_id: str) -> SessionId:
    """Clients name their sessions (X-Enclave-Session); two organisations may pick the same
    name, so the monitor's id is bound to the organisation."""
    digest = hashlib.sha256(f"{org_id}\x00{client_session_id}".encode()).hexdigest()
    return SessionId("ses_" + digest[:24])


def check_client_session_id(value: str) -> str:
    value = value.strip()
    if not value or len(value) > MAX_CLIENT_SESSION_ID:
        raise MonitorInputError(
            f"session id must be 1 to {MAX_CLIENT_SESSION_ID} characters",
            hint="send X-Enclave-Session: <your session name>",
        )
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise MonitorInputError("session id contains control characters")
    return value


@dataclass(frozen=True, slots=True)
class SessionContext:
    session_id: SessionId
    client_session_id: str
    org_id: str
    key_id: str
    tier: str
    purpose: str
    scope: Scope
    principal: Principal | None = None
    model: str = ""
    variant: str = ""

    @classmethod
    def for_principal(
        cls,
        principal: Principal,
        *,
        client_session_id: str,
        purpose: str,
        scope_entries: Sequence[str] = (),
        model: str = "",
        variant: str = "",
    ) -> SessionContext:
        """``scope_entries`` are the key's live verified assets in the monitor's entry syntax
        (enclave.assets: AssetService.scope_entries_for_key), read per call so that a lapsed
        or revoked asset is out of scope on the next request. An entry the monitor cannot
        read covers nothing (fail closed) rather than failing every call of the key."""
        client = check_client_session_id(client_session_id)
        return cls(
            session_id=session_id_for(principal.org.id, client),
            client_session_id=client,
            org_id=principal.org.id,
            key_id=principal.key.id,
            tier=principal.tier,
            purpose=purpose,
            scope=Scope.parse(scope_entries, strict=False),
            principal=principal,
            model=model,
            variant=variant,
        )


__all__ = ["SessionContext", "check_client_session_id", "session_id_for"]
