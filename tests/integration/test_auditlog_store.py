"""The SQL log store on SQLite and PostgreSQL: consecutive indices whatever the event
seqs, one sequencer at a time across threads, and no event passed over when events
commit out of seq order (PostgreSQL)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import orjson
import pytest
from auditlog_world import T0, World, make_world
from sqlalchemy import text

from enclave.auditlog import (
    AuditLog,
    check_inclusion,
    inclusion_json,
    open_checkpoint,
    parse_inclusion,
)
from enclave.auditlog.merkle import leaf_hash, root_of
from enclave.errors import StoreError
from enclave.events import Event
from enclave.registry import Evidence, Operator, RegistryService
from enclave.store import Database
from enclave.store.auditlog_repo import SqlAuditLog
from enclave.store.engine import write_connection
from enclave.store.events_repo import SqlEvents


def _leaves(db: Database) -> list[tuple[int, int, bytes]]:
    with db.engine.connect() as conn:
        rows = conn.execute(text("SELECT idx, event_seq, leaf_hash FROM log_leaves ORDER BY idx"))
        return [(r[0], r[1], bytes(r[2])) for r in rows]


def _seqs(db: Database) -> list[int]:
    with db.engine.connect() as conn:
        return [r[0] for r in conn.execute(text("SELECT seq FROM events ORDER BY seq"))]


def test_registry_events_become_leaves_a_third_party_can_check(
    db: Database, registry: RegistryService, admin: Operator
) -> None:
    registry.create_org(
        admin,
        name="Acme",
        kind="partner",
        tier="partner",
        sector="energy",
        contact="sec@acme.example",
        evidence=Evidence(text="CERT member", links=("https://acme.example",)),
    )
    world = make_world(db, batches=())
    world.log.integrate()
    with db.reader() as unit:
        stored = unit.list_events(limit=100)
    assert len(stored) >= 2
    for index, stored_event in enumerate(stored):
        proof = world.log.inclusion_proof(index)
        event = stored_event.event
        assert orjson.loads(proof.entry) == {
            "seq": stored_event.seq,
            "at": event.at.isoformat().replace("+00:00", "Z"),
            "kind": event.kind,
            "actor": event.actor,
            "subject": event.subject,
            "data": dict(event.data),
        }
        check_inclusion(parse_inclusion(inclusion_json(proof)), world.signer.verifier)
    assert world.log.verify().ok


def test_indices_are_consecutive_across_seq_gaps(db: Database) -> None:
    world = make_world(db, batches=(3,))
    # A transaction that appends events and rolls back: PostgreSQL's sequence keeps the
    # numbers it handed out, so seqs jump; SQLite reuses them. Indices must not care.
    with pytest.raises(RuntimeError), write_connection(db.engine) as conn:
        SqlEvents(conn).append_many([Event("t.lost", "system", "x", T0)] * 5)
        raise RuntimeError("roll back")
    world.append(4)
    world.log.integrate(batch=2)  # seq windows of 2 must widen past a gap of 5
    leaves = _leaves(db)
    assert [idx for idx, _, _ in leaves] == list(range(7))
    assert [seq for _, seq, _ in leaves] == _seqs(db)
    if db.engine.dialect.name == "postgresql":
        assert leaves[3][1] - leaves[2][1] == 6  # the gap the rollback left
    checkpoint = open_checkpoint(world.log.latest_checkpoint().note, world.signer.verifier)
    assert checkpoint.root == root_of([h for _, _, h in leaves])


def test_concurrent_integrators_sequence_each_event_once(db: Database) -> None:
    """Four integrators (as four gateway processes would run) race two writers."""
    world = make_world(db, batches=())
    stop = threading.Event()

    def write(_: int) -> None:
        for _ in range(20):
            world.append(7)

    def integrate(_: int) -> None:
        log = AuditLog(store=SqlAuditLog(db.engine), signer=world.signer)
        while not stop.is_set():
            log.integrate(batch=16)

    with ThreadPoolExecutor(6) as pool:
        integrators = [pool.submit(integrate, i) for i in range(4)]
        writers = [pool.submit(write, i) for i in range(2)]
        for future in writers:
            future.result()
        stop.set()
        for future in integrators:
            future.result()
    world.log.integrate()
    leaves = _leaves(db)
    assert [idx for idx, _, _ in leaves] == list(range(280))
    assert [seq for _, seq, _ in leaves] == _seqs(db)
    report = world.log.verify()
    assert report.ok and report.tree_size == 280, report.problems
    assert len(report.checked) > 1  # many checkpoints, each consistent with the one before


def test_an_event_that_commits_late_is_not_passed_over(db: Database) -> None:
    """Transaction A appends (seq s) and stays open; B appends (seq s+1) and commits. An
    integrator that took "everything after the last seq" now would sequence s+1 and never
    s. On PostgreSQL the store's fence refuses to sequence past A (and gives up after
    100 ms rather than stall writers); on SQLite A holds the only write lock, so B cannot
    even run and the integrator waits for A."""
    world = make_world(db, batches=(2,))
    a = db.engine.connect()
    a_tx = a.begin()
    SqlEvents(a).append(Event("t.slow", "system", "a", T0))
    if db.engine.dialect.name == "postgresql":
        world.append(1)  # B
        with pytest.raises(StoreError, match="stayed open for more than 100 ms"):
            world.log.integrate()
        assert len(_leaves(db)) == 2  # B was not sequenced ahead of A
        a_tx.commit()
    else:
        worker = threading.Thread(target=world.log.integrate)
        worker.start()  # waits on BEGIN IMMEDIATE until A ends
        a_tx.commit()
        worker.join(timeout=60)
        assert not worker.is_alive()
    a.close()
    world.log.integrate()
    leaves = _leaves(db)
    assert [seq for _, seq, _ in leaves] == _seqs(db)
    assert len(leaves) == (4 if db.engine.dialect.name == "postgresql" else 3)
    assert world.log.verify().ok


def test_store_reads_stop_at_a_missing_row(db: Database) -> None:
    world: World = make_world(db, batches=(300,))
    with SqlAuditLog(db.engine).log_reader() as reader:
        assert len(reader.read_hashes(0, 250, 300)) == 50
        assert reader.read_hashes(8, 0, 2) == [root_of(reader.read_hashes(0, 0, 256))]
        entries = reader.read_entries(0, 3)
        assert [leaf_hash(e) for e in entries] == reader.read_hashes(0, 0, 3)
        assert reader.last_sequenced_seq() == _seqs(db)[-1]
    assert world.log.latest_checkpoint().size == 300
