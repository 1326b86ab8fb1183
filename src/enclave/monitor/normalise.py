"""Tool call -> ToolEvent: recognise the tool, parse its arguments, record the facts.

Agent harnesses name their tools freely (`bash`, `execute_command`, `TerminalExecute`,
`mcp__fs__read_file`, `str_replace_based_edit_tool` ...). The tool is recognised from the
words in its name and the keys of its arguments; anything unrecognised is still an event
(kind `other`) with its raw arguments, and its URL-, host- and address-valued arguments are
still judged by scope.

Malformed arguments (invalid JSON, binary, huge) never raise: the event records
`parse_error` and the raw text (bounded) instead.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from enclave.monitor.commands import code_facts, shell_facts
from enclave.monitor.facts import (
    EMAIL_IN_TEXT,
    MAX_TEXT,
    URL_IN_TEXT,
    Facts,
    ip_or_network,
    is_hostname,
    is_url,
    looks_like_path,
)
from enclave.monitor.interface import EventKind, ToolCall, ToolEvent, ToolResult

_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")

SHELL_WORDS = frozenset(
    {
        "bash",
        "shell",
        "sh",
        "terminal",
        "command",
        "cmd",
        "exec",
        "execute",
        "console",
        "zsh",
        "powershell",
        "pwsh",
        "run",
        "subprocess",
        "cli",
    }
)
CODE_WORDS = frozenset(
    {
        "python",
        "ipython",
        "code",
        "jupyter",
        "notebook",
        "interpreter",
        "repl",
        "script",
        "javascript",
        "node",
    }
)
READ_WORDS = frozenset(
    {"read", "view", "cat", "open", "get", "load", "show", "list", "ls", "glob", "grep"}
)
WRITE_WORDS = frozenset(
    {
        "write",
        "create",
        "save",
        "edit",
        "append",
        "replace",
        "update",
        "put",
        "patch",
        "insert",
        "modify",
        "str",
    }
)
DELETE_WORDS = frozenset({"delete", "remove", "unlink", "rm", "erase", "wipe"})
FILE_WORDS = frozenset({"file", "files", "path", "fs", "filesystem", "editor", "directory", "dir"})
EMAIL_WORDS = frozenset({"email", "mail", "gmail", "smtp", "outlook", "sendgrid", "mailgun"})
MESSAGE_WORDS = frozenset(
    {
        "post",
        "tweet",
        "publish",
        "blog",
        "forum",
        "comment",
        "issue",
        "gist",
        "paste",
        "slack",
        "discord",
        "telegram",
        "teams",
        "sms",
        "message",
        "chat",
        "reddit",
        "x",
        "twitter",
        "mastodon",
        "instagram",
        "facebook",
        "linkedin",
        "upload",
        "share",
    }
)
HTTP_WORDS = frozenset(
    {
        "fetch",
        "http",
        "https",
        "request",
        "browse",
        "browser",
        "curl",
        "wget",
        "webpage",
        "url",
        "download",
        "navigate",
        "visit",
        "scrape",
        "crawl",
        "api",
        "web",
        "goto",
        "page",
    }
)
SEARCH_WORDS = frozenset({"search", "google", "bing", "duckduckgo", "query", "lookup", "find"})

COMMAND_KEYS = ("command", "cmd", "commands", "script", "shell_command", "cmdline", "bash")
PATH_KEYS = (
    "path",
    "file_path",
    "filepath",
    "filename",
    "file",
    "target_file",
    "absolute_path",
    "paths",
    "file_paths",
    "source",
    "destination",
    "dest",
    "src",
    "dst",
    "dir",
    "directory",
    "target_path",
    "old_path",
    "new_path",
    "notebook_path",
)
CONTENT_KEYS = (
    "content",
    "file_text",
    "text",
    "new_str",
    "data",
    "body",
    "message",
    "contents",
    "new_string",
    "insert_text",
    "payload",
    "json",
    "html",
    "markdown",
    "post",
)
URL_KEYS = (
    "url",
    "uri",
    "urls",
    "endpoint",
    "link",
    "href",
    "webhook",
    "webhook_url",
    "address",
    "target",
    "host",
    "hostname",
    "ip",
    "domain",
    "server",
    "site",
    "repo",
    "repository",
    "remote",
)
RECIPIENT_KEYS = (
    "to",
    "cc",
    "bcc",
    "recipient",
    "recipients",
    "email",
    "emails",
    "to_address",
    "to_email",
    "email_address",
    "address",
    "send_to",
)
CODE_KEYS = ("code", "source_code", "program", "python", "script", "input")
# The sets classify() intersects, built once.
_COMMAND_KEY_SET = frozenset(COMMAND_KEYS)
_CODE_KEY_SET = frozenset(CODE_KEYS)
_NOT_SHELL_WORDS = HTTP_WORDS | MESSAGE_WORDS | SEARCH_WORDS
_FILE_OR_EDITOR = FILE_WORDS | {"editor"}
_FILE_KEYS = frozenset({"file_path", "filepath", "notebook_path"})
_WRITE_KEYS = frozenset({"content", "file_text", "new_str", "new_string"})
_READ_KEYS = frozenset({"path", "file_path", "filepath", "paths"})
_EMAIL_TO_KEYS = frozenset({"to", "recipient", "recipients"})
_EMAIL_BODY_KEYS = frozenset({"subject", "body"})
_URL_KEY_SET = frozenset({"url", "uri"})


_NAMESPACE = re.compile(r"__|[./:]")


def _words(name: str) -> frozenset[str]:
    if name.isascii() and name.isalpha() and name.islower():
        return frozenset((name,))  # `bash`: one run of [a-z], what _WORDS would find
    leaf = _NAMESPACE.split(name)[-1] if "__" in name or "." in name else name
    return frozenset(map(str.lower, _WORDS.findall(leaf)))


_SALVAGE = re.compile(r'"([A-Za-z_][\w\-]{0,40})"\s*:\s*"((?:\\.|[^"\\])*)')


def decode_arguments(text: str) -> tuple[dict[str, Any], str | None]:
    """JSON arguments as a dict, or what can be salvaged and the reason it is not one.

    Threat-model note: a harness may parse arguments more leniently than we do (a cut
    stream, a trailing comma). Refusing to look would let malformed JSON hide a command,
    so the string members that can be read are read anyway.
    """
    if not text.strip():
        return {}, None
    problem: str | None = None
    if "\x00" in text:
        problem = "arguments contain NUL bytes (binary)"
    else:
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            problem = f"arguments are not valid JSON: {str(exc)[:120]}"
        else:
            return (value, None) if isinstance(value, dict) else ({"input": value}, None)
    salvaged: dict[str, Any] = {}
    for key, raw in _SALVAGE.findall(text[: MAX_TEXT * 16]):
        try:
            salvaged.setdefault(key, orjson.loads(f'"{raw}"'))
        except orjson.JSONDecodeError:
            salvaged.setdefault(key, raw)
    return salvaged, problem


def _strings(value: object, depth: int = 0) -> Iterable[str]:
    """Every string inside a JSON value, bounded in depth and count."""
    if isinstance(value, str):
        yield value
    elif depth < 8 and isinstance(value, Mapping):
        for item in list(value.values())[:256]:
            yield from _strings(item, depth + 1)
    elif depth < 8 and isinstance(value, list):
        for item in value[:256]:
            yield from _strings(item, depth + 1)


def _first(args: Mapping[str, Any], keys: Iterable[str]) -> list[str]:
    found: list[str] = []
    for key in keys:
        if key in args:
            value = args[key]
            if isinstance(value, str):  # the common case, without a generator
                found.append(value)
            else:
                found.extend(_strings(value))
    return found


def classify(name: str, args: Mapping[str, Any]) -> EventKind:
    words = _words(name)
    keys = args.keys()
    lowered = name.lower()
    if (
        "str_replace" in lowered
        or "text_editor" in lowered
        or (words & FILE_WORDS and "command" in keys and "path" in keys)
    ):
        verb = str(args.get("command", "")).lower()
        return EventKind.FILE_READ if verb in ("view", "read", "") else EventKind.FILE_WRITE
    if words & EMAIL_WORDS or (
        not _EMAIL_TO_KEYS.isdisjoint(keys) and not _EMAIL_BODY_KEYS.isdisjoint(keys)
    ):
        return EventKind.EMAIL
    has_command = not _COMMAND_KEY_SET.isdisjoint(keys)
    if has_command and words & SHELL_WORDS:
        return EventKind.SHELL
    if has_command and not words & _NOT_SHELL_WORDS:
        return EventKind.SHELL
    if words & CODE_WORDS and not _CODE_KEY_SET.isdisjoint(keys):
        return EventKind.CODE
    if words & _FILE_OR_EDITOR or not _FILE_KEYS.isdisjoint(keys):
        if words & DELETE_WORDS:
            return EventKind.FILE_DELETE
        if words & WRITE_WORDS or not _WRITE_KEYS.isdisjoint(keys):
            return EventKind.FILE_WRITE
        if words & READ_WORDS or not _READ_KEYS.isdisjoint(keys):
            return EventKind.FILE_READ
    if words & MESSAGE_WORDS:
        return EventKind.MESSAGE
    if words & SEARCH_WORDS and _URL_KEY_SET.isdisjoint(keys):
        return EventKind.SEARCH
    if words & HTTP_WORDS or not _URL_KEY_SET.isdisjoint(keys):
        return EventKind.HTTP
    return EventKind.OTHER


def _command_value(args: Mapping[str, Any]) -> object:
    """The value of the first command key present (a loop: cheaper than next() over a
    generator)."""
    for key in COMMAND_KEYS:
        if key in args:
            return args[key]
    return args.get("command")


def _command_text(value: object) -> str:
    if isinstance(value, list):  # ["bash", "-lc", "..."] (Codex-style argv)
        words = [str(v) for v in value[:256]]
        return shlex.join(words)
    return value if isinstance(value, str) else ""


def _targets(facts: Facts, values: Iterable[str]) -> None:
    for value in values:
        value = value.strip()
        if is_url(value):
            facts.url(value)
        elif ip_or_network(value) is not None or is_hostname(
            value.split("/", 1)[0].split(":", 1)[0]
        ):
            facts.host(value.split("/", 1)[0])
            if "/" in value and ip_or_network(value) is None:
                facts.add("urls", "https://" + value)


def _recipients(facts: Facts, values: Iterable[str]) -> None:
    for value in values:
        for address in EMAIL_IN_TEXT.findall(value):
            facts.add("recipients", address.lower())


_FILE_ACCESS = {
    EventKind.FILE_READ: "read",
    EventKind.FILE_WRITE: "written",
    EventKind.FILE_DELETE: "deleted",
}


def call_event(call: ToolCall) -> ToolEvent:
    """Normalise one tool call. Never raises."""
    facts = Facts()
    raw = call.arguments
    facts.text("raw", raw)
    args, problem = decode_arguments(raw[: MAX_TEXT * 128])
    if problem:
        facts.add("parse_error", problem)
        if len(raw) > MAX_TEXT * 128:
            facts.add("parse_error", f"arguments larger than {MAX_TEXT * 128} characters")
    elif len(raw) > MAX_TEXT * 128:
        facts.add("parse_error", "arguments truncated")
    kind = classify(call.name, args)
    if kind is EventKind.SHELL:
        text = _command_text(_command_value(args))
        if text:
            shell_facts(text, facts)
    elif kind is EventKind.CODE:
        for code in _first(args, CODE_KEYS)[:4]:
            code_facts(code, facts)
        facts.add("executable", "python" if "python" in call.name.lower() else call.name.lower())
    elif kind in _FILE_ACCESS:
        access = _FILE_ACCESS[kind]
        for path in _first(args, PATH_KEYS)[:MAX_TEXT]:
            facts.path(path, access=access)
        for content in _first(args, CONTENT_KEYS)[:4]:
            facts.text("content", content)
    elif kind is EventKind.HTTP:
        _targets(facts, _first(args, URL_KEYS))
        method = str(args.get("method", "") or "").upper()
        body = _first(args, CONTENT_KEYS)
        words = _words(call.name)
        if not method:
            method = "POST" if body or words & {"upload", "post", "submit", "send"} else "GET"
        facts.add("methods", method)
        for content in body[:4]:
            facts.text("content", content)
        for path in _first(args, PATH_KEYS):
            facts.path(path, access="read" if method != "GET" else "written")
    elif kind is EventKind.EMAIL:
        _recipients(facts, _first(args, RECIPIENT_KEYS))
        for content in _first(args, ("subject", "body", "content", "text", "message", "html"))[:4]:
            facts.text("content", content)
        for path in _first(args, ("attachment", "attachments", "files", "file", "path")):
            facts.path(path, access="read")
    elif kind is EventKind.MESSAGE:
        _targets(facts, _first(args, URL_KEYS))
        _recipients(facts, _first(args, RECIPIENT_KEYS))
        for content in _first(args, CONTENT_KEYS + ("title", "caption", "description"))[:4]:
            facts.text("content", content)
        facts.add("methods", "POST")
    elif kind is EventKind.SEARCH:
        for query in _first(args, ("query", "q", "request", "search", "term", "keywords"))[:4]:
            facts.text("content", query)
    else:
        _generic(args, facts)
    return facts.event(call.id, call.name, kind)


def _generic(args: Mapping[str, Any], facts: Facts) -> None:
    """An unknown tool: targets from target-named keys, mentions from everything else."""
    _targets(facts, _first(args, URL_KEYS))
    _recipients(facts, _first(args, RECIPIENT_KEYS))
    for path in _first(args, PATH_KEYS):
        if looks_like_path(path):
            facts.path(path, access="read")
    for text in list(_strings(args))[:64]:
        for url in URL_IN_TEXT.findall(text[:MAX_TEXT]):
            facts.add("urls", url.rstrip(".,;"))
        facts.text("content", text)


def result_event(result: ToolResult) -> ToolEvent:
    """A tool's output: rules look for what it reveals (keys, credentials, errors)."""
    facts = Facts()
    facts.text("result", result.content)
    if result.is_error:
        facts.add("parse_error", "tool reported an error")
    return facts.event(result.tool_call_id, result.tool, EventKind.TOOL_RESULT)


__all__ = ["call_event", "classify", "decode_arguments", "result_event"]
