"""Loading a policy directory: every problem is refused with its file, line and what is
wrong; good directories load with ids, advice and locations."""

from __future__ import annotations

from pathlib import Path

import cedarpy
import pytest
from policy_helpers import write

from enclave.config import TierConfig
from enclave.errors import ConfigError
from enclave.policy import Advice, PolicyEngine, PolicyError, default_directory, schema_text
from enclave.policy.loader import SCHEMA_FILE, split_statements

GOOD = '@id("ok")\npermit (principal, action == Action::"invoke", resource);\n'


def load_error(directory: Path, tiers: dict[str, TierConfig]) -> PolicyError:
    with pytest.raises(PolicyError) as caught:
        PolicyEngine.load(directory, tiers=tiers)
    return caught.value


def test_the_shipped_policies_load_with_ids_advice_and_locations(engine: PolicyEngine) -> None:
    info = engine.info
    assert info.files == ("access.cedar", "risk.cedar", "tool_call.cedar")
    assert info.digest.startswith("sha256:") and len(info.digest) == 71
    assert info.warnings == ()
    assert set(info.policies) == {
        "invoke-entitled",
        "purpose-not-on-key",
        "purpose-not-allowed-for-tier",
        "model-not-allowed-for-tier",
        "public-block-high-risk",
        "flag-elevated-risk",
        "tool-call-vetted-flag",
        "tool-call-vetted-hold",
        "tool-call-public-block",
    }
    entitled = engine.policies["invoke-entitled"]
    assert (entitled.effect, entitled.advice, entitled.file) == (
        "permit",
        Advice.ALLOW,
        "access.cedar",
    )
    text = (default_directory() / "access.cedar").read_text().splitlines()
    assert text[entitled.line - 1] == '@id("invoke-entitled")'
    flag = engine.policies["flag-elevated-risk"]
    assert (flag.file, flag.advice) == ("risk.cedar", Advice.FLAG)


def test_syntax_error_names_file_and_line(tmp_path: Path, tiers: dict[str, TierConfig]) -> None:
    write(tmp_path, "a.cedar", GOOD)
    write(
        tmp_path,
        "b.cedar",
        '// comment; with a semicolon\n@id("one")\npermit (principal, action, resource);\n\n'
        '@id("two")\nforbid (principal, action, resource)\n  when { context.purpose == };\n',
    )
    error = load_error(tmp_path, tiers)
    assert (error.file, error.line) == ("b.cedar", 5)
    assert "syntax error" in error.problem and "unexpected token" in error.problem
    assert error.message.startswith("b.cedar:5: syntax error")
    assert isinstance(error, ConfigError) and error.exit_code == 2


def test_unterminated_policy_at_end_of_file(tmp_path: Path, tiers: dict[str, TierConfig]) -> None:
    write(tmp_path, "a.cedar", GOOD + "\npermit (principal, action, resource)\n")
    error = load_error(tmp_path, tiers)
    assert (error.file, error.line) == ("a.cedar", 4)


def test_schema_rejects_a_policy_reading_an_unknown_attribute(
    tmp_path: Path, tiers: dict[str, TierConfig]
) -> None:
    write(tmp_path, "a.cedar", GOOD)
    write(
        tmp_path,
        "b.cedar",
        '\n\n@id("typo")\nforbid (principal, action == Action::"invoke", resource)\n'
        '  when { context.risk_scor.greaterThan(decimal("0.5")) };\n',
    )
    error = load_error(tmp_path, tiers)
    assert (error.file, error.line) == ("b.cedar", 3)
    assert "policy 'typo'" in error.problem
    assert "attribute `risk_scor` in context" in error.problem
    assert "not found" in error.problem


def test_schema_rejects_unknown_entity_types_and_actions(
    tmp_path: Path, tiers: dict[str, TierConfig]
) -> None:
    write(tmp_path, "a.cedar", 'permit (principal in Group::"x", action, resource);\n')
    assert "Group" in load_error(tmp_path, tiers).problem
    write(tmp_path, "a.cedar", 'permit (principal, action == Action::"delete", resource);\n')
    assert 'unrecognized action `Action::"delete"`' in load_error(tmp_path, tiers).problem


def test_every_schema_error_of_a_file_is_reported(
    tmp_path: Path, tiers: dict[str, TierConfig]
) -> None:
    write(
        tmp_path,
        "a.cedar",
        'permit (principal, action, resource) when { principal.colour == "red" };\n'
        "permit (principal, action, resource) when { resource.size > 3 };\n",
    )
    error = load_error(tmp_path, tiers)
    assert error.line == 1 and "colour" in error.problem
    assert error.hint is not None and "line 2:" in error.hint and "size" in error.hint


