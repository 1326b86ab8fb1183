"""What the governed path needs from its other stages, as Protocols.

The gateway calls these at fixed points of every model call (see enclave.gateway.pipeline):

    auth -> purpose, session -> safeguards.classify_request -> policy.decide
         -> ledger.reserve -> upstream -> ledger.post (or ledger.void when nothing was
         delivered) -> record

``PolicyDecider`` is implemented by enclave.policy.PolicyEngine, ``Safeguards`` by
enclave.safeguards.Safeguards (issue 6). ``Ledger`` (issue 4) is implemented by
enclave.gateway.credits.CreditsLedger over enclave.ledger, built by ClientApi.build. A
gateway built without one of them says so in the request events (``screened``/``charged``
false) rather than pretending.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from enclave.gateway.client_errors import Api
from enclave.gateway.streaming import Usage
from enclave.policy.interface import PolicyDecision, PolicyRequest
from enclave.registry import Principal
from enclave.safeguards.interface import Verdict


class PolicyDecider(Protocol):
    def decide(self, request: PolicyRequest) -> PolicyDecision: ...


class Safeguards(Protocol):
    """The conversation classifier (enclave.safeguards.Safeguards; docs/safeguards.md)."""

    def classify_request(self, body: Mapping[str, Any], api: Api) -> Verdict:
        """The fast classifier alone: synchronous, no I/O, 0.1-0.3 ms."""
        ...

    def needs_judge(self, verdict: Verdict) -> bool:
        """Whether an escalation judge is configured and ``verdict`` is uncertain."""
        ...

    async def assess_request(self, body: Mapping[str, Any], api: Api, tier: str) -> Verdict:
        """Classify, then ask the judge when configured and uncertain."""
        ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Charge:
    """A model call about to be sent, for the ledger to reserve against."""

    request_id: str
    principal: Principal
    model: str
    variant: str
    request: Mapping[str, Any]  # the parsed body (max_tokens, messages) for the estimate
    request_bytes: int
    api: Api = "openai"  # whose usage vocabulary the settlement speaks


@dataclass(frozen=True, slots=True)
class Settlement:
    """What was actually delivered: the upstream's usage when it reported it, else the
    counts the gateway made of a stream cut short."""

    usage: Usage | None
    outcome: str
    delivered: Mapping[str, int] = field(default_factory=dict)


class Reservation(Protocol):
    id: str


class Ledger(Protocol):
    async def reserve(self, charge: Charge) -> Reservation:
        """Pending transfer for the most the call can cost; raise an EnclaveError with
        status 402/429 to refuse."""
        ...

    async def confirm(self, reservation: Reservation) -> None:
        """Wait until the reservation is committed; raise the refusal (402) if it was not.
        Called before the first byte of the answer goes to the client: a reservation
        may commit while its upstream call runs (docs/credits.md, "Overlapped
        reservations")."""
        ...

    async def post(self, reservation: Reservation, settlement: Settlement) -> int | None:
        """Charge what was delivered; the amount charged, when the ledger knows it."""
        ...

    async def void(self, reservation: Reservation, reason: str) -> None: ...

    async def checkpoint(self, reservation: Reservation, settlement: Settlement) -> None:
        """Record the usage so far of a stream still running, so that a crash of the
        gateway does not make it free (docs/credits.md, "Usage checkpoints"). Must not
        raise: a failed checkpoint only weakens the crash contract, never the stream."""
        ...


__all__ = [
    "Charge",
    "Ledger",
    "PolicyDecider",
    "Reservation",
    "Safeguards",
    "Settlement",
]
