"""store/lanes.py: the priority thread pool the gateway's writes go through."""

from __future__ import annotations

import asyncio
import threading

import pytest

from enclave.store.lanes import Urgency, WriteLanes, lanes_for


def test_queued_work_runs_most_urgent_first_and_in_order_within_an_urgency() -> None:
    lanes = WriteLanes(1)
    gate = threading.Event()
    ran: list[str] = []
    blocker = lanes.submit(Urgency.REQUEST, gate.wait, 10)  # occupies the one thread
    futures = [
        lanes.submit(Urgency.BACKGROUND, ran.append, "events"),
        lanes.submit(Urgency.AFTER, ran.append, "settle-1"),
        lanes.submit(Urgency.REQUEST, ran.append, "reserve-1"),
        lanes.submit(Urgency.AFTER, ran.append, "settle-2"),
        lanes.submit(Urgency.REQUEST, ran.append, "reserve-2"),
    ]
    gate.set()
    assert blocker.result(10) is True
    for future in futures:
        future.result(10)
    assert ran == ["reserve-1", "reserve-2", "settle-1", "settle-2", "events"]
    lanes.close()


def test_errors_reach_the_awaiting_caller_and_the_lane_goes_on() -> None:
    lanes = WriteLanes(1)

    def fail() -> None:
        raise ValueError("refused")

    async def scenario() -> int:
        with pytest.raises(ValueError, match="refused"):
            await lanes.run(Urgency.REQUEST, fail)
        return await lanes.run(Urgency.AFTER, sum, [1, 2, 3])

    assert asyncio.run(scenario()) == 6
    lanes.close()


def test_close_finishes_what_is_queued_and_then_refuses_more() -> None:
    lanes = WriteLanes(2)
    gate = threading.Event()
    done: list[int] = []
    first = lanes.submit(Urgency.REQUEST, gate.wait, 10)
    rest = [lanes.submit(Urgency.BACKGROUND, done.append, n) for n in range(20)]
    closer = threading.Thread(target=lanes.close)
    closer.start()
    gate.set()
    closer.join(10)
    assert not closer.is_alive() and first.result(0)
    assert sorted(done) == list(range(20)) and all(f.done() for f in rest)
    with pytest.raises(RuntimeError, match="closed"):
        lanes.submit(Urgency.REQUEST, done.append, 99)
    lanes.close()  # idempotent


def test_sqlite_gets_one_writer_thread_and_postgresql_several() -> None:
    assert lanes_for("sqlite:///./enclave.db").workers == 1
    assert lanes_for("postgresql+psycopg://localhost/test").workers > 1
    with pytest.raises(ValueError):
        WriteLanes(0)
