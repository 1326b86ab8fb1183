from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from enclave.monitor import Category, RuleEngine, RuleError, SessionState, ToolCall, call_event
from enclave.monitor.rules import load_rules

RULE = """\
title: Operator rule
name: {name}
logsource:
  product: enclave
  category: tool_call
detection:
  selection:
{selection}
  condition: {condition}
level: high
tags:
  - enclave.{category}
"""


def write(tmp_path: Path, text: str, name: str = "local.yml") -> Path:
    directory = tmp_path / "rules"
    directory.mkdir(exist_ok=True)
    (directory / name).write_text(textwrap.dedent(text))
    return directory


def rule(selection: str, *, name: str = "op_rule", condition: str = "selection",
         category: str = "persistence") -> str:  # fmt: skip
    return RULE.format(
        name=name, selection=textwrap.indent(selection, "    "), condition=condition,
        category=category,
    )  # fmt: skip


def test_the_shipped_pack_covers_exactly_the_ten_categories() -> None:
    rules = load_rules()
    assert rules.categories == frozenset(Category)
    assert {c.type for c in rules.correlations} >= {
        "temporal_ordered",
        "event_count",
        "value_count",
    }


def fires(directory: Path, name: str, args: dict[str, object]) -> list[str]:
    engine = RuleEngine(load_rules(operator_dirs=[directory], include_shipped=False))
    event = call_event(ToolCall("c", name, json.dumps(args), "openai"))
    return [m.rule_id for m in engine.evaluate(event, None, SessionState(), now=0.0)]


def test_operator_rules_load_and_match_with_sigma_modifiers(tmp_path: Path) -> None:
    text = "\n---\n".join([
        rule("executable: MyTool", name="eq"),
        rule("commands|contains: 'secret sauce'", name="contains"),
        rule("paths|startswith: /opt/app/", name="starts"),
        rule("paths|endswith: '.kdbx'", name="ends"),
        rule("commands|re: '^MYTOOL\\s+--[a-z]+$'", name="regex"),  # case-sensitive
        rule("hosts|cidr: 10.99.0.0/16", name="cidr"),
        rule("commands: 'mytool*--wipe*now *'", name="glob"),
        rule("commands|cased: 'MYTOOL --safe'", name="cased"),
        rule("executable: mytool", name="not", condition="selection and not keep").replace(
            "  condition:", "  keep:\n    args: --safe\n  condition:"
        ),
    ])  # fmt: skip
    directory = write(tmp_path, text)
    hits = fires(directory, "bash", {"command": "mytool --wipe now /opt/app/db.kdbx 10.99.1.1"})
    assert set(hits) == {"eq", "starts", "ends", "cidr", "glob", "not"}
    assert set(fires(directory, "bash", {"command": "MYTOOL --safe"})) == {"eq", "cased", "regex"}
    assert "contains" in fires(directory, "bash", {"command": "echo 'secret sauce'"})


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (rule("executable: [unclosed"), 9, "not valid YAML"),  # where YAML notices
        (rule("CommandLine|contains: x"), 8, "unknown field 'CommandLine'"),
        (rule("executable|contain: x"), 8, "Unknown modifier"),
        (rule("executable: x", category="mischief"), 12, "names no category"),
        (
            RULE.format(
                name="n",
                selection="    executable: x",
                condition="selection",
                category="persistence",
            ).replace("enclave\n", "windows\n"),
            4,
            "logsource.product must be 'enclave'",
        ),  # fmt: skip
        (
            rule("executable: x").replace("  - enclave.persistence\n", "  - attack.t1\n"),
            11,
            "needs a tag enclave.<category>",
        ),  # fmt: skip
        (rule("executable: x", condition="selection and nothere"), 1, "nothere"),
    ],
)
def test_a_broken_rule_file_is_rejected_with_its_line(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    directory = write(tmp_path, text)
    with pytest.raises(RuleError) as caught:
        load_rules(operator_dirs=[directory])
    assert message in caught.value.message
    assert f"local.yml:{line}:" in caught.value.message or message == "nothere"


@pytest.mark.parametrize(
    "selection",
    [
        "Image: a",
        "Image: [a, b]",  # a value list: merged into one test, checked all the same
        "Image:\n  - a\n  - '*b'",
        "Image|contains: [a, b]",
        "Image|re: ['^a', '^b']",
        "paths|fieldref: Image",  # the field a value refers to
    ],
)
def test_an_unknown_field_is_refused_whatever_the_shape_of_its_value(
    tmp_path: Path, selection: str
) -> None:
    directory = write(tmp_path, rule(selection))
    with pytest.raises(RuleError) as caught:
        load_rules(operator_dirs=[directory])
    assert caught.value.message == f"{directory / 'local.yml'}:8: unknown field 'Image'"
    assert caught.value.hint is not None
    assert caught.value.hint.startswith("fields: ") and "executable, " in caught.value.hint
    # The same rule on a known field loads, with the shipped pack.
    fixed = write(tmp_path, rule(selection.replace("Image", "executable")))
    assert "op_rule" in {r.id for r in load_rules(operator_dirs=[fixed]).rules}


def test_correlation_errors_are_rejected_with_their_line(tmp_path: Path) -> None:
    text = rule("executable: x", name="base") + textwrap.dedent("""\
        ---
        title: Broken correlation
        name: corr
        correlation:
          type: temporal
          rules:
            - base
            - missing_rule
          timespan: 5m
        tags:
          - enclave.persistence
        """)
    directory = write(tmp_path, text)
    with pytest.raises(RuleError, match=r"local\.yml:\d+: correlation refers to unknown rule"):
        load_rules(operator_dirs=[directory])


def test_duplicate_rule_names_are_rejected(tmp_path: Path) -> None:
    directory = write(tmp_path, rule("executable: x", name="enclave_persist_account"))
    with pytest.raises(RuleError, match="duplicate rule id or name 'enclave_persist_account'"):
        load_rules(operator_dirs=[directory])


def test_missing_rule_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match="no such rule file or directory"):
        load_rules(operator_dirs=[tmp_path / "absent"])
