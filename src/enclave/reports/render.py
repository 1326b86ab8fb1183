"""Markdown and HTML renderings of a report document (jsondoc.py). Both escape every
value that came from data: an organisation's name or sector is whatever its applicant
typed, and must not become markup in either format."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from enclave.reports.charts import charts

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~])")


def md_text(value: object) -> str:
    """Text safe in a Markdown paragraph or table cell: no HTML, no emphasis, links or
    table breaks; line breaks folded to spaces."""
    text = re.sub(r"[\r\n\t]+", " ", str(value))
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", text)


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    if not rows:
        return ["None in this period.", ""]
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return [*out, ""]


def _breakdown(b: Mapping[str, Any], count: str = "count") -> list[str]:
    rows = [[md_text(k) for k in r["keys"]] + [md_text(r["shown"])] for r in b["rows"]]
    if rows:
        rows.append(["**total**"] + [""] * (len(b["columns"]) - 1) + [md_text(b["total"]["shown"])])
    return _table([md_text(c) for c in b["columns"]] + [count], rows)


def withheld_series(daily: list[dict[str, Any]]) -> str:
    """The sentence saying which daily series were left out, or ''."""
    gone = [k for k in ("requests", "refused") if daily and daily[0][k] is None]
    if not gone:
        return ""
    return (
        f"The daily {' and '.join(gone)} series {'is' if len(gone) == 1 else 'are'} left "
        "out: it would reveal a suppressed total."
    )


def _withheld_series(daily: list[dict[str, Any]]) -> list[str]:
    text = withheld_series(daily)
    return [text, ""] if text else []


def _chart(stems: Mapping[str, tuple[str, str]], stem: str, base: str) -> list[str]:
    if stem not in stems:
        return []
    return [f"![{md_text(stems[stem][0])}]({base}{stem}.svg)", ""]


def markdown(doc: Mapping[str, Any], *, chart_base: str = "") -> str:
    p, acc, sess, disc = doc["period"], doc["access"], doc["sessions"], doc["disclosure"]
    stems = charts(doc)
    cp = doc["checkpoint"]
    median = disc["median_days_to_fix"]
    out = [
        f"# Transparency report, {p['from']} to {p['to']}",
        "",
        f"Period: {p['from']} (inclusive) to {p['to']} (exclusive), {p['days']} days, UTC. "
        f"Generated {doc['generated_at']}. Counts from 1 to "
        f"{doc['suppression']['threshold'] - 1} are shown as "
        f"`<{doc['suppression']['threshold']}`; where a total would reveal one, other "
        f"counts are shown as `≥{doc['suppression']['threshold']}` or the total as "
        "`withheld`.",
        "",
        "## Who had access",
        "",
        f"Organisations with access during the period: {acc['organisations']['shown']}.",
        "",
        *_chart(stems, "organisations-by-kind", chart_base),
        *_breakdown(acc["by_kind"], "organisations"),
        *_breakdown(acc["by_sector"], "organisations"),
        *_chart(stems, "organisations-by-tier", chart_base),
        *_breakdown(acc["by_tier"], "organisations"),
        "Applications decided in the period:",
        "",
        *_breakdown(acc["applications"], "applications"),
        "## Requests",
        "",
        *_withheld_series(doc["requests"]["daily"]),
        *_chart(stems, "requests-daily", chart_base),
        *_chart(stems, "requests-by-tier-purpose", chart_base),
        *_breakdown(doc["requests"]["by_tier_purpose"], "requests"),
        "## Refused requests by risk category",
        "",
        *_chart(stems, "blocked-by-category", chart_base),
        *_breakdown(doc["blocked"], "requests"),
        "## Monitor alerts",
        "",
        *_chart(stems, "alerts-by-category", chart_base),
        *_breakdown(doc["alerts"]["by_category_action"], "alerts"),
        *_breakdown(doc["alerts"]["by_status"], "alerts"),
        "## Sessions",
        "",
        f"Opened: {sess['opened']['shown']}. Held by an operator or a policy: "
        f"{sess['held']['shown']}. Terminated: {sess['terminated']['shown']}.",
        "",
        "Tool calls held for review, by decision:",
        "",
        *_breakdown(sess["held_calls"], "tool calls"),
        "## Findings and disclosure",
        "",
        *_chart(stems, "findings-by-severity", chart_base),
        *_breakdown(doc["findings"], "findings"),
        f"Fixes released: {disc['fixed']}. Median days from notification to fix: "
        f"{'n/a' if median is None else median}. Deadlines met: {disc['deadlines_met']}; "
        f"missed: {disc['deadlines_missed']}.",
        "",
        "## Credits by organisation kind",
        "",
        *_table(
            ["kind", "organisations", "granted", "spent"],
            [
                [
                    md_text(r["kind"]),
                    md_text(r["organisations"]["shown"]),
                    md_text(r["granted"] or "withheld"),
                    md_text(r["spent"] or "withheld"),
                ]
                for r in doc["credits"]
            ],
        ),
        "## What each tier withholds",
        "",
    ]
    sub = doc["subtraction"]
    if sub is None:
        out += ["Not included in this report.", ""]
    else:
        out += [
            f"Policy set {md_text(sub['policy_digest'])}.",
            "",
            *_table(
                ["tier", "purposes", "risk categories", "outcome by risk score"],
                [
                    [
                        md_text(line["tier"]),
                        md_text(", ".join(line["purposes"])),
                        md_text(", ".join(line["categories"])),
                        md_text(line["outcome"]),
                    ]
                    for line in sub["lines"]
                ],
            ),
        ]
    if doc["organisations"]:
        out += [
            "## Organisations that agreed to be named",
            "",
            *_table(
                ["organisation", "kind", "tier", "requests", "credits spent"],
                [
                    [
                        md_text(o["name"]),
                        md_text(o["kind"]),
                        md_text(o["tier"]),
                        str(int(o["requests"])),
                        md_text(o["credits_spent"]),
                    ]
                    for o in doc["organisations"]
                ],
            ),
        ]
    out += ["## Audit checkpoint", ""]
    if cp is None:
        out += ["The audit log had no signed checkpoint: no request figures are anchored.", ""]
    else:
        out += [
            f"Request, session and refusal figures count the events in the first "
            f"{int(cp['tree_size'])} leaves of the audit log, as signed at "
            f"{md_text(cp['created_at'])} (root hash {md_text(cp['root_hash'])}):",
            "",
            "```",
            cp["note"].replace("```", "` ` `").rstrip("\n"),
            "```",
            "",
        ]
    return "\n".join(out)


def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("enclave.reports", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def html(
    doc: Mapping[str, Any],
    *,
    chart_base: str = "",
    json_href: str = "report.json",
    index: Sequence[tuple[str, str]] = (),
) -> str:
    """A standalone page; charts as ``<img>`` from ``chart_base`` + ``<stem>.svg``;
    ``index`` lists other reports as (href, label) before it (the public pages)."""
    stems = charts(doc)
    template = _environment().get_template("report.html")
    return template.render(
        doc=doc,
        charts={stem: title for stem, (title, _) in stems.items()},
        chart_base=chart_base,
        json_href=json_href,
        index=list(index),
        withheld_series=withheld_series(doc["requests"]["daily"]),
    )


__all__ = ["html", "markdown", "md_text", "withheld_series"]
