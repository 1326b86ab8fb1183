"""`enclave monitor`, `enclave alerts`, `enclave sessions`: the monitored perimeter.

`monitor replay` and `monitor eval` need no database: they run the shipped rules (plus
`--rules DIR`) through the same engine as the gateway. `alerts` and `sessions` triage
what the gateway recorded, acting as an operator (`--as`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from enclave.cli import _common
from enclave.errors import EnclaveError
from enclave.monitor import (
    AlertStatus,
    Category,
    MonitorInputError,
    MonitorService,
    SessionStatus,
)
from enclave.monitor.engine import RuleEngine
from enclave.monitor.evaluate import evaluate_assebench, evaluate_labelled
from enclave.monitor.replay import alerts_json, load_session, replay
from enclave.monitor.rules import describe, load_rules
from enclave.runtime import Runtime
from enclave.store.monitor_repo import build_monitor

app = typer.Typer(help="Replay sessions through the monitor, evaluate it, list its rules.")
alerts_app = typer.Typer(help="List and triage monitor alerts.", no_args_is_help=True)
sessions_app = typer.Typer(
    help="List, hold, release and terminate agent sessions.", no_args_is_help=True
)

ASSEBENCH = Path("../shared/data/assebench-security/AgentJudge-security.json")

RulesDir = Annotated[
    list[Path] | None,
    typer.Option(
        "--rules",
        envvar="ENCLAVE_CLI_MONITOR_RULES",
        metavar="DIR",
        help="Operator Sigma rules to load after the shipped pack (repeatable).",
    ),
]
Reason = Annotated[
    str,
    typer.Option("--reason", envvar="ENCLAVE_CLI_SESSIONS_REASON", help="Why (recorded)."),
]


def _engine(rules: list[Path] | None) -> RuleEngine:
    return _common.guarded(lambda: RuleEngine(load_rules(operator_dirs=list(rules or []))))


def _line(value: Any) -> None:
    sys.stdout.write(json.dumps(value, sort_keys=True) + "\n")


@app.command("replay")
def replay_(
    file: Annotated[Path | None, typer.Argument(help="One JSON session file.")] = None,
    directory: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            envvar="ENCLAVE_CLI_MONITOR_DIR",
            help="Replay every *.json in this folder; one line per file.",
        ),
    ] = None,
    rules: RulesDir = None,
) -> None:
    """Replay a recorded session; print {"alerts": [{category, rule, severity, tool_call_id}]}."""
    if (file is None) == (directory is None):
        _common.fail(_usage("give one session FILE or --dir DIR"))
    engine = _engine(rules)
    if file is not None:
        session = _common.guarded(lambda: load_session(file))
        _line(alerts_json(replay(engine, session)))
        return
    assert directory is not None
    if not directory.is_dir():
        _common.fail(_usage(f"{directory} is not a directory"))
    failed = False
    for path in sorted(directory.glob("*.json")):
        try:
            result: dict[str, Any] = alerts_json(replay(engine, load_session(path)))
        except EnclaveError as exc:
            failed = True
            result = {"error": exc.message}
        _line({"file": path.name, **result})
    if failed:
        raise typer.Exit(2)


def _usage(message: str) -> EnclaveError:
    return MonitorInputError(message)


@app.command("rules")
def rules_(rules: RulesDir = None, as_json: _common.JsonOutput = False) -> None:
    """List the loaded rules (shipped pack and --rules) with their category and source."""
    listing = describe(_engine(rules).rules)
    if as_json:
        _common.emit_json(listing)
        return
    _common.table(
        "id", "category", "severity", "alerts", "title",
        rows=[
            (r["id"], r["category"] or "(signal)", r["severity"], r["alerts"], r["title"])
            for r in listing
        ],
    )  # fmt: skip


@app.command("eval")
def eval_(
    assebench: Annotated[
        Path,
        typer.Option(
            "--assebench",
            envvar="ENCLAVE_CLI_MONITOR_ASSEBENCH",
            help="ASSEBench security split (skipped if absent).",
        ),
    ] = ASSEBENCH,
    labelled: Annotated[
        Path | None,
        typer.Option(
            "--labelled",
            envvar="ENCLAVE_CLI_MONITOR_LABELLED",
            help="Folder of labelled sessions. [default: the shipped set]",
            show_default=False,
        ),
    ] = None,
    rules: RulesDir = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """Detection per category and false alarms on the labelled sessions; detection and
    false-alarm rates per risk type on ASSEBench."""
    engine = _engine(rules)
    report = _common.guarded(lambda: evaluate_labelled(engine, labelled))
    bench = (
        _common.guarded(lambda: evaluate_assebench(engine, assebench))
        if assebench.exists()
        else None
    )
    if as_json:
        _common.emit_json({"labelled": report, "assebench": bench})
        return
    _common.table(
        "category", "sessions", "detected", "rate",
        rows=[
            (c, s.sessions, s.detected, f"{s.detected / s.sessions:.0%}")
            for c, s in sorted(report.categories.items())
        ],
        title="Labelled defender sessions: detection per category",
        keep=("category",),
    )  # fmt: skip
    _common.out.print(
        f"transgressive sessions with an alert: {report.transgressive_detected}/"
        f"{report.transgressive}; benign sessions with an alert (false alarms): "
        f"{report.false_alarms}/{report.benign}",
        markup=False,
    )
    for line in report.misses + report.false_alarm_files:
        _common.out.print(f"  {line}", markup=False)
    if bench is None:
        _common.out.print(f"ASSEBench not found at {assebench}; skipped", markup=False)
        return
    _common.table(
        "risk type", "unsafe", "detected", "safe", "false alarms",
        rows=[
            (k, v.unsafe, f"{v.unsafe_alerted} ({v.unsafe_alerted / max(v.unsafe, 1):.1%})",
             v.safe, f"{v.safe_alerted} ({v.safe_alerted / max(v.safe, 1):.1%})")
            for k, v in sorted(bench.items())
        ],
        title="ASSEBench security (external; general agent risks, no scope)",
        keep=("risk type",),
    )  # fmt: skip


# -- alerts ------------------------------------------------------------------------


def _service(rt: Runtime) -> MonitorService:
    return _common.guarded(
        lambda: build_monitor(
            rt.settings, rt.db, scope_of=rt.assets.scope_entries_for_key if rt.assets else None
        )
    )


def _triage(fn: Callable[[MonitorService, Any], Any], as_: str | None) -> Any:
    with _common.runtime() as rt:
        actor = _common.acting(rt, as_)
        service = _service(rt)
        return _common.guarded(lambda: fn(service, actor))


@alerts_app.command("list")
def alerts_list(
    status: Annotated[
        AlertStatus | None,
        typer.Option("--status", envvar="ENCLAVE_CLI_ALERTS_STATUS", help="Only this status."),
    ] = None,
    category: Annotated[
        Category | None,
        typer.Option(
            "--category", envvar="ENCLAVE_CLI_ALERTS_CATEGORY", help="Only this category."
        ),
    ] = None,
    session: Annotated[
        str | None,
        typer.Option("--session", envvar="ENCLAVE_CLI_ALERTS_SESSION", help="Only this session."),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", envvar="ENCLAVE_CLI_ALERTS_LIMIT", min=1, max=1000)
    ] = 100,
    as_: _common.ActingOperator = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """Newest alerts first."""
    alerts = _triage(
        lambda s, a: s.list_alerts(
            a, status=status, category=category, session=session, limit=limit
        ),
        as_,
    )
    if as_json:
        _common.emit_json(alerts)
        return
    _common.table(
        "id", "when", "status", "category", "severity", "action", "session", "rule",
        rows=[
            (a.id, _common.when(a.created_at), a.status.value, a.category.value,
             a.severity.value, a.action.value, a.session_id, a.rule_id)
            for a in alerts
        ],
        keep=("id", "session"),
    )  # fmt: skip


@alerts_app.command("show")
def alerts_show(
    alert: Annotated[str, typer.Argument(help="Alert id.")],
    as_: _common.ActingOperator = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """One alert with its evidence (the event's fields and its events-table entry)."""
    found = _triage(lambda s, a: s.get_alert(a, alert), as_)
    if as_json:
        _common.emit_json(found)
        return
    _common.fields(
        [
            ("id", found.id),
            ("status", found.status.value),
            ("category", found.category.value),
            ("rule", f"{found.rule_id} ({found.title})"),
            ("severity", found.severity.value),
            ("action", found.action.value),
            ("session", found.session_id),
            ("tool call", found.tool_call_id),
            ("events", ", ".join(str(s) for s in found.event_seqs)),
            ("raised", _common.when(found.created_at)),
            ("acked", f"{_common.when(found.acked_at)} {found.acked_by or ''}"),
            ("resolved", f"{_common.when(found.resolved_at)} {found.resolution or ''}"),
        ]
    )
    _common.out.print(json.dumps(found.evidence, indent=2, sort_keys=True), markup=False)


@alerts_app.command("ack")
def alerts_ack(
    alert: Annotated[str, typer.Argument(help="Alert id.")],
    note: Annotated[str, typer.Option("--note", envvar="ENCLAVE_CLI_ALERTS_NOTE")] = "",
    as_: _common.ActingOperator = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """Acknowledge an open alert (someone is looking at it)."""
    done = _triage(lambda s, a: s.ack_alert(a, alert, note=note), as_)
    _done(done, as_json, f"{done.id} acknowledged")


@alerts_app.command("resolve")
def alerts_resolve(
    alert: Annotated[str, typer.Argument(help="Alert id.")],
    resolution: Annotated[
        str,
        typer.Option(
            "--resolution", envvar="ENCLAVE_CLI_ALERTS_RESOLUTION", help="Outcome (recorded)."
        ),
    ],
    as_: _common.ActingOperator = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """Resolve an alert with its outcome."""
    done = _triage(lambda s, a: s.resolve_alert(a, alert, resolution=resolution), as_)
    _done(done, as_json, f"{done.id} resolved")


def _done(value: Any, as_json: bool, text: str) -> None:
    if as_json:
        _common.emit_json(value)
    else:
        _common.out.print(text, markup=False)


# -- sessions ------------------------------------------------------------------------


@sessions_app.command("list")
def sessions_list(
    status: Annotated[
        SessionStatus | None,
        typer.Option("--status", envvar="ENCLAVE_CLI_SESSIONS_STATUS", help="Only this status."),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", envvar="ENCLAVE_CLI_SESSIONS_LIMIT", min=1, max=1000)
    ] = 100,
    as_: _common.ActingOperator = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """Most recently active sessions first."""
    sessions = _triage(lambda s, a: s.list_sessions(a, status=status, limit=limit), as_)
    if as_json:
        _common.emit_json(sessions)
        return
    _common.table(
        "id", "status", "org", "tier", "purpose", "events", "alerts", "updated", "client id",
        rows=[
            (s.id, s.status.value, s.org_id, s.tier, s.purpose, s.events, s.alerts,
             _common.when(s.updated_at), s.client_session_id)
            for s in sessions
        ],
    )  # fmt: skip


@sessions_app.command("show")
def sessions_show(
    session: Annotated[str, typer.Argument(help="Session id (ses_...).")],
    as_: _common.ActingOperator = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """A session with its held tool calls and alerts."""
    found, held, alerts = _triage(lambda s, a: s.get_session(a, session), as_)
    if as_json:
        _common.emit_json({"session": found, "held": held, "alerts": alerts})
        return
    _common.fields(
        [
            ("id", found.id),
            ("client id", found.client_session_id),
            ("status", f"{found.status.value} {found.status_reason or ''}"),
            ("org / key", f"{found.org_id} / {found.key_id}"),
            ("tier / purpose", f"{found.tier} / {found.purpose}"),
            ("events / alerts", f"{found.events} / {found.alerts}"),
        ]
    )
    _common.table(
        "id", "status", "tool", "deadline", "arguments",
        rows=[(h.id, h.status.value, h.tool, _common.when(h.deadline), h.arguments[:200])
              for h in held],
        title="held tool calls",
    )  # fmt: skip
    _common.table(
        "id", "category", "severity", "status", "rule",
        rows=[(a.id, a.category.value, a.severity.value, a.status.value, a.rule_id)
              for a in alerts],
        title="alerts",
    )  # fmt: skip


@sessions_app.command("hold")
def sessions_hold(
    session: Annotated[str, typer.Argument(help="Session id.")],
    reason: Reason = "",
    as_: _common.ActingOperator = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """Hold a session: every further tool call waits for review."""
    done = _triage(lambda s, a: s.hold_session(a, session, reason=reason), as_)
    _done(done, as_json, f"{done.id} held")


@sessions_app.command("release")
def sessions_release(
    session: Annotated[str, typer.Argument(help="Session id.")],
    reject: Annotated[
        bool,
        typer.Option(
            "--reject",
            envvar="ENCLAVE_CLI_SESSIONS_REJECT",
            help="Reject the session's pending held calls instead of approving them.",
        ),
    ] = False,
    reason: Reason = "",
    as_: _common.ActingOperator = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """Release a held session; its pending held calls are approved (or --reject'ed)."""
    done = _triage(lambda s, a: s.release_session(a, session, reject=reject, reason=reason), as_)
    _done(done, as_json, f"{done.id} released")


@sessions_app.command("terminate")
def sessions_terminate(
    session: Annotated[str, typer.Argument(help="Session id.")],
    reason: Reason = "",
    as_: _common.ActingOperator = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """End a session: pending held calls are rejected, further calls refused."""
    done = _triage(lambda s, a: s.terminate_session(a, session, reason=reason), as_)
    _done(done, as_json, f"{done.id} terminated")


__all__ = ["alerts_app", "app", "sessions_app"]
