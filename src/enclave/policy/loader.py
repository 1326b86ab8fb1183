"""Reading a policy directory: parse, validate against the schema, locate every problem.

cedarpy reports parse and validation errors without source positions (a parse error is
just "unexpected token `,`", a validation error names the positional id ``policyN``).
Operators need file and line, so this module splits each file into its statements
itself: Cedar ends every policy with a top-level ``;`` and has only ``//`` comments and
double-quoted strings to skip, so the split is exact for any text Cedar can parse and a
good locator for text it cannot.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cedarpy

from enclave.policy.interface import (
    FORBID_ADVICE,
    PERMIT_ADVICE,
    Advice,
    PolicyError,
    PolicyInfo,
    PolicySetInfo,
)

SCHEMA_FILE = "schema.cedarschema"
_CEDAR_PREFIX = re.compile(r"^for policy `[^`]*`, ")


def default_directory() -> Path:
    """The policies shipped in the package (used when Settings.policy_dir is unset)."""
    return Path(__file__).parent / "default"


def schema_text() -> str:
    return (default_directory() / SCHEMA_FILE).read_text(encoding="utf-8")


@dataclass(frozen=True, slots=True)
class Statement:
    line: int  # 1-based line of its first token (annotations included)
    text: str


def split_statements(text: str) -> list[Statement]:
    """Each top-level ``;``-terminated statement with the line it starts on. Trailing
    text without ``;`` is returned as a last statement so that it can be reported."""
    statements: list[Statement] = []
    start: int | None = None
    line = 1
    start_line = 1
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\n":
            line += 1
        elif ch == "/" and text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        elif not ch.isspace():
            if start is None:
                start, start_line = i, line
            if ch == '"':
                i += 1
                while i < n and text[i] != '"':
                    if text[i] == "\\":
                        i += 1
                    elif text[i] == "\n":
                        line += 1
                    i += 1
            elif ch == ";":
                statements.append(Statement(start_line, text[start : i + 1]))
                start = None
        i += 1
    if start is not None:
        statements.append(Statement(start_line, text[start:]))
    return statements


@dataclass(frozen=True, slots=True)
class LoadedPolicies:
    policy_set: cedarpy.PolicySet
    policies: dict[str, PolicyInfo]
    info: PolicySetInfo
    ests: dict[str, dict[str, Any]]  # Cedar's JSON form of each policy, by id


def _line(lines: list[int], pid: str) -> int | None:
    """The line of Cedar's positional id ``policyN`` (the N-th statement of the file)."""
    index = pid.removeprefix("policy")
    if index.isdigit() and int(index) < len(lines):
        return lines[int(index)]
    return None


def _to_est(name: str, text: str, statements: list[Statement]) -> dict[str, Any]:
    try:
        parsed: dict[str, Any] = json.loads(cedarpy.policies_to_json_str(text))
        return parsed
    except ValueError as exc:
        line = None
        for statement in statements:
            try:
                cedarpy.policies_to_json_str(statement.text)
            except ValueError:
                line = statement.line
                break
        raise PolicyError(f"syntax error: {exc}", file=name, line=line) from None


def _validate(
    name: str, text: str, schema: cedarpy.Schema, lines: list[int], ids: dict[str, str]
) -> None:
    result = cedarpy.validate_policies(text, schema)
    if result.validation_passed:
        return
    problems: list[tuple[int | None, str]] = []
    for error in result.errors:
        pid = error.policy_id
        line = _line(lines, pid)
        label = ids.get(pid)
        message = _CEDAR_PREFIX.sub("", error.error)
        problems.append((line, f"policy {label!r}: {message}" if label else message))
    # Cedar may report one mistake twice (e.g. once per action it type-checks against).
    unique = list(dict.fromkeys(problems))
    first_line, first = unique[0]
    rest = [f"line {ln}: {msg}" if ln else msg for ln, msg in unique[1:]]
    raise PolicyError(
        f"does not match the schema: {first}",
        file=name,
        line=first_line,
        hint=("also " + "; ".join(rest)) if rest else None,
    )


