"""Renderers: Markdown, HTML, JSON and SVG from one report, with hostile text in it."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime
from html.parser import HTMLParser

import pytest

from enclave.policy.interface import Advice, ScoreBand, SubtractionRow, SubtractionTable
from enclave.reports import (
    SCHEMA,
    Checkpoint,
    Gathered,
    OrgActivity,
    Period,
    ReportInputError,
    artefacts,
    build,
    check,
    digest,
    document,
    encode,
)
from enclave.reports.charts import bars, daily, nice_max
from enclave.reports.render import html, markdown, md_text

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = '<script>alert("x")</script> | **bold** [link](http://evil) & "q" \n# heading'
PERIOD = Period(date(2026, 10, 1), date(2026, 10, 8))


def gathered(**overrides: object) -> Gathered:
    values: dict[str, object] = {
        "as_of": datetime(2026, 10, 9, tzinfo=UTC),
        "checkpoint": Checkpoint(
            42,
            b"\x01" * 32,
            "enclave.test/log\n42\nAQ==\n\n— enclave.test/log abc=\n",
            datetime(2026, 10, 9, tzinfo=UTC),
        ),
        "access": [("partner", HOSTILE, "partner")] + [("maintainer", "oss", "maintainer")] * 6,
        "applications": {("maintainer", "approved"): 6, ("partner", "rejected"): 2},
        "requests": {("partner", "vuln-detection"): 3, ("maintainer", "remediation"): 120},
        "daily": {date(2026, 10, 2): (100, 4), date(2026, 10, 5): (23, 0)},
        "blocked": {"malware": 4},
        "alerts": {("credential-access", "block"): 7},
        "alert_status": {"open": 7},
        "sessions_opened": 9,
        "sessions_held": 1,
        "sessions_terminated": 0,
        "held_calls": {},
        "findings": {("high", "notified"): 5},
        "cases": [],
        "credits": {"maintainer": (600_000_000, 12_500_000, 6), "partner": (5_000_000, 0, 1)},
        "named": [OrgActivity(HOSTILE, "maintainer", "maintainer", 17, 2_500_000)],
    }
    values.update(overrides)
    return Gathered(**values)  # type: ignore[arg-type]


TABLE = SubtractionTable(
    digest="sha256:abc",
    categories=("none", "malware"),
    thresholds=("0.8000",),
    rows=(
        SubtractionRow(
            "public",
            "invoke",
            ("general",),
            "malware",
            (
                ScoreBand("0.0000", "0.7999", True, Advice.ALLOW, ("p",)),
                ScoreBand("0.8000", "1.0000", False, Advice.BLOCK, ("b",)),
            ),
        ),
        SubtractionRow("public", "invoke", ("general",), "none", ()),
        SubtractionRow("public", "tool_call", ("general",), "malware", ()),
    ),
)


@pytest.fixture
def doc() -> dict:
    return document(build(gathered(), PERIOD, table=TABLE))


def test_json_document_has_the_schema_and_no_small_count(doc: dict) -> None:
    assert doc["schema"] == SCHEMA
    assert doc["period"] == {"from": "2026-10-01", "to": "2026-10-08", "days": 7}
    rows = {tuple(r["keys"]): r for r in doc["requests"]["by_tier_purpose"]["rows"]}
    assert rows[("partner", "vuln-detection")] == {
        "keys": ["partner", "vuln-detection"],
        "value": None,
        "shown": "<5",
    }
    # The second-smallest is suppressed too: the total would give the first away.
    assert rows[("maintainer", "remediation")]["value"] is None
    assert doc["requests"]["by_tier_purpose"]["total"] == {"value": 123, "shown": "123"}
    credits = {r["kind"]: r for r in doc["credits"]}
    assert credits["maintainer"]["granted"] == "600" and credits["maintainer"]["spent"] == "12.5"
    assert credits["partner"]["granted"] is None  # one organisation: its sum is withheld
    assert len(doc["requests"]["daily"]) == 7
    # Refusals total 4 ("<5"): the refused-per-day series would reveal it, so it is out.
    assert doc["requests"]["daily"][1] == {"date": "2026-10-02", "requests": 100, "refused": None}
    assert "daily refused series is left out" in markdown(doc)
    shown = document(build(gathered(blocked={"malware": 4, "phishing": 5}), PERIOD, table=None))
    assert shown["requests"]["daily"][1]["refused"] == 4
    assert doc["subtraction"]["lines"] == [
        {
            "tier": "public",
            "purposes": ["general"],
            "categories": ["malware"],
            "outcome": "allow; block >= 0.8000",
        }
    ]
    assert doc["checkpoint"]["tree_size"] == 42
    assert doc["checkpoint"]["root_hash"] == "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="

    # Every raw value 1..4 is gone from the numeric fields of the breakdowns.
    def small_values(node: object) -> list[int]:
        if isinstance(node, dict):
            found = [
                v for k, v in node.items() if k == "value" and isinstance(v, int) and 0 < v < 5
            ]
            return found + [x for v in node.values() for x in small_values(v)]
        if isinstance(node, list):
            return [x for v in node for x in small_values(v)]
        return []

    assert small_values(doc) == []


def test_encoding_is_canonical_and_the_digest_covers_it(doc: dict) -> None:
    body = encode(doc)
    assert json.loads(body) == doc
    assert encode(json.loads(body)) == body
    assert digest(doc).startswith("sha256:") and len(digest(doc)) == 71
    assert check(json.loads(body)) == doc
    with pytest.raises(ReportInputError):
        check({"schema": "something/else"})


def test_markdown_escapes_hostile_names(doc: dict) -> None:
    text = markdown(doc)
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert "[link](http://evil)" not in text and "**bold**" not in text
    # A pipe in a name does not split a table row; a newline does not start a heading.
    rows = [row for row in text.splitlines() if "script" in row and row.startswith("|")]
    cells = [len(re.split(r"(?<!\\)\|", row)) - 2 for row in rows]
    assert cells == [2, 5]  # the sector table, the named organisations
    assert "\n# heading" not in text
    assert md_text("a|b") == "a\\|b"


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_escapes_hostile_names_and_links_charts(doc: dict) -> None:
    page = html(doc, chart_base="/transparency/rep_1/charts/")
    parser = _Collect()
    parser.feed(page)
    assert "script" not in parser.tags
    assert any("<script>alert" in t for t in parser.text)  # shown as text
    assert 'src="/transparency/rep_1/charts/requests-daily.svg"' in page
    assert "<5" not in page.replace("&lt;5", "")  # the marker is escaped as text too


def test_every_chart_is_well_formed_accessible_svg(doc: dict) -> None:
    files = artefacts(doc)
    svgs = {name: text for name, text in files.items() if name.endswith(".svg")}
    assert {"requests-daily.svg", "alerts-by-category.svg", "findings-by-severity.svg"} <= set(svgs)
    # Every bar suppressed ("<5" refusals; organisations "≥5" and "<5"): no chart to draw.
    assert "blocked-by-category.svg" not in svgs and "organisations-by-kind.svg" not in svgs
    for name, text in svgs.items():
        root = ET.fromstring(text.encode("utf-8"))
        assert root.tag == f"{SVG}svg", name
        assert root.get("role") == "img"
        title = root.find(f"{SVG}title")
        assert title is not None and title.text
        assert root.find(f"{SVG}desc") is not None
        assert not list(root.iter(f"{SVG}script"))
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", "")
        assert "@import" not in text and "url(" not in text


def test_chart_labels_escape_hostile_text() -> None:
    text = bars("x", HOSTILE, [(HOSTILE, 3, "<5"), ("b", None, "≥5")], unit="organisations")
    root = ET.fromstring(text)
    assert not list(root.iter(f"{SVG}script"))
    labels = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    assert "<5" in labels and "≥5" in labels
    assert "organisations" in labels  # the axis label


def test_daily_chart_with_one_day_and_with_none() -> None:
    ET.fromstring(daily("d", "t", [("2026-10-01", 5, 1)]))
    ET.fromstring(daily("d", "t", []))


def test_nice_axis_maximum() -> None:
    assert nice_max(0) == (1, 1)
    assert nice_max(3) == (3, 1)
    assert nice_max(123) == (150, 50)
    assert nice_max(1000)[0] >= 1000


def test_no_subtraction_table_and_no_checkpoint_are_said_plainly() -> None:
    doc = document(build(gathered(checkpoint=None), PERIOD, table=None))
    assert doc["checkpoint"] is None and doc["subtraction"] is None
    text = markdown(doc)
    assert "no signed checkpoint" in text and "Not included in this report" in text
    html(doc)