@pytest.mark.parametrize(
    ("policy", "problem"),
    [
        ('@advice("warn") permit (principal, action, resource);', "@advice('warn')"),
        ("@advice permit (principal, action, resource);", "@advice(None)"),
        (
            '@advice("block") permit (principal, action, resource);',
            "a permit cannot advise 'block'",
        ),
        (
            '@advice("allow") forbid (principal, action, resource);',
            "a forbid cannot advise 'allow'",
        ),
        ('@advice("flag") forbid (principal, action, resource);', "a forbid cannot advise 'flag'"),
        (
            '@advice("flag") @advice("hold") permit (principal, action, resource);',
            "duplicate annotation",
        ),
    ],
)
def test_advice_annotations_are_checked(
    tmp_path: Path, tiers: dict[str, TierConfig], policy: str, problem: str
) -> None:
    write(tmp_path, "a.cedar", GOOD + "\n" + policy + "\n")
    error = load_error(tmp_path, tiers)
    assert (error.file, error.line) == ("a.cedar", 4)
    assert problem in error.problem


def test_duplicate_ids_across_files(tmp_path: Path, tiers: dict[str, TierConfig]) -> None:
    write(tmp_path, "a.cedar", GOOD)
    write(tmp_path, "b.cedar", "\n" + GOOD)
    error = load_error(tmp_path, tiers)
    assert (error.file, error.line) == ("b.cedar", 2)
    assert "duplicate policy id 'ok' (also at a.cedar:1)" in error.problem


def test_policies_without_an_id_are_named_by_file_and_line(
    tmp_path: Path, tiers: dict[str, TierConfig]
) -> None:
    write(tmp_path, "a.cedar", "\n\npermit (principal, action, resource);\n")
    engine = PolicyEngine.load(tmp_path, tiers=tiers)
    assert engine.info.policies == ("a.cedar:3",)


def test_templates_are_refused(tmp_path: Path, tiers: dict[str, TierConfig]) -> None:
    write(tmp_path, "a.cedar", GOOD + "permit (principal == ?principal, action, resource);\n")
    error = load_error(tmp_path, tiers)
    assert (error.file, error.line) == ("a.cedar", 3)
    assert "templates" in error.problem


def test_missing_or_empty_directory(tmp_path: Path, tiers: dict[str, TierConfig]) -> None:
    assert "does not exist" in load_error(tmp_path / "nowhere", tiers).problem
    (tmp_path / "notes.txt").write_text("not a policy")
    error = load_error(tmp_path, tiers)
    assert "no *.cedar files" in error.problem
    assert error.hint is not None and "enclave policy init" in error.hint


def test_unreadable_file(tmp_path: Path, tiers: dict[str, TierConfig]) -> None:
    write(tmp_path, "a.cedar", GOOD)
    (tmp_path / "b.cedar").write_bytes(b"permit \xff\xfe;")
    error = load_error(tmp_path, tiers)
    assert error.file == "b.cedar" and "cannot read" in error.problem


def test_an_outdated_schema_copy_is_a_warning_not_an_error(
    policy_dir: Path, tiers: dict[str, TierConfig]
) -> None:
    assert PolicyEngine.load(policy_dir, tiers=tiers).info.warnings == ()
    (policy_dir / SCHEMA_FILE).write_text("entity Old;\n")
    warnings = PolicyEngine.load(policy_dir, tiers=tiers).info.warnings
    assert len(warnings) == 1 and "differs from the schema of this Enclave version" in warnings[0]


def test_split_statements_skips_strings_and_comments() -> None:
    text = (
        "// a comment; not a statement\n"
        '@id("a;b") permit (principal, action, resource)\n'
        '  when { context.session_id == "x;\\"y//z" };\n'
        "forbid (principal, action, resource); // trailing; comment\n"
        "\n"
        "permit (principal, action, resource)"
    )
    statements = split_statements(text)
    assert [s.line for s in statements] == [2, 4, 6]
    assert statements[0].text.endswith('"x;\\"y//z" };')
    assert statements[2].text == "permit (principal, action, resource)"


def test_the_validator_refuses_decimals_built_from_non_literals() -> None:
    # analysis.py relies on this: every decimal a policy can hold is a literal or the
    # risk score, so the score matters only relative to the literals.
    result = cedarpy.validate_policies(
        'permit (principal, action == Action::"invoke", resource) when {\n'
        "  context.risk_score.lessThan(decimal(context.risk_category)) };",
        schema_text(),
    )
    assert not result.validation_passed
    assert "non-literal" in result.errors[0].error
