"""Hand-written SVG charts: horizontal bars for breakdowns, a line chart for the daily
requests. Each is a standalone SVG 1.1 document with ``role="img"``, a ``<title>`` and a
``<desc>`` (WAI-ARIA graphics: the accessible name and description), axis labels, the
generic ``sans-serif`` family (no font is fetched) and no script. Every text that came
from data is escaped (organisation-supplied values such as sectors reach the labels).

Suppressed counts (``<5``, ``≥5``) get no bar: their label says what is published.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

WIDTH = 720
_LABEL_W = 250
_ROW_H = 22
_MAX_LABEL = 38
_FG, _BAR, _ALT, _GRID = "#1f2933", "#2f6f9f", "#c2410c", "#d9dee3"


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _short(label: str) -> str:
    return label if len(label) <= _MAX_LABEL else label[: _MAX_LABEL - 1] + "…"


def nice_max(value: int) -> tuple[int, int]:
    """An axis maximum >= ``value`` and its tick step (1, 2 or 5 times a power of ten)."""
    if value <= 0:
        return 1, 1
    raw = value / 4
    power = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    step = max(1, int(step))
    return step * math.ceil(value / step), step


def _open(name: str, title: str, desc: str, width: int, height: int) -> list[str]:
    return [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{name}-title {name}-desc" font-family="sans-serif" '
        f'font-size="12" fill="{_FG}">',
        f'<title id="{name}-title">{_e(title)}</title>',
        f'<desc id="{name}-desc">{_e(desc)}</desc>',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
    ]


def bars(name: str, title: str, rows: Sequence[tuple[str, int | None, str]], *, unit: str) -> str:
    """``rows``: (label, value or None when suppressed, shown text)."""
    top, bottom = 36, 44
    height = top + bottom + max(1, len(rows)) * _ROW_H
    plot_w = WIDTH - _LABEL_W - 60
    peak, step = nice_max(max((v for _, v, _ in rows if v is not None), default=0))
    desc = "; ".join(f"{label}: {shown}" for label, _, shown in rows) or "no data"
    out = _open(name, title, desc, WIDTH, height)
    out.append(
        f'<text x="{WIDTH // 2}" y="20" text-anchor="middle" font-size="14">{_e(title)}</text>'
    )
    base_x, axis_y = _LABEL_W, top + len(rows) * _ROW_H
    for tick in range(0, peak + 1, step):
        x = base_x + plot_w * tick / peak
        out.append(
            f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{axis_y}" stroke="{_GRID}"/>'
        )
        out.append(f'<text x="{x:.1f}" y="{axis_y + 16}" text-anchor="middle">{tick}</text>')
    for i, (label, value, shown) in enumerate(rows):
        y = top + i * _ROW_H
        out.append(
            f'<text x="{base_x - 8}" y="{y + 15}" text-anchor="end">'
            f"<title>{_e(label)}</title>{_e(_short(label))}</text>"
        )
        length = 0.0 if value is None else plot_w * value / peak
        if length > 0:
            out.append(
                f'<rect x="{base_x}" y="{y + 4}" width="{length:.1f}" height="{_ROW_H - 8}" '
                f'fill="{_BAR}"><title>{_e(label)}: {_e(shown)}</title></rect>'
            )
        out.append(f'<text x="{base_x + length + 6:.1f}" y="{y + 15}">{_e(shown)}</text>')
    out.append(f'<line x1="{base_x}" y1="{top - 4}" x2="{base_x}" y2="{axis_y}" stroke="{_FG}"/>')
    out.append(
        f'<text x="{base_x + plot_w // 2}" y="{height - 8}" text-anchor="middle">{_e(unit)}</text>'
    )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def daily(name: str, title: str, points: Sequence[tuple[str, int | None, int | None]]) -> str:
    """``points``: (ISO date, requests, refused) per day, in order; a series that is None
    throughout is withheld and not drawn."""
    left, right, top, bottom, height = 64, 48, 48, 56, 300
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    all_req = [r or 0 for _, r, _ in points]
    all_ref = [b or 0 for _, _, b in points]
    has_req = any(r is not None for _, r, _ in points)
    has_ref = any(b is not None for _, _, b in points)
    peak, step = nice_max(max([*all_req, *all_ref], default=0))
    first, last = (points[0][0], points[-1][0]) if points else ("", "")
    desc = (
        f"Requests per day (UTC) from {first} to {last}: "
        + (
            f"{sum(all_req)} requests in all, busiest day {max(all_req)}"
            if has_req and points
            else "requests withheld"
        )
        + "; "
        + (f"{sum(all_ref)} refused" if has_ref else "refusals withheld")
        + "."
    )
    out = _open(name, title, desc, WIDTH, height)
    out.append(
        f'<text x="{WIDTH // 2}" y="20" text-anchor="middle" font-size="14">{_e(title)}</text>'
    )
    span = max(1, len(points) - 1)

    def x_of(i: int) -> float:
        return left + (plot_w / 2 if len(points) == 1 else plot_w * i / span)

    def y_of(v: int) -> float:
        return top + plot_h - plot_h * v / peak

    for tick in range(0, peak + 1, step):
        y = y_of(tick)
        out.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="{_GRID}"/>'
        )
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{tick}</text>')
    labels = sorted({0, len(points) - 1, *range(0, len(points), max(1, len(points) // 6))})
    for i in labels:
        if 0 <= i < len(points):
            anchor = "end" if i == len(points) - 1 and len(points) > 1 else "middle"
            out.append(
                f'<text x="{x_of(i):.1f}" y="{top + plot_h + 18}" text-anchor="{anchor}">'
                f"{_e(points[i][0])}</text>"
            )
    lines = (
        (all_req if has_req else [], _BAR, ""),
        (all_ref if has_ref else [], _ALT, ' stroke-dasharray="5 3"'),
    )
    for values, colour, dash in lines:
        coords = " ".join(f"{x_of(i):.1f},{y_of(v):.1f}" for i, v in enumerate(values))
        if coords:
            out.append(
                f'<polyline points="{coords}" fill="none" stroke="{colour}" '
                f'stroke-width="2"{dash}/>'
            )
    out.append(
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="{_FG}"/>'
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        f'stroke="{_FG}"/>'
    )
    out.append(
        f'<text x="{left + plot_w // 2}" y="{height - 10}" text-anchor="middle">day (UTC)</text>'
    )
    out.append(
        f'<text x="16" y="{top + plot_h // 2}" text-anchor="middle" '
        f'transform="rotate(-90 16 {top + plot_h // 2})">requests</text>'
    )
    out.append(
        f'<line x1="{left}" y1="34" x2="{left + 24}" y2="34" stroke="{_BAR}" stroke-width="2"/>'
        f'<text x="{left + 30}" y="38">all requests</text>'
        f'<line x1="{left + 140}" y1="34" x2="{left + 164}" y2="34" stroke="{_ALT}" '
        f'stroke-width="2" stroke-dasharray="5 3"/>'
        f'<text x="{left + 170}" y="38">refused</text>'
    )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _rows(breakdown: Mapping[str, Any]) -> list[tuple[str, int | None, str]]:
    return [(" / ".join(r["keys"]), r["value"], r["shown"]) for r in breakdown["rows"]]


# (file name, title, path to the breakdown in the document, axis unit)
BAR_CHARTS: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    (
        "organisations-by-kind",
        "Organisations with access, by kind",
        ("access", "by_kind"),
        "organisations",
    ),
    (
        "organisations-by-tier",
        "Organisations with access, by tier",
        ("access", "by_tier"),
        "organisations",
    ),
    (
        "requests-by-tier-purpose",
        "Requests by tier and purpose",
        ("requests", "by_tier_purpose"),
        "requests",
    ),
    ("blocked-by-category", "Refused requests by risk category", ("blocked",), "requests"),
    (
        "alerts-by-category",
        "Monitor alerts by category and action",
        ("alerts", "by_category_action"),
        "alerts",
    ),
    ("findings-by-severity", "Findings by severity and case state", ("findings",), "findings"),
)
DAILY_CHART = "requests-daily"


def charts(doc: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """Every chart of a report document: file stem -> (title, SVG text). A breakdown
    with no published value has no chart."""
    found: dict[str, tuple[str, str]] = {}
    daily_points = [(d["date"], d["requests"], d["refused"]) for d in doc["requests"]["daily"]]
    if any(requests for _, requests, _ in daily_points):  # None or 0 throughout: no chart
        title = "Requests per day"
        found[DAILY_CHART] = (title, daily(DAILY_CHART, title, daily_points))
    for stem, title, path, unit in BAR_CHARTS:
        node: Any = doc
        for part in path:
            node = node[part]
        rows = _rows(node)
        # Every bar suppressed: nothing to look at, the table says it all.
        if any(value for _, value, _ in rows):
            found[stem] = (title, bars(stem, title, rows, unit=unit))
    return found


__all__ = ["BAR_CHARTS", "DAILY_CHART", "bars", "charts", "daily", "nice_max"]
