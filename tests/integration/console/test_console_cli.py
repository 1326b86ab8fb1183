"""`enclave operator set-password`: how an operator gets a console password."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cli_support import Result, clean_env, run_cli
from enclave.config import load_settings
from enclave.console import build_accounts
from enclave.console.accounts import SignInFailed
from enclave.runtime import Runtime, open_runtime

GOOD = "a long enough passphrase"


def invoke(*args: str, input: str | None = None) -> Result:
    return run_cli(*args, stdin=input)


@pytest.fixture
def initialised(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    clean_env(monkeypatch, tmp_path, db_url)
    assert invoke("init").code == 0
    assert invoke("operator", "create", "--name", "rev", "--role", "reviewer").code == 0
    rt = open_runtime(load_settings())
    yield rt
    rt.close()


def test_set_password_from_stdin_then_sign_in(initialised: Runtime) -> None:
    done = invoke("operator", "set-password", "rev", "--password-stdin", input=GOOD + "\n")
    assert done.code == 0, done.stderr
    assert "Console password set for rev" in done.stdout and GOOD not in done.stdout
    accounts = build_accounts(initialised.settings, initialised.db, clock=initialised.registry.now)
    assert accounts.sign_in("rev", GOOD).signed.operator.name == "rev"
    with pytest.raises(SignInFailed):
        accounts.sign_in("rev", GOOD + "x")
    root = initialised.registry.operator_for_cli(None)
    events = initialised.registry.list_events(root, limit=1000)
    set_event = next(e.event for e in events if e.event.kind == "operator.password_set")
    assert set_event.actor == f"operator:{root.id}" and GOOD not in str(events)


def test_set_password_prompts_twice(initialised: Runtime) -> None:
    done = invoke("operator", "set-password", "rev", input=f"{GOOD}\n{GOOD}\n")
    assert done.code == 0, done.stderr
    assert done.stdout.count("console password") >= 1 and GOOD not in done.stdout


@pytest.mark.parametrize(
    ("args", "password", "code", "message"),
    [
        (("rev",), "short", 2, "at least 12 characters"),
        (("nobody",), GOOD, 4, "unknown operator 'nobody'"),
        # A reviewer may set only its own password.
        (("admin", "--as", "rev"), GOOD, 3, "may set only its own"),
    ],
)
def test_set_password_refusals_change_nothing(
    initialised: Runtime, args: tuple[str, ...], password: str, code: int, message: str
) -> None:
    root = initialised.registry.operator_for_cli(None)
    before = initialised.registry.list_events(root, limit=1000)
    refused = invoke("operator", "set-password", *args, "--password-stdin", input=password + "\n")
    assert refused.code == code and message in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr
    assert initialised.registry.list_events(root, limit=1000) == before


def test_an_operator_may_set_its_own_password(initialised: Runtime) -> None:
    done = invoke(
        "operator", "set-password", "rev", "--as", "rev", "--password-stdin", input=GOOD + "\n"
    )
    assert done.code == 0, done.stderr
