"""From a :class:`PolicyRequest` to the Cedar request and entities the policies read.

Everything a policy can read passes through :class:`Facts` first: the Cedar request is
built from a ``Facts`` alone and the entities from its ``Subject`` plus the static tier
table. That is what makes the decision cache in ``service.py`` sound: two requests with
equal ``Facts`` give Cedar byte-identical input. A new attribute in the schema therefore
needs a field here, or it cannot be provided at all.

The entity hierarchy (schema.cedarschema): ``Key in Organisation in Tier``; a key's
``purposes`` are ``Purpose`` entities and its ``scope`` ``Asset`` entities; the resource
of ``invoke`` is the ``ModelVariant`` the gateway routed to.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from enclave.config import TierConfig
from enclave.errors import InputError
from enclave.policy.interface import PolicyRequest

ACTIONS = ("invoke", "tool_call")
# Context attributes beyond purpose and session_id, with the value the policies see when
# the gateway does not supply one (no safeguards verdict yet: nothing found).
CONTEXT_DEFAULTS: Mapping[str, object] = {"risk_category": "none", "risk_score": 0}
NO_RISK = "none"
_MAX_TEXT = 1024  # bounds the memory a cached decision can hold


class PolicyInputError(InputError):
    """A request the policy engine cannot evaluate: an undeclared action or context
    attribute, or a value of the wrong type. ``decide`` turns it into a denial."""

    code = "policy_input_invalid"


@dataclass(frozen=True, slots=True)
class Subject:
    """Who calls: the principal's entities (Key, Organisation), cached per subject."""

    key_id: str
    key_purposes: tuple[str, ...]
    key_scope: tuple[str, ...]
    org_id: str
    org_kind: str
    org_sector: str
    tier: str


@dataclass(frozen=True, slots=True)
class Facts:
    """Every input a policy can read; hashable, and the cache key of decisions."""

    subject: Subject
    action: str
    variant: str
    model: str
    purpose: str
    session_id: str
    risk_category: str
    risk_score: str  # the Cedar decimal literal, 4 places: what the policies compare


def decimal_text(value: object) -> str:
    """A risk score as Cedar's ``decimal`` sees it (at most 4 fractional digits)."""
    if type(value) is float and 0.0 <= value <= 1.0:  # the hot path; NaN fails the test
        return f"{value:.4f}"
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise PolicyInputError(f"risk_score must be a number in [0, 1], not {value!r}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise PolicyInputError(f"risk_score must be a number in [0, 1], not {value!r}") from None
    if not number.is_finite() or not 0 <= number <= 1:
        raise PolicyInputError(f"risk_score must be a number in [0, 1], not {value!r}")
    return f"{number.quantize(Decimal('0.0001')):f}"


def _text(name: str, value: object) -> str:
    if not isinstance(value, str) or len(value) > _MAX_TEXT:
        raise PolicyInputError(f"{name} must be a string of at most {_MAX_TEXT} characters")
    return value


def facts_for(request: PolicyRequest, tiers: Collection[str]) -> Facts:
    """The Facts of a request, or PolicyInputError saying what cannot be evaluated."""
    if request.action not in ACTIONS:
        raise PolicyInputError(
            f"unknown action {request.action!r}; the schema declares {', '.join(ACTIONS)}"
        )
    unknown = sorted(set(request.context) - set(CONTEXT_DEFAULTS))
    if unknown:
        raise PolicyInputError(
            f"context attribute(s) {unknown} are not declared in the policy schema; "
            f"expected {', '.join(CONTEXT_DEFAULTS)}"
        )
    key, org = request.principal.key, request.principal.org
    if org.tier not in tiers:
        raise PolicyInputError(f"tier {org.tier!r} of organisation {org.id} is not configured")
    category = request.context.get("risk_category", CONTEXT_DEFAULTS["risk_category"])
    score = request.context.get("risk_score", CONTEXT_DEFAULTS["risk_score"])
    return Facts(
        subject=Subject(
            key_id=key.id,
            key_purposes=key.purposes,
            key_scope=tuple(key.scope),
            org_id=org.id,
            org_kind=org.kind.value,
            org_sector=org.sector,
            tier=org.tier,
        ),
        action=request.action,
        variant=_text("variant", request.variant),
        model=_text("model", request.model),
        purpose=_text("purpose", request.purpose),
        session_id=_text("session_id", request.session_id),
        risk_category=_text("risk_category", category),
        risk_score=decimal_text(score),
    )


def _ref(kind: str, uid: str) -> dict[str, Any]:
    return {"__entity": {"type": kind, "id": uid}}


def tier_entities(tiers: Mapping[str, TierConfig]) -> list[dict[str, Any]]:
    """The static part of every entity set: one Tier per configured tier."""
    return [
        {
            "uid": {"type": "Tier", "id": name},
            "attrs": {
                "purposes": [_ref("Purpose", p) for p in tier.purposes],
                "models": [m for m in tier.models if m != "*"],
                "all_models": "*" in tier.models,
            },
            "parents": [],
        }
        for name, tier in tiers.items()
    ]


def subject_entities(subject: Subject) -> list[dict[str, Any]]:
    """The principal's entities. Purposes and assets are referenced, not listed: they
    have no attributes or parents, and Cedar compares references without them."""
    return [
        {
            "uid": {"type": "Organisation", "id": subject.org_id},
            "attrs": {"kind": subject.org_kind, "sector": subject.org_sector},
            "parents": [{"type": "Tier", "id": subject.tier}],
        },
        {
            "uid": {"type": "Key", "id": subject.key_id},
            "attrs": {
                "organisation": _ref("Organisation", subject.org_id),
                "tier": _ref("Tier", subject.tier),
                "purposes": [_ref("Purpose", p) for p in subject.key_purposes],
                "scope": [_ref("Asset", a) for a in subject.key_scope],
            },
            "parents": [{"type": "Organisation", "id": subject.org_id}],
        },
    ]


def resource_entities(facts: Facts) -> list[dict[str, Any]]:
    return [
        {
            "uid": {"type": "ModelVariant", "id": facts.variant},
            "attrs": {"name": facts.variant, "model": facts.model},
            "parents": [],
        }
    ]


def cedar_request(facts: Facts) -> dict[str, Any]:
    return {
        "principal": {"type": "Key", "id": facts.subject.key_id},
        "action": {"type": "Action", "id": facts.action},
        "resource": {"type": "ModelVariant", "id": facts.variant},
        "context": {
            "purpose": _ref("Purpose", facts.purpose),
            "session_id": facts.session_id,
            "risk_category": facts.risk_category,
            "risk_score": {"__extn": {"fn": "decimal", "arg": facts.risk_score}},
        },
    }


__all__ = [
    "ACTIONS",
    "CONTEXT_DEFAULTS",
    "NO_RISK",
    "Facts",
    "PolicyInputError",
    "Subject",
    "cedar_request",
    "decimal_text",
    "facts_for",
    "resource_entities",
    "subject_entities",
    "tier_entities",
]
