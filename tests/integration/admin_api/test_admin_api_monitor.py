"""The monitor's triage over HTTP: sessions, alerts, held tool calls (docs/monitor.md)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from admin_support import Api, Ops, assert_problem, unchanged
from monitor_support import Monitored, record_session

from enclave.app import build_app
from enclave.gateway.client_routes import ClientApi
from enclave.monitor import MonitorService
from enclave.registry import RegistryService
from enclave.runtime import Runtime
from enclave.store.monitor_repo import build_monitor
from serving import LiveServer


@pytest.fixture
def secret(api: Api) -> str:
    acme = api.approved_org("Acme")
    return str(api.ok("POST", "/keys", {"org": acme, "purposes": ["general"]})["secret"])


@pytest.fixture
def monitored(runtime: Runtime, registry: RegistryService, secret: str) -> Monitored:
    return record_session(build_monitor(runtime.settings, runtime.db), registry, secret)


def test_sessions_list_and_show_with_held_calls_alerts_and_events(
    api: Api, monitored: Monitored
) -> None:
    listed = api.ok("GET", "/sessions", as_="auditor")["items"]
    assert [s["id"] for s in listed] == [monitored.session]
    assert listed[0]["status"] == "active" and listed[0]["client_session_id"] == "run-1"
    assert listed[0]["alerts"] == len(monitored.alerts) and listed[0]["events"] == 2

    shown = api.ok("GET", f"/sessions/{monitored.session}", as_="auditor")
    assert shown["session"]["id"] == monitored.session
    assert [(h["id"], h["status"], h["tool_call_id"]) for h in shown["held"]] == [
        (monitored.held, "pending", "call_held")
    ]
    assert "transfer.sh" in shown["held"][0]["arguments"]
    assert {a["id"] for a in shown["alerts"]} == set(monitored.alerts)
    kinds = [e["kind"] for e in shown["events"]]
    assert kinds == ["monitor.session.opened", "monitor.tool_call", "monitor.tool_call"]
    assert all(e["subject"] == monitored.session for e in shown["events"])
    # Hashes and sizes of the arguments, never the arguments themselves.
    assert "transfer.sh" not in str(shown["events"])
    assert shown["next_after"] == shown["events"][-1]["seq"]

    assert api.ok("GET", "/sessions?status=terminated")["items"] == []
    assert api.ok("GET", "/sessions?status=active&limit=1")["items"][0]["id"] == monitored.session


def test_alerts_list_filters_and_show_evidence(api: Api, monitored: Monitored) -> None:
    everything = api.ok("GET", "/alerts", as_="auditor")["items"]
    assert {a["id"] for a in everything} == set(monitored.alerts)
    categories = {a["category"] for a in everything}
    assert {"track-covering", "exfiltration"} <= categories

    track = api.ok("GET", "/alerts?category=track-covering")["items"]
    assert [a["id"] for a in track] == [monitored.flagged_alert]
    assert api.ok("GET", f"/alerts?session={monitored.session}&status=open")["items"]
    assert api.ok("GET", "/alerts?session=ses_other")["items"] == []
    assert api.ok("GET", "/alerts?status=resolved")["items"] == []
    assert len(api.ok("GET", "/alerts?limit=1")["items"]) == 1

    alert = api.ok("GET", f"/alerts/{monitored.flagged_alert}", as_="auditor")
    assert alert["status"] == "open" and alert["action"] == "flag"
    assert alert["tool_call_id"] == "call_flag" and alert["session_id"] == monitored.session
    assert alert["evidence"]["event"]["tool"] == "bash"
    assert alert["evidence"]["event"]["command"] == ["history -c"]
    assert len(alert["event_seqs"]) == 1


def test_acknowledge_then_resolve_an_alert_is_recorded(api: Api, monitored: Monitored) -> None:
    alert = monitored.flagged_alert
    acked = api.ok("POST", f"/alerts/{alert}/ack", {"note": "looking"}, as_="rev-a")
    assert acked["status"] == "acked" and acked["acked_by"].startswith("operator:")
    assert_problem(api.post(f"/alerts/{alert}/ack", {}), 409, "conflict")

    resolved = api.ok("POST", f"/alerts/{alert}/resolve", {"resolution": "own lab host"})
    assert resolved["status"] == "resolved" and resolved["resolution"] == "own lab host"
    assert_problem(api.post(f"/alerts/{alert}/resolve", {"resolution": "again"}), 409, "conflict")
    assert [a["id"] for a in api.ok("GET", "/alerts?status=resolved")["items"]] == [alert]

    recorded = api.ok("GET", f"/events?subject={alert}")["items"]
    kinds = [e["kind"] for e in recorded]
    assert kinds[-2:] == ["monitor.alert.acked", "monitor.alert.resolved"]
    assert recorded[-1]["data"] == {"resolution": "own lab host"}


def test_decide_a_held_call_once(api: Api, monitored: Monitored) -> None:
    decided = api.ok(
        "POST", f"/held/{monitored.held}/decide", {"decision": "approve", "reason": "ok"}
    )
    assert decided["status"] == "approved" and decided["decided_by"].startswith("operator:")
    again = api.post(f"/held/{monitored.held}/decide", {"decision": "reject"})
    assert "approved" in assert_problem(again, 409, "conflict")["detail"]
    shown = api.ok("GET", f"/sessions/{monitored.session}")
    assert [h["status"] for h in shown["held"]] == ["approved"]
    assert "monitor.held.approved" in {
        e["kind"] for e in api.ok("GET", f"/events?subject={monitored.held}")["items"]
    }


def test_hold_release_and_terminate_a_session(api: Api, monitored: Monitored) -> None:
    session = monitored.session
    held = api.ok("POST", f"/sessions/{session}/hold", {"reason": "look closer"}, as_="rev-b")
    assert held["status"] == "held" and held["status_reason"] == "look closer"
    assert_problem(api.post(f"/sessions/{session}/hold", {}), 409, "conflict")

    released = api.ok("POST", f"/sessions/{session}/release", {"reject": True, "reason": "no"})
    assert released["status"] == "active"
    shown = api.ok("GET", f"/sessions/{session}")
    assert [h["status"] for h in shown["held"]] == ["rejected"]

    ended = api.ok("POST", f"/sessions/{session}/terminate", {"reason": "out of scope"})
    assert ended["status"] == "terminated" and ended["status_by"].startswith("operator:")
    assert_problem(api.post(f"/sessions/{session}/terminate", {}), 409, "conflict")
    assert_problem(api.post(f"/sessions/{session}/release", {}), 409, "conflict")
    assert [s["id"] for s in api.ok("GET", "/sessions?status=terminated")["items"]] == [session]
    kinds = [e["kind"] for e in api.ok("GET", f"/events?subject={session}")["items"]]
    assert kinds[-3:] == [
        "monitor.session.held",
        "monitor.session.active",
        "monitor.session.terminated",
    ]


def test_a_released_session_approves_its_pending_calls(api: Api, monitored: Monitored) -> None:
    api.ok("POST", f"/sessions/{monitored.session}/hold", {})
    api.ok("POST", f"/sessions/{monitored.session}/release", {})
    assert api.ok("GET", f"/sessions/{monitored.session}")["held"][0]["status"] == "approved"


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("GET", "/sessions/ses_nope", None, 404, "not_found"),
        ("GET", "/alerts/alr_nope", None, 404, "not_found"),
        ("POST", "/alerts/alr_nope/ack", {}, 404, "not_found"),
        ("POST", "/held/hld_nope/decide", {"decision": "approve"}, 404, "not_found"),
        ("POST", "/sessions/ses_nope/terminate", {}, 404, "not_found"),
        ("GET", "/alerts?category=mischief", None, 422, "validation_failed"),
        ("GET", "/alerts?limit=0", None, 422, "validation_failed"),
        ("GET", "/sessions?status=paused", None, 422, "validation_failed"),
        ("GET", "/sessions?limit=1001", None, 422, "validation_failed"),
        ("POST", "/held/{held}/decide", {"decision": "maybe"}, 422, "validation_failed"),
        (
            "POST",
            "/held/{held}/decide",
            {"decision": "approve", "why": "x"},
            422,
            "validation_failed",
        ),
        ("POST", "/alerts/{alert}/resolve", {}, 422, "validation_failed"),
        ("POST", "/alerts/{alert}/resolve", {"resolution": ""}, 422, "validation_failed"),
        ("POST", "/alerts/{alert}/resolve", {"resolution": "   "}, 400, "invalid_input"),
        ("POST", "/alerts/{alert}/ack", {"note": "x" * 2001}, 422, "validation_failed"),
        ("POST", "/sessions/{session}/hold", {"reason": 5}, 422, "validation_failed"),
        ("POST", "/sessions/{session}/release", {"reject": "maybe"}, 422, "validation_failed"),
    ],
)
def test_bad_requests_are_problems_and_change_nothing(
    api: Api,
    monitored: Monitored,
    registry: RegistryService,
    ops: Ops,
    method: str,
    path: str,
    body: object,
    status: int,
    code: str,
) -> None:
    path = path.format(
        held=monitored.held, alert=monitored.flagged_alert, session=monitored.session
    )
    with unchanged(registry, ops.root):
        if body is None:
            response = api.request(method, path)
        else:
            response = api.request(method, path, body)
        assert_problem(response, status, code)
    assert api.ok("GET", f"/sessions/{monitored.session}")["session"]["status"] == "active"


def test_auditors_read_but_do_not_triage(
    api: Api, monitored: Monitored, registry: RegistryService, ops: Ops
) -> None:
    with unchanged(registry, ops.root):
        for path, body in (
            (f"/alerts/{monitored.flagged_alert}/ack", {}),
            (f"/alerts/{monitored.flagged_alert}/resolve", {"resolution": "x"}),
            (f"/held/{monitored.held}/decide", {"decision": "approve"}),
            (f"/sessions/{monitored.session}/hold", {}),
            (f"/sessions/{monitored.session}/release", {}),
            (f"/sessions/{monitored.session}/terminate", {}),
        ):
            problem = assert_problem(api.post(path, body, as_="auditor"), 403, "forbidden")
            assert "needs role admin or reviewer" in problem["detail"]
        assert_problem(api.get("/alerts", as_=None), 401, "unauthenticated")


@pytest.fixture
def clocked(
    live_server: LiveServer, runtime: Runtime, ops: Ops, clock: Any
) -> Iterator[tuple[Api, MonitorService]]:
    """The app with a monitor on the test's clock, so that a hold can time out."""
    monitor = build_monitor(runtime.settings, runtime.db, clock=clock)
    app = build_app(runtime, client=ClientApi.build(runtime, monitor=monitor))
    with live_server.mounted(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        yield Api(http, ops.tokens), monitor


def test_a_held_call_past_its_deadline_has_expired(
    clocked: tuple[Api, MonitorService], registry: RegistryService, clock: Any
) -> None:
    api, monitor = clocked
    acme = api.approved_org("Acme")
    secret = str(api.ok("POST", "/keys", {"org": acme, "purposes": ["general"]})["secret"])
    monitored = record_session(monitor, registry, secret)
    pending = monitor.held_status(monitored.held)
    assert pending.status.value == "pending"
    clock.advance(seconds=(pending.deadline - pending.created_at).total_seconds() + 1)
    late = api.post(f"/held/{monitored.held}/decide", {"decision": "approve"})
    assert "expired" in assert_problem(late, 409, "conflict")["detail"]
    held = api.ok("GET", f"/sessions/{monitored.session}")["held"][0]
    assert held["status"] == "expired" and held["decided_by"] == "system"
