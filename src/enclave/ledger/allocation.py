"""Allocation aid: rank maintainer organisations for grants and propose how to split a
budget. It proposes only; granting needs an operator's confirmation.

Criticality is the OpenSSF Criticality Score (github.com/ossf/criticality_score, the
original algorithm by Rob Pike and its default weights and thresholds)::

    C = 1/sum(a_i) * sum(a_i * log(1 + S_i) / log(1 + max(S_i, T_i)))

for each asset, from signals supplied per asset in CSV or JSON (there is no network here
to collect them). As in the original, the weights' sum includes the negative weight of
``updated_since``, so a project updated this month can score a little above 1; we clamp
to [0, 1]. An organisation's criticality combines its assets as ``1 - prod(1 - C)``: one
critical project is enough to rank high, several rank higher, trivial ones add little.

Need discounts what an organisation already receives: its weight is
``criticality / (1 + received / fair_share)``, where ``received`` is what it was granted in
the look-back window and ``fair_share`` is the budget split evenly among the candidates.
So an organisation that already got one fair share counts half. Amounts are integer
micro-credits split by the largest-remainder method, so they add up to the budget
exactly; ``max_share`` caps any one organisation and redistributes the excess.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from enclave.ledger.interface import LedgerInputError
from enclave.registry import Organisation, OrgKind


@dataclass(frozen=True, slots=True)
class Signal:
    name: str
    weight: float
    threshold: float
    meaning: str


# The original defaults (criticality_score README, "Criticality Score").
SIGNALS: tuple[Signal, ...] = (
    Signal("created_since", 1.0, 120, "months since the project was created"),
    Signal("updated_since", -1.0, 120, "months since the project was last updated"),
    Signal("contributor_count", 2.0, 5000, "contributors with commits"),
    Signal("org_count", 1.0, 10, "distinct organisations of the contributors"),
    Signal("commit_frequency", 1.0, 1000, "average commits per week in the last year"),
    Signal("recent_releases_count", 0.5, 26, "releases in the last year"),
    Signal("closed_issues_count", 0.5, 5000, "issues closed in the last 90 days"),
    Signal("updated_issues_count", 0.5, 5000, "issues updated in the last 90 days"),
    Signal("comment_frequency", 1.0, 15, "average comments per issue in the last 90 days"),
    Signal("dependents_count", 2.0, 500000, "mentions in other projects' commit messages"),
)
SIGNAL_NAMES = tuple(s.name for s in SIGNALS)
_MAX_ASSETS = 100_000


@dataclass(frozen=True, slots=True)
class AssetSignals:
    org: str  # organisation name or id
    asset: str  # e.g. https://github.com/curl/curl or pkg:pypi/requests
    values: Mapping[str, float]


def criticality(values: Mapping[str, float]) -> float:
    total = sum(s.weight for s in SIGNALS)
    score = 0.0
    for s in SIGNALS:
        v = float(values.get(s.name, 0.0))
        score += s.weight * math.log1p(v) / math.log1p(max(v, s.threshold))
    return min(1.0, max(0.0, score / total))


def combined(scores: Sequence[float]) -> float:
    remaining = 1.0
    for score in scores:
        remaining *= 1.0 - score
    return 1.0 - remaining


def _number(raw: object, where: str) -> float:
    if isinstance(raw, bool):
        raise LedgerInputError(f"{where}: expected a number, not {raw!r}")
    if isinstance(raw, int | float):
        value = float(raw)
    elif isinstance(raw, str):
        text = raw.strip()
        if not text:
            return 0.0
        try:
            value = float(text)
        except ValueError:
            raise LedgerInputError(f"{where}: {raw!r} is not a number") from None
    else:
        raise LedgerInputError(f"{where}: expected a number, not {type(raw).__name__}")
    if not math.isfinite(value) or value < 0:
        raise LedgerInputError(f"{where}: expected a finite number >= 0, not {raw!r}")
    return value


def _asset(record: Mapping[str, object], where: str) -> AssetSignals:
    unknown = sorted(set(record) - {"org", "asset", *SIGNAL_NAMES})
    if unknown:
        raise LedgerInputError(
            f"{where}: unknown column(s) {unknown}",
            hint=f"columns: org, asset, {', '.join(SIGNAL_NAMES)}",
        )
    org, asset = record.get("org"), record.get("asset")
    if not isinstance(org, str) or not org.strip():
        raise LedgerInputError(f"{where}: 'org' (organisation name or id) is required")
    if not isinstance(asset, str) or not asset.strip():
        raise LedgerInputError(f"{where}: 'asset' is required")
    values = {
        name: _number(record[name], f"{where}, {name}") for name in SIGNAL_NAMES if name in record
    }
    return AssetSignals(org=org.strip(), asset=asset.strip(), values=values)


def parse_assets(text: str, *, fmt: str) -> list[AssetSignals]:
    """Signals per asset, from CSV (a header row) or JSON (a list of objects)."""
    records: list[Mapping[str, object]]
    if fmt == "json":
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as exc:
            raise LedgerInputError(f"not valid JSON: {exc.msg} (line {exc.lineno})") from None
        if not isinstance(loaded, list) or not all(isinstance(r, dict) for r in loaded):
            raise LedgerInputError("expected a JSON list of objects, one per asset")
        records = loaded
        where = "item {}"
    elif fmt == "csv":
        reader = csv.DictReader(io.StringIO(text))
        if reader.fieldnames is None:
            raise LedgerInputError("the CSV file is empty")
        records = []
        for row in reader:
            if None in row:
                raise LedgerInputError(f"CSV row {reader.line_num}: more cells than columns")
            records.append(row)
        where = "CSV row {}"
    else:
        raise LedgerInputError(f"unknown format {fmt!r}; expected csv or json")
    if not records:
        raise LedgerInputError("no assets in the input")
    if len(records) > _MAX_ASSETS:
        raise LedgerInputError(f"more than {_MAX_ASSETS} assets")
    offset = 2 if fmt == "csv" else 1  # CSV rows count the header line
    return [_asset(r, where.format(i + offset)) for i, r in enumerate(records)]


@dataclass(frozen=True, slots=True)
class Candidate:
    org_id: str
    org_name: str
    criticality: float
    assets: tuple[tuple[str, float], ...]  # (asset, score), highest first
    received: int  # micro-credits granted in the look-back window
    weight: float
    amount: int  # proposed micro-credits


@dataclass(frozen=True, slots=True)
class Proposal:
    pool: str
    budget: int
    candidates: tuple[Candidate, ...]  # ranked, highest weight first
    excluded: tuple[tuple[str, str], ...]  # (organisation, why)
    unallocated: int  # left over when every candidate hit the cap
    params: Mapping[str, object] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        """Identifies this exact proposal; its grants' ids derive from it, so applying
        it twice grants once."""
        body = json.dumps(
            {
                "pool": self.pool,
                "budget": self.budget,
                "grants": [[c.org_id, c.amount] for c in self.candidates if c.amount],
            },
            sort_keys=True,
        )
        return hashlib.sha256(body.encode()).hexdigest()


def _apportion(budget: int, points: Sequence[int], cap: int) -> tuple[list[int], int]:
    """Split ``budget`` in proportion to integer ``points`` by largest remainder, no
    share above ``cap``; returns the amounts and what could not be placed."""
    amounts = [0] * len(points)
    open_ = [i for i, p in enumerate(points) if p > 0]
    left = budget
    while open_ and left > 0:
        total = sum(points[i] for i in open_)
        shares = {i: divmod(left * points[i], total) for i in open_}
        capped = [i for i in open_ if shares[i][0] + (1 if shares[i][1] else 0) > cap]
        if capped:
            for i in capped:
                amounts[i] = cap
                left -= cap
            open_ = [i for i in open_ if i not in capped]
            continue
        base = {i: q for i, (q, _) in shares.items()}
        rest = left - sum(base.values())
        by_remainder = sorted(open_, key=lambda i: (-shares[i][1], i))
        for i in by_remainder[:rest]:
            base[i] += 1
        for i, value in base.items():
            amounts[i] = value
        left = 0
    return amounts, left


def propose(
    assets: Sequence[AssetSignals],
    orgs: Sequence[Organisation],
    received: Mapping[str, int],
    *,
    pool: str,
    budget: int,
    now: datetime,
    min_score: float = 0.0,
    max_share_percent: int = 100,
) -> Proposal:
    if not 0.0 <= min_score <= 1.0:
        raise LedgerInputError("min_score must be between 0 and 1")
    if not 1 <= max_share_percent <= 100:
        raise LedgerInputError("max_share must be a whole percentage between 1 and 100")
    unknown_signals = sorted({k for a in assets for k in a.values} - set(SIGNAL_NAMES))
    if unknown_signals:
        raise LedgerInputError(
            f"unknown signal(s) {unknown_signals}", hint=f"signals: {', '.join(SIGNAL_NAMES)}"
        )
    by_ref: dict[str, Organisation] = {}
    for org in orgs:
        by_ref[org.id] = org
        by_ref[org.name] = org
    unknown = sorted({a.org for a in assets if a.org not in by_ref})
    if unknown:
        raise LedgerInputError(
            f"unknown organisation(s) in the input: {', '.join(unknown[:20])}",
            hint="use names or ids from `enclave org list`",
        )
    scored: dict[str, list[tuple[str, float]]] = {}
    excluded: dict[str, str] = {}
    for a in assets:
        org = by_ref[a.org]
        if org.kind is not OrgKind.MAINTAINER:
            excluded[org.name] = f"kind {org.kind.value}, not maintainer"
            continue
        if not org.is_active(now):
            excluded[org.name] = f"not active (status {org.status.value})"
            continue
        scored.setdefault(org.id, []).append((a.asset, round(criticality(a.values), 5)))
    rows: list[tuple[Organisation, float, list[tuple[str, float]]]] = []
    for org_id, items in scored.items():
        org = by_ref[org_id]
        score = combined([s for _, s in items])
        if score < min_score:
            excluded[org.name] = f"criticality {score:.3f} below {min_score}"
            continue
        rows.append((org, score, sorted(items, key=lambda x: (-x[1], x[0]))))
    fair = budget // len(rows) if rows else 0
    weights = [
        score / (1.0 + (received.get(org.id, 0) / fair if fair else 0.0)) for org, score, _ in rows
    ]
    order = sorted(range(len(rows)), key=lambda i: (-weights[i], rows[i][0].name))
    # Points: weights as integers (parts per billion), so the split itself is exact.
    points = [round(weights[i] * 1_000_000_000) for i in order]
    cap = budget * max_share_percent // 100
    amounts, unallocated = _apportion(budget, points, cap)
    candidates = tuple(
        Candidate(
            org_id=rows[i][0].id,
            org_name=rows[i][0].name,
            criticality=round(rows[i][1], 5),
            assets=tuple(rows[i][2]),
            received=received.get(rows[i][0].id, 0),
            weight=round(weights[i], 6),
            amount=amounts[rank],
        )
        for rank, i in enumerate(order)
    )
    return Proposal(
        pool=pool,
        budget=budget,
        candidates=candidates,
        excluded=tuple(sorted(excluded.items())),
        unallocated=unallocated,
        params={"min_score": min_score, "max_share_percent": max_share_percent},
    )


__all__ = [
    "SIGNALS",
    "SIGNAL_NAMES",
    "AssetSignals",
    "Candidate",
    "Proposal",
    "Signal",
    "combined",
    "criticality",
    "parse_assets",
    "propose",
]
