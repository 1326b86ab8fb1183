"""The `enclave` command against a real database (SQLite and PostgreSQL via ``db_url``).

The first-run path (init, vetting, key issue, the key authenticating, revocation) runs the
installed console script as a subprocess, as an operator would. The many error cases use
typer's CliRunner in-process: same code path below `main()`, a fraction of the start-up
cost per invocation.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from cli_support import Result, clean_env, run_cli
from enclave.cli.main import app
from enclave.config import Settings, load_settings
from enclave.registry import CredentialError
from enclave.runtime import Runtime, open_runtime

ENCLAVE = Path(sys.executable).with_name("enclave")
KEY = re.compile(r"\benc_[a-z2-9]{12}_[A-Za-z0-9_-]{43}\b")
TOKEN = re.compile(r"\beop_[a-z2-9]{12}_[A-Za-z0-9_-]{43}\b")
Env = dict[str, str]


@pytest.fixture
def env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    """A clean environment: only our ENCLAVE_* variables, cwd without an enclave.toml."""
    return clean_env(monkeypatch, tmp_path, db_url, cwd=tmp_path / "cwd")


def _subprocess(env: Env, *args: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("ENCLAVE_")}
    full.update(env)
    return subprocess.run(
        [str(ENCLAVE), *args],
        env=full,
        cwd=os.getcwd(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _invoke(*args: str, extra_env: Env | None = None) -> Result:
    return run_cli(*args, env=extra_env)


@pytest.fixture
def cli(env: Env) -> Callable[..., Result]:
    return _invoke


def _runtime(env: Env) -> Runtime:
    return open_runtime(load_settings(environ=env))


@pytest.fixture
def world(cli: Callable[..., Result], env: Env) -> Iterator[Runtime]:
    """Initialised by the CLI; Acme (partner) approved by admin and alice, Open (public)
    approved, Pub (public) only applied."""
    assert cli("init").code == 0
    rt = _runtime(env)
    reg = rt.registry
    admin = reg.operator_for_cli(None)
    alice = reg.create_operator(admin, name="alice", roles=["reviewer"]).operator
    reg.create_operator(admin, name="audrey", roles=["auditor"])
    _, app_ = reg.create_org(admin, name="Acme", kind="partner", tier="partner")
    reg.decide(admin, app_.id, decision="approve", reason="first")
    reg.decide(alice, app_.id, decision="approve", reason="second")
    _, app_ = reg.create_org(admin, name="Open", kind="public", tier="public")
    reg.decide(alice, app_.id, decision="approve", reason="ok")
    reg.create_org(admin, name="Pub", kind="public", tier="public")
    yield rt
    rt.close()


def _snapshot(rt: Runtime) -> tuple[Any, ...]:
    reg = rt.registry
    admin = reg.operator_for_cli(None)
    return (
        reg.list_orgs(admin),
        [reg.get_org(admin, o.id)[1] for o in reg.list_orgs(admin)],
        reg.list_keys(admin),
        reg.list_operators(admin),
        reg.list_events(admin, limit=1000),
    )


# -- the first run, as an operator does it (real subprocesses) ---------------------------


def test_init_vetting_key_issue_and_use(env: Env, tmp_path: Path) -> None:
    first = _subprocess(env, "init")
    assert first.returncode == 0, first.stderr
    tokens = TOKEN.findall(first.stdout)
    assert len(tokens) == 1
    token_file = tmp_path / "state" / "operator-token"
    assert token_file.read_text().strip() == tokens[0]
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "state" / "key-pepper").stat().st_mode) == 0o600

    again = _subprocess(env, "init")
    assert again.returncode == 0, again.stderr
    assert not TOKEN.search(again.stdout), "init must print the token only once"
    assert "exist already" in again.stdout
    assert token_file.read_text().strip() == tokens[0]

    steps = [
        ("org", "create", "--name", "Acme", "--kind", "partner", "--tier", "partner",
         "--sector", "energy", "--contact", "sec@acme.example", "--evidence", "CERT member",
         "--link", "https://acme.example/sec"),
        ("operator", "create", "--name", "alice", "--role", "reviewer"),
        ("org", "approve", "Acme", "--reason", "evidence checked"),
        ("org", "approve", "Acme", "--reason", "agree", "--as", "alice"),
    ]  # fmt: skip
    for step in steps:
        done = _subprocess(env, *step)
        assert done.returncode == 0, (step, done.stderr)
    assert "now approved" in done.stdout

    issued = _subprocess(
        env, "key", "issue", "--org", "Acme", "--purpose", "vuln-detection",
        "--purpose", "remediation", "--expires", "30d",
    )  # fmt: skip
    assert issued.returncode == 0, issued.stderr
    secrets_ = KEY.findall(issued.stdout)
    assert len(secrets_) == 1
    assert "Shown once" in issued.stdout

    rt = _runtime(env)
    try:
        principal = rt.registry.authenticate(secrets_[0])
        assert principal.org.name == "Acme"
        assert principal.key.purposes == ("vuln-detection", "remediation")
        listed = _subprocess(env, "key", "list", "--org", "Acme")
        assert principal.key.id in listed.stdout
        assert secrets_[0] not in listed.stdout
        revoked = _subprocess(env, "key", "revoke", principal.key.id, "--reason", "rotated")
        assert revoked.returncode == 0, revoked.stderr
        with pytest.raises(CredentialError, match="revoked"):
            rt.registry.authenticate(secrets_[0])
    finally:
        rt.close()


def test_help_lists_every_group() -> None:
    done = _subprocess({}, "--help")
    assert done.returncode == 0, done.stderr
    for group in ("init", "serve", "org", "key", "operator", "db"):
        assert re.search(rf"\b{group}\b", done.stdout), group
    bare = _subprocess({})  # no arguments: the help, never a traceback
    assert "Usage: enclave" in bare.stdout + bare.stderr
    assert "Traceback" not in bare.stderr
    for group in ("org", "key", "operator", "db"):
        assert CliRunner().invoke(app, [group, "--help"]).exit_code == 0


# -- behaviour, in-process --------------------------------------------------------------


def test_json_output_of_every_command_parses(cli: Callable[..., Result], env: Env) -> None:
    init = cli("init", "--json")
    assert init.code == 0 and init.json()["operator_token"].startswith("eop_")
    assert cli("init", "--json").json()["operator_token"] is None

    created = cli("org", "create", "--name", "Acme", "--kind", "partner", "--tier", "partner",
                  "--json").json()  # fmt: skip
    assert created["organisation"]["status"] == "applied"
    assert created["application"]["status"] == "pending"
    alice = cli("operator", "create", "--name", "alice", "--role", "reviewer", "--json").json()
    assert alice["operator"]["roles"] == ["reviewer"] and alice["shown_once"] is True
    assert {o["name"] for o in cli("operator", "list", "--json").json()} == {"admin", "alice"}

    one = cli("org", "approve", "Acme", "--reason", "a", "--json").json()
    assert one["organisation"]["status"] == "under_review"
    two = cli("org", "approve", "Acme", "--reason", "b", "--as", "alice", "--json").json()
    assert two["organisation"]["status"] == "approved"
    assert "Acme" in [o["name"] for o in cli("org", "list", "--json").json()]
    shown = cli("org", "show", "Acme", "--json").json()
    assert len(shown["applications"][0]["decisions"]) == 2

    key = cli("key", "issue", "--org", "Acme", "--purpose", "general", "--json").json()
    assert KEY.fullmatch(key["secret"]) and key["key"]["state"] == "active"
    listed = cli("key", "list", "--org", "Acme", "--json").json()
    assert [k["id"] for k in listed] == [key["key"]["id"]]
    assert "secret" not in listed[0]
    gone = cli("key", "revoke", key["key"]["prefix"], "--reason", "r", "--json").json()
    assert gone["state"] == "revoked" and gone["revoke_reason"] == "r"

    assert cli("org", "suspend", "Acme", "--reason", "s", "--json").json()["status"] == "suspended"
    back = cli("org", "reinstate", "Acme", "--reason", "ok", "--json").json()
    assert back["status"] == "approved"
    renewal = cli("org", "apply", "Acme", "--evidence", "renewal", "--json").json()
    assert renewal["status"] == "pending" and renewal["tier"] == "partner"
    rejected = cli("org", "reject", "Acme", "--reason", "no", "--json").json()
    assert rejected["application"]["status"] == "rejected"
    assert cli("org", "revoke", "Acme", "--reason", "end", "--json").json()["status"] == "revoked"

    status = cli("db", "status", "--json").json()
    assert status["current"] is True and status["revision"] == status["head"]
    upgrade = cli("db", "upgrade", "--json").json()
    assert upgrade["previous"] == upgrade["revision"] == status["head"]


def test_changes_are_recorded_under_the_acting_operator(
    cli: Callable[..., Result], world: Runtime
) -> None:
    reg = world.registry
    alice = reg.operator_for_cli("alice")
    done = cli("org", "approve", "Pub", "--reason", "looks fine", extra_env={
        "ENCLAVE_OPERATOR": "alice"})  # fmt: skip
    assert done.code == 0, done.stderr
    org = reg.get_org(alice, "Pub")[0]
    events = reg.list_events(alice, subject=org.id, kind="org.status")
    assert [(e.event.actor, e.event.data["status"]) for e in events] == [
        (f"operator:{alice.id}", "approved")
    ]


def test_four_eyes_refuses_a_second_approval_by_the_same_operator(
    cli: Callable[..., Result], world: Runtime
) -> None:
    cli("org", "create", "--name", "Beta", "--kind", "maintainer", "--tier", "maintainer")
    assert cli("org", "approve", "Beta", "--reason", "ok", "--as", "alice").code == 0
    before = _snapshot(world)
    again = cli("org", "approve", "Beta", "--reason", "again", "--as", "alice")
    assert again.code == 5
    assert "already decided" in again.stderr and "four-eyes" in again.stderr
    assert _snapshot(world) == before
    assert "now approved" in cli("org", "approve", "Beta", "--reason", "ok").stdout


# Each case: arguments, exit code (cli/main.py docstring), a fragment of the message.
ERRORS: list[tuple[str, list[str], int, str]] = [
    ("unknown purpose",
     ["key", "issue", "--org", "Acme", "--purpose", "hacking"], 2, "unknown purpose"),
    ("purpose outside the tier",
     ["key", "issue", "--org", "Open", "--purpose", "vuln-detection"], 2,
     "tier public does not allow purpose(s) ['vuln-detection']"),
    ("key for an unapproved org",
     ["key", "issue", "--org", "Pub", "--purpose", "general"], 5, "Pub is applied"),
    ("bad --expires",
     ["key", "issue", "--org", "Acme", "--purpose", "general", "--expires", "3 weeks"], 2,
     "expected a number and d, h or m"),
    ("zero --expires",
     ["key", "issue", "--org", "Acme", "--purpose", "general", "--expires", "0d"], 2,
     "in the future"),
    ("--expires past the tier's limit",
     ["key", "issue", "--org", "Acme", "--purpose", "general", "--expires", "400d"], 2,
     "at most 365 days"),
    ("negative limit",
     ["key", "issue", "--org", "Acme", "--purpose", "general", "--rpm", "-1"], 2,
     "positive"),
    ("unknown org for a key",
     ["key", "issue", "--org", "Nobody", "--purpose", "general"], 4, "unknown organisation"),
    ("reviewer issuing a key",
     ["key", "issue", "--org", "Acme", "--purpose", "general", "--as", "alice"], 3,
     "needs role admin"),
    ("auditor creating an org",
     ["org", "create", "--name", "X", "--kind", "public", "--tier", "public", "--as", "audrey"],
     3, "needs role"),
    ("unknown acting operator", ["org", "list", "--as", "mallory"], 4, "unknown operator"),
    ("revoke unknown key", ["key", "revoke", "key_nope", "--reason", "x"], 4, "unknown key"),
    ("duplicate org",
     ["org", "create", "--name", "Acme", "--kind", "partner", "--tier", "partner"], 5,
     "already exists"),
    ("unknown kind",
     ["org", "create", "--name", "X", "--kind", "vendor", "--tier", "public"], 2,
     "unknown kind"),
    ("unknown tier",
     ["org", "create", "--name", "X", "--kind", "public", "--tier", "gold"], 2,
     "unknown tier"),
    ("non-http evidence link",
     ["org", "create", "--name", "X", "--kind", "public", "--tier", "public",
      "--link", "javascript:alert(1)"], 2, "http(s) URL"),
    ("attachment without hash",
     ["org", "create", "--name", "X", "--kind", "public", "--tier", "public",
      "--attachment", "report.pdf"], 2, "NAME=sha256:HEX"),
    ("attachment with a bad hash",
     ["org", "create", "--name", "X", "--kind", "public", "--tier", "public",
      "--attachment", "report.pdf=md5:00"], 2, "sha256"),
    ("empty reason", ["org", "approve", "Pub", "--reason", "  "], 2, "reason must not be empty"),
    ("approve without a pending application",
     ["org", "approve", "Acme", "--reason", "x"], 5, "no pending application"),
    ("suspend an unapproved org",
     ["org", "suspend", "Pub", "--reason", "x"], 5, "cannot become suspended"),
    ("reinstate an approved org",
     ["org", "reinstate", "Acme", "--reason", "x"], 5, "cannot become approved"),
    ("second pending application",
     ["org", "apply", "Pub"], 5, "already has a pending application"),
    ("unknown status filter", ["org", "list", "--status", "happy"], 2, "unknown status"),
    ("show unknown org (markup in the name)", ["org", "show", "[/bold]"], 4, "'[/bold]'"),
    ("duplicate operator",
     ["operator", "create", "--name", "alice", "--role", "reviewer"], 5, "already exists"),
    ("unknown role",
     ["operator", "create", "--name", "bob", "--role", "root"], 2, "roles: admin"),
    ("reviewer creating an operator",
     ["operator", "create", "--name", "bob", "--role", "admin", "--as", "alice"], 3,
     "needs role admin"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "code", "message"), [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS]
)
def test_error_exits_non_zero_with_a_clear_message_and_changes_nothing(
    cli: Callable[..., Result], world: Runtime, args: list[str], code: int, message: str
) -> None:
    before = _snapshot(world)
    done = cli(*args)
    assert done.code == code, done.stderr
    assert done.stderr.startswith("error: ") and message in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert done.stdout == ""
    assert _snapshot(world) == before


def test_error_cases_are_one_line_in_a_real_process(env: Env) -> None:
    assert _subprocess(env, "init").returncode == 0
    done = _subprocess(env, "key", "issue", "--org", "Nobody", "--purpose", "general")
    assert done.returncode == 4
    lines = done.stderr.splitlines()
    assert lines[0] == "error: unknown organisation 'Nobody'"
    assert all(line.startswith("  hint:") for line in lines[1:])


def test_usage_errors_exit_2_without_traceback(cli: Callable[..., Result], env: Env) -> None:
    assert cli("init").code == 0
    for args in (["key", "issue", "--purpose", "general"], ["org", "approve", "Acme"],
                 ["key", "issue", "--org", "A", "--purpose", "general", "--rpm", "many"],
                 ["org", "frobnicate"]):  # fmt: skip
        done = cli(*args)
        assert done.code == 2, args
        assert "Traceback" not in done.stderr and "Error" in done.stderr


def test_uninitialised_database_says_to_run_init(cli: Callable[..., Result], env: Env) -> None:
    done = cli("org", "list")
    assert done.code == 6
    assert "enclave init" in done.stderr
    status = cli("db", "status")
    assert status.code == 6 and "not initialised" in status.stdout
    assert cli("db", "upgrade").code == 0
    assert cli("db", "status").code == 0


def test_bad_configuration_names_the_variable(cli: Callable[..., Result], env: Env) -> None:
    done = cli("org", "list", extra_env={"ENCLAVE_PORT": "eighty"})
    assert done.code == 2 and "ENCLAVE_PORT" in done.stderr
    typo = cli("org", "list", extra_env={"ENCLAVE_DATABSE_URL": "sqlite:///x.db"})
    assert typo.code == 2 and "ENCLAVE_DATABSE_URL" in typo.stderr
    assert "unknown setting" in typo.stderr


def test_flags_can_come_from_the_environment(cli: Callable[..., Result], world: Runtime) -> None:
    issued = cli("key", "issue", extra_env={
        "ENCLAVE_CLI_KEY_ORG": "Acme",
        "ENCLAVE_CLI_KEY_PURPOSE": "vuln-detection remediation",
        "ENCLAVE_CLI_KEY_EXPIRES": "12h",
        "ENCLAVE_CLI_JSON": "1",
    })  # fmt: skip
    assert issued.code == 0, issued.stderr
    assert issued.json()["key"]["purposes"] == ["vuln-detection", "remediation"]


def _options() -> Iterator[tuple[str, Any]]:
    """Every option of every command. Duck-typed: typer 0.29 ships its own copy of click,
    so its classes are not click's."""

    def walk(command: Any, path: str) -> Iterator[tuple[str, Any]]:
        for param in command.params:
            if param.param_type_name == "option":
                yield path, param
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, f"{path} {name}")

    yield from walk(typer.main.get_command(app), "enclave")


def test_every_flag_has_an_environment_variable_the_settings_loader_accepts(
    tmp_path: Path,
) -> None:
    settings_vars = {f"ENCLAVE_{name.upper()}" for name in Settings.model_fields}
    seen: dict[str, str] = {}
    for path, option in _options():
        if option.name in ("help", "version"):
            continue
        envvar = option.envvar
        assert isinstance(envvar, str), f"{path} {option.opts[0]} has no envvar"
        assert (
            envvar in settings_vars
            or envvar == "ENCLAVE_OPERATOR"
            or (envvar.startswith("ENCLAVE_CLI_"))
        ), f"{path} {option.opts[0]}: {envvar} is neither a setting nor ENCLAVE_CLI_*"
        if envvar not in settings_vars:
            seen[envvar] = "x"
    assert "ENCLAVE_OPERATOR" in seen and "ENCLAVE_CLI_KEY_ORG" in seen  # the walk works
    # None of the command variables may trip the settings loader's unknown-variable check.
    load_settings(environ=seen, config_path=tmp_path / "absent.toml")
