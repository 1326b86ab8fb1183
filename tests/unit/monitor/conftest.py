"""Fixtures for the monitor: the shipped rules compiled once, principals of each tier, and
a MonitorService on the real database (SQLite and PostgreSQL through ``db``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from enclave.assets import AssetService
from enclave.monitor import MemoryStates, MonitorService, RuleEngine, load_rules
from enclave.monitor.actions import TableActions
from enclave.registry import Operator, OrgStatus, Principal, RegistryService
from enclave.store import Database
from enclave.store.monitor_repo import SqlMonitorStore

SCOPE = ("host:10.20.0.0/16", "domain:acme.example", "repo:https://git.acme.example/team/app")
PURPOSES = {"partner": "penetration-testing", "maintainer": "vuln-detection", "public": "general"}


@pytest.fixture(scope="session")
def engine() -> RuleEngine:
    return RuleEngine(load_rules())


def verified_scope(
    assets: AssetService, org_id: str, scope: tuple[str, ...], by: tuple[Operator, Operator]
) -> list[str]:
    """Real verified assets for ``scope`` entries (attested, four-eyes), as key scope ids."""
    ids = []
    for entry in scope:
        kind, value = entry.split(":", 1)
        asset = assets.add(by[0], org_id, kind=kind, value=value)
        assets.attest(by[0], asset.id, reason="test fixture")
        ids.append(assets.approve(by[1], asset.id, reason="test fixture").id)
    return ids


@pytest.fixture
def make_principal(
    registry: RegistryService,
    assets: AssetService,
    admin: Operator,
    reviewers: tuple[Operator, Operator],
) -> Callable[..., Principal]:
    made: dict[str, int] = {}

    def make(tier: str = "partner", scope: tuple[str, ...] = SCOPE) -> Principal:
        made[tier] = made.get(tier, 0) + 1
        org, app = registry.create_org(admin, name=f"{tier}-org-{made[tier]}", kind=tier, tier=tier)
        for reviewer in reviewers:
            registry.decide(reviewer, app.id, decision="approve", reason="vetted")
            if registry.get_org(admin, org.id)[0].status is OrgStatus.APPROVED:
                break
        ids = verified_scope(assets, org.id, scope, reviewers)
        issued = registry.issue_key(admin, org.id, purposes=[PURPOSES[tier]], scope=ids)
        return registry.authenticate(issued.secret)

    return make


@pytest.fixture
def states() -> MemoryStates:
    return MemoryStates()


@pytest.fixture
def service(
    db: Database, engine: RuleEngine, states: MemoryStates, clock: object, assets: AssetService
) -> MonitorService:
    return MonitorService(
        store=SqlMonitorStore(db.engine),
        engine=engine,
        states=states,
        actions=TableActions(),
        hold_timeout=timedelta(minutes=5),
        clock=clock,  # type: ignore[arg-type]
        scope_of=assets.scope_entries_for_key,
    )
