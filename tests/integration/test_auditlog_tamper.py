"""Tampering with the stored log, on SQLite and PostgreSQL: each change is found by
verify, which names the first bad index. The insider bypasses the append-only triggers
(as anyone with DDL rights can); only the signing key file is out of their reach, except
in the last test, where the key holder rewrites history and only a kept checkpoint shows it.

The log: 40 events integrated in batches of 10 (stored checkpoints at 10, 20, 30, 40).
"""

from __future__ import annotations

import pytest
from auditlog_world import World, as_insider, make_world

from enclave.auditlog import (
    Checkpoint,
    ProblemKind,
    Signer,
    VerificationFailed,
    VerifyReport,
    sign_note,
)
from enclave.store import Database

BAD = 13
FORGED = '{"i":999}'


@pytest.fixture
def world(db: Database) -> World:
    return make_world(db)


def _kinds(report: VerifyReport) -> set[tuple[ProblemKind, int | None]]:
    return {(p.kind, p.index) for p in report.problems}


def test_an_untouched_log_verifies(world: World) -> None:
    report = world.log.verify([("kept", world.note(20))])
    assert report.ok, report.problems
    assert (report.tree_size, report.checked) == (40, (10, 20, 30, 40))


def test_an_edited_entry_is_named(world: World) -> None:
    as_insider(
        world.db, "UPDATE events SET data = :d WHERE seq = :s", d=FORGED, s=world.seq_of(BAD)
    )
    report = world.log.verify()
    assert report.first_bad_index == BAD
    assert (ProblemKind.ENTRY_CHANGED, BAD) in _kinds(report)
    # A one-byte change to another column is found just the same.
    as_insider(world.db, "UPDATE events SET actor = 'systen' WHERE seq = :s", s=world.seq_of(3))
    assert world.log.verify().first_bad_index == 3


def test_a_deleted_event_is_named(world: World) -> None:
    as_insider(world.db, "DELETE FROM events WHERE seq = :s", s=world.seq_of(BAD))
    report = world.log.verify()
    assert report.first_bad_index == BAD
    assert (ProblemKind.ENTRY_MISSING, BAD) in _kinds(report)


def test_a_deleted_leaf_row_is_named(world: World) -> None:
    as_insider(world.db, "DELETE FROM log_leaves WHERE idx = :i", i=BAD)
    report = world.log.verify()
    assert report.first_bad_index == BAD
    assert (ProblemKind.ENTRY_MISSING, BAD) in _kinds(report)


def test_two_swapped_events_are_named(world: World) -> None:
    a, b = world.seq_of(BAD), world.seq_of(BAD + 1)
    as_insider(
        world.db,
        "UPDATE events SET subject = CASE WHEN seq = :a THEN 'subject-14' ELSE 'subject-13' END,"
        " data = CASE WHEN seq = :a THEN :d1 ELSE :d2 END"
        " WHERE seq IN (:a, :b)",
        a=a,
        b=b,
        d1='{"body":"sha256:%s","i":14}' % ("ab" * 32),
        d2='{"body":"sha256:%s","i":13}' % ("ab" * 32),
    )
    report = world.log.verify()
    assert report.first_bad_index == BAD
    assert {(ProblemKind.ENTRY_CHANGED, BAD), (ProblemKind.ENTRY_CHANGED, BAD + 1)} <= _kinds(
        report
    )


def test_two_swapped_leaf_rows_are_named(world: World) -> None:
    a, b = world.seq_of(BAD), world.seq_of(BAD + 1)
    as_insider(
        world.db,
        "UPDATE log_leaves SET event_seq = -1 WHERE idx = :i",
        "UPDATE log_leaves SET event_seq = :a WHERE idx = :j",
        "UPDATE log_leaves SET event_seq = :b WHERE idx = :i",
        i=BAD,
        j=BAD + 1,
        a=a,
        b=b,
    )
    report = world.log.verify()
    assert report.first_bad_index == BAD
    assert (ProblemKind.REORDERED, BAD + 1) in _kinds(report)


def test_a_truncated_log_is_named(world: World) -> None:
    cut = 25
    as_insider(world.db, "DELETE FROM log_leaves WHERE idx >= :i", i=cut)
    report = world.log.verify()
    assert report.first_bad_index == cut
    assert (ProblemKind.TRUNCATED, cut) in _kinds(report)


def test_truncation_with_its_checkpoints_is_named_by_a_kept_checkpoint(world: World) -> None:
    kept = world.note(40)
    cut = 25
    as_insider(
        world.db,
        "DELETE FROM log_checkpoints WHERE tree_size > 20",
        "DELETE FROM log_leaves WHERE idx >= :i",
        "DELETE FROM events WHERE seq >= :s",
        i=cut,
        s=world.seq_of(cut),
    )
    assert world.log.verify().ok  # what is left is consistent with itself
    report = world.log.verify([("kept.txt", kept)])
    assert report.first_bad_index == cut
    assert (ProblemKind.TRUNCATED, cut) in _kinds(report)


def test_a_forged_checkpoint_is_refused_and_stops_the_log(world: World) -> None:
    other = Signer.generate(world.signer.name)  # same name, not the log's key
    forged = sign_note(Checkpoint(world.signer.name, 40, b"\x07" * 32).text(), [other])
    as_insider(world.db, "UPDATE log_checkpoints SET note = :n WHERE tree_size = 40", n=forged)
    report = world.log.verify()
    assert [(p.kind, p.index) for p in report.problems] == [(ProblemKind.BAD_CHECKPOINT, None)]
    assert "size 40" in report.problems[0].detail
    world.append(1)
    with pytest.raises(VerificationFailed, match="not one this log signed"):
        world.log.integrate()


def test_a_checkpoint_with_a_changed_root_is_refused(world: World) -> None:
    note = world.note(30)
    lines = note.split("\n")
    lines[2] = lines[2][:-5] + ("AAAA=" if lines[2][-5:] != "AAAA=" else "BBBB=")
    as_insider(
        world.db, "UPDATE log_checkpoints SET note = :n WHERE tree_size = 30", n="\n".join(lines)
    )
    report = world.log.verify()
    assert (ProblemKind.BAD_CHECKPOINT, None) in _kinds(report)


def test_history_rewritten_with_the_key_is_caught_by_kept_checkpoints(world: World) -> None:
    """The key holder edits entry 13 and its leaf hash, deletes every checkpoint and signs
    the rewritten tree. The log now agrees with itself; the checkpoints a verifier kept
    (sizes 10 and 20) place the change in [10, 20)."""
    kept = [("kept-10.txt", world.note(10)), ("kept-20.txt", world.note(20))]
    seq = world.seq_of(BAD)
    as_insider(
        world.db,
        "UPDATE events SET data = :d WHERE seq = :s",
        "DELETE FROM log_leaves WHERE idx >= :i",
        "DELETE FROM log_hashes",
        "DELETE FROM log_checkpoints",
        d=FORGED,
        s=seq,
        i=BAD,
    )
    world.log.integrate()  # re-sequences 13.. from the edited events and signs size 40
    assert world.log.verify().ok
    report = world.log.verify(kept)
    assert not report.ok
    assert report.first_bad_index == 10
    assert {(p.kind, p.index, p.exact) for p in report.problems} == {
        (ProblemKind.ROOT_MISMATCH, 10, False)
    }
    assert "kept-20.txt" in report.problems[0].detail
