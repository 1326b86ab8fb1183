"""What to score in a request: the latest user turn and a window of the conversation
(issue 6 item 5), for OpenAI Chat Completions and Anthropic Messages bodies alike.

A request split across turns ("write a program that encrypts every file on a share" ...
"now add a note asking for bitcoin") is harmless per turn and harmful together, so the
window of recent user turns is scored as well as the latest one.

Only user-authored text counts. System prompts are excluded: agent harnesses send long
boilerplate ones that talk about security ("refuse to write malicious code") and would
raise every call's score. Assistant turns are the model's own words. Tool results belong to
the monitor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from enclave.safeguards.interface import ApiShape, SafeguardsInputError


@dataclass(frozen=True, slots=True)
class ConversationText:
    latest: str  # the newest user turn that carries text ("" when there is none)
    window: str  # up to `turns` newest user turns, oldest first, newest characters kept
    user_turns: int  # user turns with text in the whole request

    @property
    def window_adds(self) -> bool:
        """Whether the window holds more than the latest turn (else score once)."""
        return self.window != self.latest


def _text_of_openai(content: Any, where: str) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for i, part in enumerate(content):
            if not isinstance(part, Mapping):
                raise SafeguardsInputError(f"{where}.content[{i}]: expected an object")
            if part.get("type") == "text":
                text = part.get("text")
                if not isinstance(text, str):
                    raise SafeguardsInputError(f"{where}.content[{i}].text: expected a string")
                parts.append(text)
        return "\n".join(parts)
    raise SafeguardsInputError(f"{where}.content: expected a string or a list of parts")


def _text_of_anthropic(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for i, block in enumerate(content):
            if not isinstance(block, Mapping):
                raise SafeguardsInputError(f"{where}.content[{i}]: expected an object")
            # tool_result blocks are the monitor's; images and documents carry no text.
            if block.get("type") == "text":
                text = block.get("text")
                if not isinstance(text, str):
                    raise SafeguardsInputError(f"{where}.content[{i}].text: expected a string")
                parts.append(text)
        return "\n".join(parts)
    raise SafeguardsInputError(f"{where}.content: expected a string or a list of blocks")


def user_turns(body: Mapping[str, Any], api: ApiShape) -> list[str]:
    """The text of every user turn that has some, oldest first."""
    if not isinstance(body, Mapping):
        raise SafeguardsInputError("request body: expected a JSON object")
    messages = body.get("messages")
    if not isinstance(messages, Sequence) or isinstance(messages, str | bytes):
        raise SafeguardsInputError("messages: expected a list")
    extract = _text_of_openai if api == "openai" else _text_of_anthropic
    turns = []
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise SafeguardsInputError(f"messages[{i}]: expected an object")
        if message.get("role") != "user":
            continue
        text = extract(message.get("content"), f"messages[{i}]")
        if text.strip():
            turns.append(text)
    return turns


def conversation_text(
    body: Mapping[str, Any], api: ApiShape, *, turns: int = 4, max_chars: int = 4000
) -> ConversationText:
    """The texts to score for one request body (a pure function of the body)."""
    found = user_turns(body, api)
    if not found:
        return ConversationText("", "", 0)
    window = "\n".join(found[-turns:])
    if len(window) > max_chars:
        window = window[-max_chars:]
    return ConversationText(found[-1], window, len(found))


__all__ = ["ConversationText", "conversation_text", "user_turns"]
