"""`enclave key`: issue, list and revoke client API keys.

A key is bound to one approved organisation, a set of purposes its tier allows, an
optional asset scope and an expiry no later than the organisation's approval. The secret
is printed once: only its keyed hash is stored (see enclave.registry.credentials).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

import typer

from enclave.cli import _common
from enclave.clock import utcnow
from enclave.registry import ApiKey, IssuedKey, KeyLimits, parse_duration

app = typer.Typer(help="Issue, list and revoke client API keys.", no_args_is_help=True)

ONCE = (
    "Shown once: Enclave stores only a keyed hash of this key and cannot show it again.\n"
    "Hand it to the organisation now; if it is lost, revoke it and issue a new one."
)


@app.command("issue")
def issue(
    org: Annotated[
        str,
        typer.Option("--org", envvar="ENCLAVE_CLI_KEY_ORG", help="Organisation name or id."),
    ],
    purpose: Annotated[
        list[str],
        typer.Option(
            "--purpose",
            envvar="ENCLAVE_CLI_KEY_PURPOSE",
            help="Declared purpose (repeatable; must be allowed by the organisation's tier).",
        ),
    ],
    expires: Annotated[
        str | None,
        typer.Option(
            "--expires",
            envvar="ENCLAVE_CLI_KEY_EXPIRES",
            metavar="DURATION",
            help="Lifetime, e.g. 30d, 12h, 90m. [default: the tier's longest]",
            show_default=False,
        ),
    ] = None,
    name: Annotated[
        str,
        typer.Option("--name", envvar="ENCLAVE_CLI_KEY_NAME", help="A label for the key."),
    ] = "",
    scope: Annotated[
        list[str] | None,
        typer.Option(
            "--scope",
            envvar="ENCLAVE_CLI_KEY_SCOPE",
            metavar="ASSET_ID",
            help="Restrict the key to this asset (repeatable). [default: no asset scope]",
            show_default=False,
        ),
    ] = None,
    rpm: Annotated[
        int | None,
        typer.Option(
            "--rpm", envvar="ENCLAVE_CLI_KEY_RPM", help="Requests per minute limit for this key."
        ),
    ] = None,
    tpm: Annotated[
        int | None,
        typer.Option(
            "--tpm", envvar="ENCLAVE_CLI_KEY_TPM", help="Tokens per minute limit for this key."
        ),
    ] = None,
    as_: _common.ActingOperator = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """Issue a key to an approved organisation and print it once."""
    with _common.runtime() as rt:
        actor = _common.acting(rt, as_)

        def run() -> IssuedKey:
            life = parse_duration(expires) if expires is not None else None
            return rt.registry.issue_key(
                actor,
                org,
                purposes=purpose,
                name=name,
                expires_in=life,
                scope=scope or (),
                limits=KeyLimits(requests_per_minute=rpm, tokens_per_minute=tpm),
            )

        issued = _common.guarded(run)
        found, _ = _common.guarded(lambda: rt.registry.get_org(actor, issued.key.org_id))
    if as_json:
        _common.emit_json(
            {"key": _key_record(issued.key), "secret": issued.secret, "shown_once": True}
        )
        return
    key = issued.key
    _common.out.print(f"Issued {key.id} to {found.name} (tier {found.tier})", markup=False)
    _common.fields(
        [
            ("prefix", key.prefix),
            ("purposes", ", ".join(key.purposes)),
            ("scope", ", ".join(key.scope) or "(none)"),
            ("expires", _common.when(key.expires_at)),
        ]
    )
    _common.out.print(f"\n  {issued.secret}\n", markup=False)
    _common.out.print(ONCE, markup=False)


def _key_record(key: ApiKey) -> dict[str, Any]:
    record = asdict(key)
    record["state"] = key.state(utcnow())
    return record


@app.command("list")
def list_(
    org: Annotated[
        str | None,
        typer.Option("--org", envvar="ENCLAVE_CLI_KEY_ORG", help="Only this organisation's keys."),
    ] = None,
    as_: _common.ActingOperator = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """List keys (never their secrets): prefix, purposes, state and expiry."""
    with _common.runtime() as rt:
        actor = _common.acting(rt, as_)
        keys = _common.guarded(lambda: rt.registry.list_keys(actor, org_ref=org))
        names = {o.id: o.name for o in _common.guarded(lambda: rt.registry.list_orgs(actor))}
    if as_json:
        _common.emit_json([_key_record(k) for k in keys])
        return
    now = utcnow()
    _common.table(
        "id",
        "prefix",
        "organisation",
        "name",
        "purposes",
        "state",
        "expires",
        keep=("id", "prefix", "organisation"),
        rows=(
            (
                k.id,
                k.prefix,
                names.get(k.org_id, k.org_id),
                k.name or "-",
                ", ".join(k.purposes),
                k.state(now),
                _common.when(k.expires_at),
            )
            for k in keys
        ),
    )


@app.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(metavar="KEY", help="Key id (key_…) or prefix.")],
    reason: Annotated[
        str,
        typer.Option("--reason", envvar="ENCLAVE_CLI_KEY_REASON", help="Why (recorded)."),
    ],
    as_: _common.ActingOperator = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """Revoke a key; the next request made with it is refused."""
    with _common.runtime() as rt:
        actor = _common.acting(rt, as_)
        key = _common.guarded(lambda: rt.registry.revoke_key(actor, key_id, reason=reason))
    if as_json:
        _common.emit_json(_key_record(key))
        return
    _common.out.print(
        f"Revoked {key.id} (prefix {key.prefix}) by {actor.name}: {reason}", markup=False
    )


__all__ = ["app"]
