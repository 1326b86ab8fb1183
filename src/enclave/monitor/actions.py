"""From alerts to an action: the documented table, or the Cedar policies.

The table (the default, ``monitor.actions = "table"``) is the issue's shipped policy:

| tier                  | every category | sandbox-escape, exfiltration, public-disclosure |
| --------------------- | -------------- | ----------------------------------------------- |
| partner, maintainer   | flag           | hold                                            |
| operator              | flag           | flag                                            |
| public                | block          | block                                           |
| any other tier        | block          | block (fail closed: an unknown tier is not vetted) |

With ``monitor.actions = "cedar"`` each alert is put to the policy engine as action
``tool_call`` with ``context.risk_category`` = the alert's category and
``context.risk_score`` = its severity (SEVERITY_SCORE). Those are the context names the
policy schema declares today; the policy owner may add dedicated ``alert_category`` /
``alert_severity`` attributes later, and only this adapter changes. A permit's advice
(allow | flag | hold) or a forbid's (hold | block | terminate) is the action; a default
deny (no tool_call policy matches) is ``block``: fail closed.

A tool call's action is the most severe over its alerts; a call without alerts is
allowed. The session's own state (held, terminated) is applied by the service.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from enclave.monitor.interface import Action, Category, RuleMatch, Severity
from enclave.monitor.session import SessionContext
from enclave.policy import PolicyEngine, PolicyRequest

HOLD_CATEGORIES = frozenset(
    {Category.SANDBOX_ESCAPE, Category.EXFILTRATION, Category.PUBLIC_DISCLOSURE}
)
SEVERITY_SCORE: Mapping[Severity, str] = {
    Severity.INFORMATIONAL: "0.1000",
    Severity.LOW: "0.2500",
    Severity.MEDIUM: "0.5000",
    Severity.HIGH: "0.7500",
    Severity.CRITICAL: "1.0000",
}


class ActionDecider(Protocol):
    def decide(self, ctx: SessionContext, match: RuleMatch) -> Action: ...


class TableActions:
    """The documented table (module docstring)."""

    def decide(self, ctx: SessionContext, match: RuleMatch) -> Action:
        tier = ctx.tier
        if tier in ("partner", "maintainer"):
            return Action.HOLD if match.category in HOLD_CATEGORIES else Action.FLAG
        if tier == "operator":
            return Action.FLAG
        return Action.BLOCK


class CedarActions:
    """Ask the Cedar policies (module docstring). Without a principal (a replay, an
    evaluation) there is nothing to ask about: the table answers."""

    def __init__(self, engine: PolicyEngine) -> None:
        self._engine = engine
        self._fallback = TableActions()

    def decide(self, ctx: SessionContext, match: RuleMatch) -> Action:
        if ctx.principal is None:
            return self._fallback.decide(ctx, match)
        decision = self._engine.decide(
            PolicyRequest(
                principal=ctx.principal,
                action="tool_call",
                model=ctx.model,
                variant=ctx.variant,
                purpose=ctx.purpose,
                session_id=ctx.client_session_id,
                context={
                    "risk_category": match.category.value,
                    "risk_score": SEVERITY_SCORE[match.severity],
                },
            )
        )
        return Action(decision.advice.value)


def strongest(actions: Sequence[Action]) -> Action:
    return max(actions, key=lambda a: a.rank, default=Action.ALLOW)


__all__ = [
    "HOLD_CATEGORIES",
    "SEVERITY_SCORE",
    "ActionDecider",
    "CedarActions",
    "TableActions",
    "strongest",
]
