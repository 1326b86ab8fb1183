"""An LLM judge over any OpenAI-compatible Chat Completions endpoint.

The gateway's provider adapters are not used here on purpose: the judge is a side call with
its own model, key and timeout, and must not count against the caller's credits or pass
through the policy it serves. The answer format is one line, ``harmful: CATEGORY`` or
``benign``; Llama Guard's ``safe`` / ``unsafe`` is accepted too, so a guard model can be
plugged in without a prompt of ours.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import httpx

from enclave.safeguards.config import JudgeConfig
from enclave.safeguards.interface import (
    Category,
    JudgeDecision,
    JudgeRequest,
    JudgeUnavailable,
)

SYSTEM_PROMPT = """\
You review requests sent to an AI model for cyber-misuse. A request is harmful when it asks \
for real help to attack systems or people the requester has no right to attack: malware, \
ransomware, credential theft, phishing, exploiting third-party systems, evading defences, \
DDoS or botnets, intrusion, data theft. Questions about how attacks work, defence, detection, \
education and work on one's own systems are benign.

Answer with exactly one line: "harmful: CATEGORY" with CATEGORY one of {categories}, or \
"benign"."""

_ANSWER = re.compile(r"^\s*(harmful|unsafe|benign|safe)\b\s*:?\s*([a-z0-9-]*)", re.IGNORECASE)


def parse_answer(text: str, categories: Iterable[Category]) -> JudgeDecision:
    match = _ANSWER.match(text)
    if match is None:
        raise JudgeUnavailable(f"judge answered in an unknown form: {text[:80]!r}")
    verdict, named = match.group(1).lower(), match.group(2).lower()
    if verdict in ("benign", "safe"):
        return JudgeDecision(harmful=False)
    known = {str(c) for c in categories}
    return JudgeDecision(harmful=True, category=Category(named) if named in known else None)


class HttpJudge:
    """Implements :class:`enclave.safeguards.interface.Judge`."""

    def __init__(
        self,
        config: JudgeConfig,
        categories: Iterable[Category],
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not (config.base_url and config.model):
            raise JudgeUnavailable("judge needs base_url and model")
        self._config = config
        self._categories = tuple(categories)
        headers = {"content-type": "application/json"}
        if config.api_key is not None:
            headers["authorization"] = f"Bearer {config.api_key.get_secret_value()}"
        self._client = httpx.AsyncClient(
            base_url=config.base_url.rstrip("/") + "/",
            headers=headers,
            timeout=httpx.Timeout(config.timeout_s),
            transport=transport,
            # The judge's endpoint is configured by the operator; following redirects would
            # let it send our prompt (and key) elsewhere.
            follow_redirects=False,
        )

    async def judge(self, request: JudgeRequest) -> JudgeDecision:
        names = ", ".join(str(c) for c in self._categories if c != "none")
        body = {
            "model": self._config.model,
            "temperature": 0,
            "max_tokens": 16,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT.format(categories=names)},
                {"role": "user", "content": request.text[-self._config.max_chars :]},
            ],
        }
        try:
            response = await self._client.post("chat/completions", json=body)
        except httpx.HTTPError as exc:
            raise JudgeUnavailable(f"judge request failed: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise JudgeUnavailable(f"judge answered HTTP {response.status_code}")
        try:
            content = response.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise JudgeUnavailable("judge response is not a chat completion") from None
        if not isinstance(content, str):
            raise JudgeUnavailable("judge response has no text content")
        return parse_answer(content, self._categories)

    async def aclose(self) -> None:
        await self._client.aclose()


__all__ = ["SYSTEM_PROMPT", "HttpJudge", "parse_answer"]
