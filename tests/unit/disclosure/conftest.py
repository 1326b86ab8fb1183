"""Disclosure fixtures: a real service over the `db` fixture (SQLite and PostgreSQL), a
recording Notifier (our own Protocol) and the real advisory schemas."""

from __future__ import annotations

import pytest
from disclosure_helpers import SCHEMAS, Outbox

from enclave.config.disclosure import DisclosureConfig
from enclave.disclosure import DisclosureService, Sealer, Validators
from enclave.store import Database
from enclave.store.disclosure_repo import SqlDisclosureStore


@pytest.fixture(scope="session")
def validators() -> Validators:
    return Validators(SCHEMAS)


@pytest.fixture
def outbox() -> Outbox:
    return Outbox()


@pytest.fixture
def service(
    db: Database, clock: object, outbox: Outbox, validators: Validators
) -> DisclosureService:
    return DisclosureService(
        store=SqlDisclosureStore(db.engine),
        sealer=Sealer(b"k" * 32),
        config=DisclosureConfig(schema_dir=SCHEMAS, max_poc_bytes=1000),
        notifier=outbox,
        validators=validators,
        clock=clock,  # type: ignore[arg-type]
    )
