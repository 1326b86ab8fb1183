"""The taxonomy file: the issue's categories, descriptions, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from enclave.safeguards import HARMFUL_CATEGORIES, NONE, SafeguardsConfigError, load_taxonomy
from enclave.safeguards.interface import Category
from enclave.safeguards.taxonomy import parse_taxonomy

ISSUE = {
    "malware",
    "ransomware",
    "credential-theft",
    "phishing",
    "exploit-third-party",
    "evasion",
    "ddos-botnet",
    "intrusion",
    "data-theft",
}


def test_the_shipped_taxonomy_is_exactly_the_issues_list_plus_none() -> None:
    taxonomy = load_taxonomy()
    assert set(taxonomy.names()) == ISSUE | {"none"}
    assert set(HARMFUL_CATEGORIES) == ISSUE
    assert all(len(info.description) > 40 for info in taxonomy.categories.values())
    assert all(taxonomy.high_risk(c) for c in HARMFUL_CATEGORIES)
    assert not taxonomy.high_risk(NONE)


def test_an_operator_copy_can_relax_a_category(tmp_path: Path) -> None:
    text = (Path(__file__).parents[3] / "src/enclave/safeguards/data/taxonomy.toml").read_text()
    path = tmp_path / "taxonomy.toml"
    path.write_text(
        text.replace("[categories.phishing]\n", "[categories.phishing]\n#\n").replace(
            'pretexting and other social engineering against real targets."\nhigh_risk = true',
            'pretexting and other social engineering against real targets."\nhigh_risk = false',
        )
    )
    taxonomy = load_taxonomy(path)
    assert not taxonomy.high_risk(Category("phishing"))
    assert taxonomy.high_risk(Category("malware"))


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({}, r"expected a \[categories\.NAME\] table"),
        ({"categories": {"malware": {"description": "x"}}}, "`none` is required"),
        ({"categories": {"none": {"description": "x", "high_risk": True}}}, "cannot be high-risk"),
        ({"categories": {"none": {"description": ""}}}, "description is required"),
        ({"categories": {"none": {"description": "x", "high_risk": "yes"}}}, "must be a boolean"),
        ({"categories": {"none": {"description": "x", "colour": "red"}}}, "unknown keys"),
        ({"categories": {"none": "x"}}, "must be a table"),
    ],
)
def test_bad_taxonomies_are_refused_with_the_reason(raw: dict[str, object], message: str) -> None:
    with pytest.raises(SafeguardsConfigError, match=message):
        parse_taxonomy(raw, source="t.toml")


def test_a_taxonomy_missing_a_model_category_fails_at_start() -> None:
    taxonomy = parse_taxonomy({"categories": {"none": {"description": "x"}}}, source="t.toml")
    with pytest.raises(SafeguardsConfigError, match="lacks categories"):
        taxonomy.require(HARMFUL_CATEGORIES, source="the model")


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(SafeguardsConfigError, match="cannot read taxonomy"):
        load_taxonomy(tmp_path / "absent.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[categories\n")
    with pytest.raises(SafeguardsConfigError, match="not valid TOML"):
        load_taxonomy(bad)
