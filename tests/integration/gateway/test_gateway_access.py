"""Who may call what: keys, tiers, purposes and policy, each refusal in the native shape
and recorded, and none of them reaching the upstream."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import anthropic
import openai
import pytest
from gateway_support import Gateway, anthropic_error, openai_error

ASK = {"model": "gpt-fake", "messages": [{"role": "user", "content": "hi"}]}
ASK_CLAUDE = {
    "model": "claude-fake",
    "max_tokens": 16,
    "messages": [{"role": "user", "content": "hi"}],
}


def _last_event(gateway: Gateway) -> dict[str, Any]:
    return dict(gateway.events()[-1].event.data)


def test_tier_denied_a_model(gateway: Gateway) -> None:
    # Closed when done: an SDK client left to the garbage collector leaks its sockets
    # into a later test as a ResourceWarning (an error under -W error).
    with (
        openai.OpenAI(
            base_url=f"{gateway.url}/v1", api_key=gateway.keys.public, max_retries=0
        ) as client,
        pytest.raises(openai.PermissionDeniedError) as denied,
    ):
        client.chat.completions.create(model="partner-only", messages=ASK["messages"])
    assert "not available to the public tier" in str(denied.value)
    with (
        anthropic.Anthropic(
            base_url=gateway.url, api_key=gateway.keys.public, max_retries=0
        ) as claude,
        pytest.raises(anthropic.PermissionDeniedError),
    ):
        claude.messages.create(model="partner-only", max_tokens=8, messages=ASK["messages"])
    assert gateway.upstream.requests == []
    data = _last_event(gateway)
    assert data["outcome"] == "denied" and data["status"] == 403 and data["tier"] == "public"
    # The same public name routes partners to the full variant.
    allowed = gateway.chat(gateway.keys.partner_one, {**ASK, "model": "partner-only"})
    assert allowed.status_code == 200
    assert gateway.upstream.requests[-1].body["model"] == "fake-full"


def test_unknown_model_is_404_in_both_shapes(gateway: Gateway) -> None:
    error = openai_error(gateway.chat(gateway.keys.public, {**ASK, "model": "nope"}), 404)
    assert error["code"] == "model_not_found" and error["param"] == "model"
    anthropic_error(
        gateway.messages(gateway.keys.public, {**ASK_CLAUDE, "model": "nope"}),
        404,
        "not_found_error",
    )


@pytest.mark.parametrize(
    "model", ["http://169.254.169.254/latest", "fake-full", "../../admin", "oai/gpt-fake"]
)
def test_a_client_cannot_pick_an_upstream(gateway: Gateway, model: str) -> None:
    # Only public names from the operator's config route anywhere: not URLs, not
    # variants, not provider-prefixed names (no SSRF through the request).
    openai_error(gateway.chat(gateway.keys.partner_one, {**ASK, "model": model}), 404)
    assert gateway.upstream.requests == []


def test_purpose_not_on_key(gateway: Gateway) -> None:
    response = gateway.chat(
        gateway.keys.partner, ASK, **{"X-Enclave-Purpose": "penetration-testing"}
    )
    error = openai_error(response, 403, "purpose_not_allowed")
    assert "not on this key" in error["message"]
    assert gateway.upstream.requests == []
    data = _last_event(gateway)
    assert data["outcome"] == "denied" and data["variant"] is None


def test_purpose_required_when_the_key_has_several(gateway: Gateway) -> None:
    error = openai_error(gateway.chat(gateway.keys.partner, ASK), 400, "invalid_request")
    assert "X-Enclave-Purpose is required" in error["message"]
    assert error["param"] == "X-Enclave-Purpose"
    ok = gateway.chat(gateway.keys.partner, ASK, **{"X-Enclave-Purpose": "remediation"})
    assert ok.status_code == 200, ok.text
    assert _last_event(gateway)["purpose"] == "remediation"


def test_unknown_purpose_is_a_bad_request(gateway: Gateway) -> None:
    response = gateway.chat(gateway.keys.public, ASK, **{"X-Enclave-Purpose": "world-domination"})
    assert "unknown purpose" in openai_error(response, 400)["message"]


def test_single_purpose_key_needs_no_header(gateway: Gateway) -> None:
    assert gateway.chat(gateway.keys.public, ASK).status_code == 200
    assert _last_event(gateway)["purpose"] == "general"


def test_expired_key(gateway: Gateway, clock: Any) -> None:
    org = gateway.registry.list_orgs(gateway.admin)
    public = next(o for o in org if o.tier == "public")
    short = gateway.registry.issue_key(
        gateway.admin, public.id, purposes=["general"], expires_in=timedelta(hours=1)
    ).secret
    assert gateway.chat(short, ASK).status_code == 200  # cached as valid now
    clock.advance(hours=2)
    error = openai_error(gateway.chat(short, ASK), 401, "invalid_api_key")
    assert "expired" in error["message"]
    anthropic_error(gateway.messages(short, ASK_CLAUDE), 401, "authentication_error")
    assert len(gateway.upstream.requests) == 1


def test_revocation_takes_effect_on_the_next_request(gateway: Gateway) -> None:
    assert gateway.chat(gateway.keys.public, ASK).status_code == 200
    assert gateway.chat(gateway.keys.public, ASK).status_code == 200
    assert gateway.client.auth.hits >= 1  # the second request was served from the cache
    prefix = gateway.keys.public.split("_")[1]
    gateway.registry.revoke_key(gateway.admin, prefix, reason="compromised")
    error = openai_error(gateway.chat(gateway.keys.public, ASK), 401)
    assert "revoked" in error["message"]


def test_suspended_organisation_is_refused_on_the_next_request(gateway: Gateway) -> None:
    assert gateway.chat(gateway.keys.partner_one, ASK).status_code == 200
    partner = next(o for o in gateway.registry.list_orgs(gateway.admin) if o.tier == "partner")
    gateway.registry.set_status(gateway.admin, partner.id, "suspended", reason="incident")
    error = openai_error(gateway.chat(gateway.keys.partner_one, ASK), 401)
    assert "not active" in error["message"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer not-a-key"},
        {"Authorization": "Bearer enc_aaaaaaaaaaaa_" + "A" * 43},
    ],
    ids=["missing", "basic", "malformed", "unknown"],
)
def test_bad_credentials_are_401(gateway: Gateway, headers: dict[str, str]) -> None:
    response = gateway.http.post("/v1/chat/completions", json=ASK, headers=headers)
    openai_error(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert gateway.upstream.requests == []
    assert _last_event(gateway)["outcome"] == "unauthenticated"
    assert gateway.events()[-1].event.actor == "anonymous"


def test_two_different_keys_are_refused(gateway: Gateway) -> None:
    response = gateway.http.post(
        "/v1/chat/completions",
        json=ASK,
        headers={
            "Authorization": f"Bearer {gateway.keys.public}",
            "x-api-key": gateway.keys.partner,
        },
    )
    openai_error(response, 400)


def test_policy_decision_is_recorded(gateway: Gateway) -> None:
    assert gateway.chat(gateway.keys.public, ASK).status_code == 200
    decision = _last_event(gateway)["decision"]
    assert decision == {
        "allowed": True,
        "advice": "allow",
        "policies": ["invoke-entitled"],
        "errors": [],
    }


def test_model_served_through_the_other_api_is_refused(gateway: Gateway) -> None:
    # claude-fake routes to an Anthropic upstream: no silent translation.
    error = openai_error(gateway.chat(gateway.keys.public, {**ASK, "model": "claude-fake"}), 400)
    assert "/v1/messages" in error["message"]
