"""Ledger fixtures: the real services over the ``db`` fixture (SQLite and PostgreSQL), an
approved maintainer organisation with credits from a funded pool, and a price."""

from __future__ import annotations

import pytest
from ledger_support import PRICES, M, World

from enclave.config import Settings
from enclave.ledger import PriceRef
from enclave.ledger.pricing import price_ref
from enclave.registry import Organisation
from enclave.store import Database
from enclave.store.ledger_repo import open_credits


@pytest.fixture
def ledger_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"prices": PRICES})


@pytest.fixture
def price(ledger_settings: Settings) -> PriceRef:
    return price_ref("m-large", ledger_settings.prices["m-large"])


@pytest.fixture
def world(db: Database, ledger_settings: Settings, registry, admin, clock) -> World:
    ledger, credits = open_credits(db, ledger_settings, clock=clock)
    return World(ledger=ledger, credits=credits, registry=registry, admin=admin, db=db)


@pytest.fixture
def curl(world: World, reviewers) -> Organisation:
    """An approved maintainer with 100 credits granted from a pool of 1000."""
    org = world.approved_org("curl", reviewers)
    world.credits.fund(world.admin, pool="oss", amount=1000 * M, create=True)
    world.credits.grant(world.admin, pool="oss", org=org.id, amount=100 * M)
    return org