def _policy_info(name: str, line: int, est: dict[str, Any]) -> PolicyInfo:
    annotations: dict[str, str | None] = est.get("annotations") or {}
    pid = annotations.get("id") or f"{name}:{line}"
    effect = str(est["effect"])
    default = Advice.ALLOW if effect == "permit" else Advice.BLOCK
    raw = annotations.get("advice")
    if raw is None and "advice" not in annotations:
        advice = default
    else:
        try:
            advice = Advice(raw or "")
        except ValueError:
            raise PolicyError(
                f"@advice({raw!r}) on policy {pid!r}: expected one of "
                + ", ".join(a.value for a in Advice),
                file=name,
                line=line,
            ) from None
    allowed = PERMIT_ADVICE if effect == "permit" else FORBID_ADVICE
    if advice not in allowed:
        raise PolicyError(
            f"a {effect} cannot advise {advice.value!r} (policy {pid!r})",
            file=name,
            line=line,
            hint=f"a {effect} may advise " + " or ".join(sorted(a.value for a in allowed)),
        )
    return PolicyInfo(id=pid, effect=effect, advice=advice, file=name, line=line)


def load_directory(directory: Path, schema: cedarpy.Schema) -> LoadedPolicies:
    """Parse and validate every ``*.cedar`` file in ``directory``, or raise PolicyError
    naming the file, the line and what is wrong."""
    if not directory.is_dir():
        raise PolicyError(
            f"policy directory {directory} does not exist or is not a directory",
            hint="create one with `enclave policy init DIR`, or unset ENCLAVE_POLICY_DIR",
        )
    files = sorted(p for p in directory.glob("*.cedar") if p.is_file())
    if not files:
        raise PolicyError(
            f"no *.cedar files in {directory}; with no policies every request is denied",
            hint="copy the defaults with `enclave policy init DIR`",
        )
    digest = hashlib.sha256()
    policies: dict[str, PolicyInfo] = {}
    ests: dict[str, dict[str, Any]] = {}
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PolicyError(f"cannot read: {exc}", file=path.name) from None
        digest.update(path.name.encode() + b"\0" + text.encode() + b"\0")
        statements = split_statements(text)
        est = _to_est(path.name, text, statements)
        lines = [s.line for s in statements]
        if est.get("templates"):
            pid = next(iter(est["templates"]))
            raise PolicyError(
                "templates (?principal, ?resource slots) are not supported; write a static policy",
                file=path.name,
                line=_line(lines, pid),
            )
        static: dict[str, dict[str, Any]] = est["staticPolicies"]
        infos = {
            pid: _policy_info(path.name, _line(lines, pid) or 0, body)
            for pid, body in static.items()
        }
        _validate(path.name, text, schema, lines, {k: v.id for k, v in infos.items()})
        for pid, info in infos.items():
            if info.id in policies:
                other = policies[info.id]
                raise PolicyError(
                    f"duplicate policy id {info.id!r} (also at {other.location})",
                    file=info.file,
                    line=info.line,
                )
            policies[info.id] = info
            ests[info.id] = static[pid]
    document = {"staticPolicies": ests, "templates": {}, "templateLinks": []}
    policy_set = cedarpy.PolicySet.from_json_str(json.dumps(document))
    warnings: list[str] = []
    copy = directory / SCHEMA_FILE
    if copy.is_file() and copy.read_text(encoding="utf-8") != schema_text():
        warnings.append(
            f"{copy} differs from the schema of this Enclave version, which is the one "
            "used; refresh the copy with `enclave policy init --schema-only DIR`"
        )
    set_info = PolicySetInfo(
        directory=str(directory),
        digest="sha256:" + digest.hexdigest(),
        files=tuple(p.name for p in files),
        policies=tuple(policies),
        warnings=tuple(warnings),
    )
    return LoadedPolicies(policy_set=policy_set, policies=policies, info=set_info, ests=ests)


__all__ = [
    "SCHEMA_FILE",
    "LoadedPolicies",
    "Statement",
    "default_directory",
    "load_directory",
    "schema_text",
    "split_statements",
]
