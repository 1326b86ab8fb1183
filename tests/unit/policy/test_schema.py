"""The schema is the contract between entities.py and the policies: what the code builds
validates against it, and it declares exactly what the code provides."""

from __future__ import annotations

import cedarpy
import orjson
import pytest
from policy_helpers import make_principal, make_request

from enclave.config import Settings
from enclave.policy import ACTIONS, CONTEXT_DEFAULTS, schema_text
from enclave.policy.entities import (
    cedar_request,
    facts_for,
    resource_entities,
    subject_entities,
    tier_entities,
)

SCHEMA = cedarpy.Schema.from_str(schema_text())


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize(
    "principal",
    [
        make_principal(),
        make_principal("partner", ("vuln-detection", "remediation"), scope=("repo:a", "host:b")),
    ],
)
def test_built_entities_and_requests_conform_to_the_schema(principal, action) -> None:  # type: ignore[no-untyped-def]
    settings = Settings()
    facts = facts_for(
        make_request(principal, action=action, risk_category="malware", risk_score=0.25),
        settings.tiers,
    )
    entities = (
        tier_entities(settings.tiers) + subject_entities(facts.subject) + resource_entities(facts)
    )
    # Cedar validates the entities against the schema and, given the schema,
    # the request (principal, action, resource types and every context attribute).
    handle = cedarpy.Entities.from_json_str(orjson.dumps(entities).decode(), SCHEMA)
    result = cedarpy.is_authorized(
        cedar_request(facts), "permit (principal, action, resource);", handle, schema=SCHEMA
    )
    assert result.allowed, result.diagnostics.errors
    assert result.diagnostics.errors == []


def test_the_schema_declares_what_entities_py_provides() -> None:
    text = str(SCHEMA)
    for action in ACTIONS:
        assert f'action "{action}" appliesTo' in text
    context = text.split("type RequestContext = {", 1)[1].split("};", 1)[0]
    declared = {line.strip().split(":")[0] for line in context.strip().splitlines()}
    assert declared == {"purpose", "session_id", *CONTEXT_DEFAULTS}
