"""`enclave asset`: claim, prove, list and revoke the assets an organisation may target.

A claim is usable in a key's scope only once verified: by a challenge the owner publishes
(dns-01, http-01, repo-file; `challenge` prints exactly what), through a verified domain
(hosts), or by an operator's attestation that a second operator approves.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

import typer

from enclave.assets import Asset, AssetService
from enclave.assets.interface import AssetsError, Verification
from enclave.cli import _common
from enclave.runtime import Runtime

app = typer.Typer(help="Claim, verify, list and revoke assets.", no_args_is_help=True)


def _service(rt: Runtime) -> AssetService:
    if rt.assets is None:
        _common.fail(AssetsError("the assets service is not configured"))
    return rt.assets


def _record(service: AssetService, asset: Asset) -> dict[str, Any]:
    record = asdict(asset)
    record["state"] = asset.state(service.now())
    record["reverify_at"] = asset.reverify_at()
    return record


def _print(service: AssetService, asset: Asset) -> None:
    verification = asset.verification
    _common.fields(
        [
            ("id", asset.id),
            ("organisation", asset.org_id),
            ("kind", asset.kind.value),
            ("value", asset.value),
            ("state", asset.state(service.now())),
            ("verified", _verified(verification)),
            ("by", verification.by if verification else "-"),
            ("evidence", verification.evidence if verification else "-"),
            ("expires", _common.when(asset.expires_at)),
            ("re-verify", _common.when(asset.reverify_at())),
            ("attestation", _attested(asset)),
            ("held", asset.hold_reason or "-"),
        ]
    )


def _verified(verification: Verification | None) -> str:
    if verification is None:
        return "-"
    return f"{verification.method.value} at {_common.when(verification.at)}"


def _attested(asset: Asset) -> str:
    att = asset.attestation
    return f"{att.by}: {att.reason} (awaiting approval)" if att else "-"


AssetRef = Annotated[str, typer.Argument(help="Asset id (ast_…).", show_default=False)]
Reason = Annotated[
    str, typer.Option("--reason", envvar="ENCLAVE_CLI_ASSET_REASON", help="Why (recorded).")
]


@app.command("add")
def add(
    org: Annotated[
        str, typer.Option("--org", envvar="ENCLAVE_CLI_ASSET_ORG", help="Organisation name or id.")
    ],
    kind: Annotated[
        str,
        typer.Option(
            "--kind",
            envvar="ENCLAVE_CLI_ASSET_KIND",
            help="repo (git URL), domain (and subdomains), host (name, IP or CIDR), "
            "package (purl) or binary (sha256).",
        ),
    ],
    value: Annotated[
        str, typer.Option("--value", envvar="ENCLAVE_CLI_ASSET_VALUE", help="What is claimed.")
    ],
    reverify_days: Annotated[
        int | None,
        typer.Option(
            "--reverify-days",
            envvar="ENCLAVE_CLI_ASSET_REVERIFY_DAYS",
            help="How long a verification lasts. [default: assets.verification_days]",
            show_default=False,
        ),
    ] = None,
    as_: _common.ActingOperator = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """Claim an asset for an organisation (pending until verified)."""
    with _common.runtime() as rt:
        service = _service(rt)
        actor = _common.acting(rt, as_)
        asset = _common.guarded(
            lambda: service.add(actor, org, kind=kind, value=value, reverify_days=reverify_days)
        )
        if as_json:
            _common.emit_json(_record(service, asset))
            return
        _common.out.print(f"Added {asset.id}: {asset.kind.value} {asset.value}", markup=False)
        _common.out.print(
            f"Next: `enclave asset challenge {asset.id} --method METHOD`", markup=False
        )


@app.command("list")
def list_(
    org: Annotated[
        str | None,
        typer.Option("--org", envvar="ENCLAVE_CLI_ASSET_ORG", help="Only this organisation."),
    ] = None,
    status: Annotated[
        str | None,
        typer.Option(
            "--status",
            envvar="ENCLAVE_CLI_ASSET_STATUS",
            help="pending, verified, held or revoked. [default: all]",
            show_default=False,
        ),
    ] = None,
    as_: _common.ActingOperator = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """List assets."""
    with _common.runtime() as rt:
        service = _service(rt)
        actor = _common.acting(rt, as_)
        found = _common.guarded(lambda: service.list_assets(actor, org_ref=org, status=status))
        if as_json:
            _common.emit_json([_record(service, a) for a in found])
            return
        now = service.now()
        _common.table(
            "id",
            "org",
            "kind",
            "value",
            "state",
            "expires",
            rows=[
                (a.id, a.org_id, a.kind.value, a.value, a.state(now), _common.when(a.expires_at))
                for a in found
            ],
            keep=("id", "org"),
        )


@app.command("show")
def show(
    asset_id: AssetRef,
    as_: _common.ActingOperator = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """Show an asset, its verification record and any pending challenge."""
    with _common.runtime() as rt:
        service = _service(rt)
        actor = _common.acting(rt, as_)
        asset = _common.guarded(lambda: service.show(actor, asset_id))
        publish = service.publication(asset) if asset.challenge else None
        if as_json:
            _common.emit_json({"asset": _record(service, asset), "publish": publish})
            return
        _print(service, asset)
        if publish is not None and asset.challenge is not None:
            _common.out.print(
                f"\nPending {publish.method.value} challenge (expires "
                f"{_common.when(asset.challenge.expires_at)}):\n{publish.instructions}",
                markup=False,
            )


@app.command("challenge")
def challenge(
    asset_id: AssetRef,
    method: Annotated[
        str,
        typer.Option(
            "--method",
            envvar="ENCLAVE_CLI_ASSET_METHOD",
            help="dns-01 or http-01 (domains), repo-file (repositories).",
        ),
    ],
    as_: _common.ActingOperator = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """Issue a challenge token and print exactly what the owner must publish."""
    with _common.runtime() as rt:
        service = _service(rt)
        actor = _common.acting(rt, as_)
        asset, publish = _common.guarded(lambda: service.challenge(actor, asset_id, method=method))
        if as_json:
            _common.emit_json({"asset": _record(service, asset), "publish": publish})
            return
        assert asset.challenge is not None
        _common.out.print(publish.instructions, markup=False)
        _common.out.print(
            f"\nValid until {_common.when(asset.challenge.expires_at)}. Then run "
            f"`enclave asset verify {asset.id}`.",
            markup=False,
        )


@app.command("verify")
def verify(
    asset_id: AssetRef,
    as_: _common.ActingOperator = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """Check the published challenge now (hosts: check the covering verified domains)."""
    with _common.runtime() as rt:
        service = _service(rt)
        actor = _common.acting(rt, as_)
        asset = _common.guarded(lambda: service.verify(actor, asset_id))
        _done(service, asset, as_json)


def _done(service: AssetService, asset: Asset, as_json: bool) -> None:
    if as_json:
        _common.emit_json(_record(service, asset))
        return
    _print(service, asset)


@app.command("attest")
def attest(
    asset_id: AssetRef,
    reason: Reason,
    as_: _common.ActingOperator = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """Vouch for an asset that cannot answer a challenge; a second operator approves."""
    with _common.runtime() as rt:
        service = _service(rt)
        actor = _common.acting(rt, as_)
        changed = _common.guarded(lambda: service.attest(actor, asset_id, reason=reason))
        _done(service, changed, as_json)


@app.command("approve")
def approve(
    asset_id: AssetRef,
    reason: Reason,
    as_: _common.ActingOperator = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """Approve another operator's attestation (four-eyes): the asset is verified."""
    with _common.runtime() as rt:
        service = _service(rt)
        actor = _common.acting(rt, as_)
        changed = _common.guarded(lambda: service.approve(actor, asset_id, reason=reason))
        _done(service, changed, as_json)


@app.command("release")
def release(
    asset_id: AssetRef,
    reason: Reason,
    as_: _common.ActingOperator = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """Decide a held overlap in the claim's favour: the asset becomes verified."""
    with _common.runtime() as rt:
        service = _service(rt)
        actor = _common.acting(rt, as_)
        changed = _common.guarded(lambda: service.release(actor, asset_id, reason=reason))
        _done(service, changed, as_json)


@app.command("revoke")
def revoke(
    asset_id: AssetRef,
    reason: Reason,
    as_: _common.ActingOperator = None,
    as_json: _common.JsonOutput = False,
) -> None:
    """End a claim; keys scoped to it lose it on their next request."""
    with _common.runtime() as rt:
        service = _service(rt)
        actor = _common.acting(rt, as_)
        changed = _common.guarded(lambda: service.revoke(actor, asset_id, reason=reason))
        _done(service, changed, as_json)


__all__ = ["app"]
