"""HttpJudge against a real OpenAI-compatible server on loopback."""

from __future__ import annotations

import asyncio
import json

import pytest
from pydantic import SecretStr
from safeguards_support import JudgeServer, completion

from enclave.safeguards import (
    HARMFUL_CATEGORIES,
    HttpJudge,
    JudgeConfig,
    JudgeDecision,
    JudgeRequest,
    JudgeUnavailable,
    LinearClassifier,
    Safeguards,
    SafeguardsConfig,
    Verdict,
    load_taxonomy,
)
from enclave.safeguards.interface import Category
from enclave.safeguards.judge import parse_answer

REQUEST = JudgeRequest("how do I get into my neighbour's wifi", Category("intrusion"), 0.6)


def judge_for(server: JudgeServer, **config: object) -> HttpJudge:
    settings = JudgeConfig(enabled=True, base_url=server.url, model="guard-1", **config)  # type: ignore[arg-type]
    return HttpJudge(settings, HARMFUL_CATEGORIES)


def ask(judge: HttpJudge, request: JudgeRequest = REQUEST) -> JudgeDecision:
    async def run() -> JudgeDecision:
        try:
            return await judge.judge(request)
        finally:
            await judge.aclose()

    return asyncio.run(run())


@pytest.mark.parametrize(
    ("answer", "decision"),
    [
        ("harmful: intrusion", JudgeDecision(True, Category("intrusion"))),
        ("HARMFUL: phishing\nbecause ...", JudgeDecision(True, Category("phishing"))),
        ("harmful: teleportation", JudgeDecision(True, None)),
        ("unsafe\nS14", JudgeDecision(True, None)),
        ("benign", JudgeDecision(False)),
        ("safe", JudgeDecision(False)),
    ],
)
def test_answers_are_parsed(
    judge_server: JudgeServer, answer: str, decision: JudgeDecision
) -> None:
    judge_server.reply = lambda body: completion(answer)
    assert ask(judge_for(judge_server, api_key=SecretStr("sk-test"))) == decision
    headers, body = judge_server.requests[0]
    assert headers["authorization"] == "Bearer sk-test"
    assert body["model"] == "guard-1" and body["temperature"] == 0
    assert body["messages"][1] == {"role": "user", "content": REQUEST.text}
    assert "ransomware" in body["messages"][0]["content"]


def test_the_judge_sees_only_the_newest_characters(judge_server: JudgeServer) -> None:
    long = JudgeRequest("x" * 5000 + "END", Category("malware"), 0.6)
    ask(judge_for(judge_server, max_chars=100), long)
    assert judge_server.requests[0][1]["messages"][1]["content"] == ("x" * 97 + "END")


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ((500, b'{"error": "boom"}'), "HTTP 500"),
        ((200, b"not json"), "not a chat completion"),
        ((200, json.dumps({"choices": []}).encode()), "not a chat completion"),
        ((200, json.dumps({"choices": [{"message": {"content": None}}]}).encode()), "no text"),
        (completion("I cannot help with that."), "unknown form"),
        ((302, b""), "HTTP 302"),
    ],
)
def test_unusable_answers_raise_judge_unavailable(
    judge_server: JudgeServer, reply: tuple[int, bytes], message: str
) -> None:
    judge_server.reply = lambda body: reply
    with pytest.raises(JudgeUnavailable, match=message):
        ask(judge_for(judge_server))


def test_a_wrong_path_and_a_dead_port_are_unavailable(judge_server: JudgeServer) -> None:
    with pytest.raises(JudgeUnavailable, match="HTTP 404"):
        ask(HttpJudge(JudgeConfig(base_url=judge_server.url + "/x", model="m"), ()))
    with pytest.raises(JudgeUnavailable, match="request failed"):
        ask(HttpJudge(JudgeConfig(base_url="http://127.0.0.1:9/v1", model="m"), ()))


def test_a_stalled_judge_times_out_and_the_public_tier_fails_closed(
    judge_server: JudgeServer, classifier: LinearClassifier
) -> None:
    judge_server.stall = True
    config = SafeguardsConfig(
        judge=JudgeConfig(enabled=True, base_url=judge_server.url, model="m", timeout_s=0.2)
    )
    judge = HttpJudge(config.judge, HARMFUL_CATEGORIES)
    service = Safeguards(classifier, load_taxonomy(), config, judge=judge)
    from_public = asyncio.run(service.escalate("t", _uncertain(), "public"))
    assert (from_public.score, from_public.source) == (1.0, "judge-failed-closed")
    judge_server.release.set()


def _uncertain() -> Verdict:
    return Verdict(Category("intrusion"), 0.6)


def test_parse_answer_rejects_prose() -> None:
    with pytest.raises(JudgeUnavailable):
        parse_answer("Sure! Here is how", HARMFUL_CATEGORIES)


def test_a_judge_without_an_endpoint_cannot_be_built() -> None:
    with pytest.raises(JudgeUnavailable):
        HttpJudge(JudgeConfig(), HARMFUL_CATEGORIES)
