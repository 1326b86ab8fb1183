"""What the console's policies page shows: the policy set in force (directory, digest,
files, each policy's id, effect, advice and place) and the subtraction table, computed by
``PolicyEngine.subtraction_table`` exactly as `enclave policy table` and
``GET /v1/enclave/tiers`` compute it (enclave/policy/table.py), never written by hand.

The engine passed in should be the gateway's own (``ClientApi.policy``), which SIGHUP
reloads, so the page shows what decides requests now. Reading is open to every operator
role, like the public tiers document.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass

from enclave.config import TierConfig
from enclave.policy import PolicyEngine, SubtractionTable


@dataclass(frozen=True, slots=True)
class PolicyRow:
    id: str
    effect: str
    advice: str
    file: str
    line: int


@dataclass(frozen=True, slots=True)
class BandRow:
    low: str
    high: str
    outcome: str  # the advice, or "deny" when Cedar denies
    policies: str


@dataclass(frozen=True, slots=True)
class TableRow:
    """One line of `enclave policy table`: categories treated alike share a row."""

    tier: str
    action: str
    purposes: str  # "all" when every purpose of the tier shares the outcome
    categories: str
    summary: str
    bands: list[BandRow]
    order: int  # position in the computed table (tiers as configured): the default sort


@dataclass(frozen=True, slots=True)
class PoliciesView:
    directory: str
    digest: str
    files: list[str]
    warnings: list[str]
    policies: list[PolicyRow]
    thresholds: list[str]
    table: list[TableRow]


def table_rows(table: SubtractionTable, tiers: Mapping[str, TierConfig]) -> list[TableRow]:
    grouped: dict[tuple[str, str, tuple[str, ...], str], list[str]] = {}
    bands: dict[tuple[str, str, tuple[str, ...], str], list[BandRow]] = {}
    for r in table.rows:
        key = (r.tier, r.action, r.purposes, r.summary)
        grouped.setdefault(key, []).append(r.category)
        bands.setdefault(
            key,
            [
                BandRow(
                    low=b.low,
                    high=b.high,
                    outcome=b.advice.value if b.allowed else f"deny ({b.advice.value})",
                    policies=", ".join(b.policies) or "(default deny)",
                )
                for b in r.bands
            ],
        )
    rows = []
    for order, (key, categories) in enumerate(grouped.items()):
        tier, action, purposes, summary = key
        every = tier in tiers and set(purposes) == set(tiers[tier].purposes)
        rows.append(
            TableRow(
                tier=tier,
                action=action,
                purposes="all" if every else ", ".join(purposes),
                categories=", ".join(categories),
                summary=summary,
                bands=bands[key],
                order=order,
            )
        )
    return rows


class PoliciesPage:
    """The view, recomputed only when the policy set's digest changes (the table costs
    about 50 ms for the shipped policies; see gateway/tiers.py)."""

    def __init__(self, engine: PolicyEngine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._view: PoliciesView | None = None

    def view(self) -> PoliciesView:
        with self._lock:
            if self._view is None or self._view.digest != self._engine.info.digest:
                self._view = self._compute()
            return self._view

    def _compute(self) -> PoliciesView:
        # The engine swaps its whole snapshot on reload; a reload between reading the set's
        # description and computing the table would mix two sets, so read until both
        # name the same digest (a reload takes milliseconds; a few tries always suffice).
        while True:
            info = self._engine.info
            policies = sorted(self._engine.policies.values(), key=lambda p: (p.file, p.line))
            table = self._engine.subtraction_table()
            if info.digest == table.digest == self._engine.info.digest:
                break
        return PoliciesView(
            directory=info.directory,
            digest=info.digest,
            files=list(info.files),
            warnings=list(info.warnings),
            policies=[
                PolicyRow(id=p.id, effect=p.effect, advice=p.advice.value, file=p.file, line=p.line)
                for p in policies
            ],
            thresholds=list(table.thresholds),
            table=table_rows(table, self._engine.tiers),
        )


__all__ = ["BandRow", "PoliciesPage", "PoliciesView", "PolicyRow", "TableRow", "table_rows"]
