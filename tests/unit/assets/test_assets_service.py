"""The assets service over a real database (SQLite and PostgreSQL) and loopback DNS."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from assets_support import Site, Zone, make_repo

from enclave.assets import AssetService, ChallengeFailed, Outcome, challenges
from enclave.assets.interface import AssetConflict, AssetInputError, AssetStatus, UnknownAsset
from enclave.clock import Clock
from enclave.errors import EnclaveError
from enclave.registry import (
    Operator,
    RegistryInputError,
    RegistryService,
    RoleDenied,
)

OPS = ("root", "rev-a", "rev-b")


def ops(registry: RegistryService) -> dict[str, Operator]:
    return {name: registry.operator_for_cli(name) for name in OPS}


@contextmanager
def unchanged(registry: RegistryService, actor: Operator) -> Iterator[None]:
    before = registry.list_events(actor, limit=1000)
    yield
    assert registry.list_events(actor, limit=1000) == before


def publish_dns(assets: AssetService, zone: Zone, actor: Operator, asset_id: str) -> None:
    _, publish = assets.challenge(actor, asset_id, method="dns-01")
    zone.txt.setdefault(publish.where, []).append([publish.content])


def verified_domain(assets: AssetService, zone: Zone, actor: Operator, org: str, value: str) -> str:
    asset = assets.add(actor, org, kind="domain", value=value)
    publish_dns(assets, zone, actor, asset.id)
    assert assets.verify(actor, asset.id).status is AssetStatus.VERIFIED
    return asset.id


def kinds(registry: RegistryService, actor: Operator, subject: str) -> list[str]:
    return [e.event.kind for e in registry.list_events(actor, limit=1000, subject=subject)]


def test_dns_01_end_to_end_with_its_record_and_events(
    assets: AssetService, registry: RegistryService, zone: tuple[Zone, int], approved: str
) -> None:
    o = ops(registry)
    asset = assets.add(o["rev-a"], "Acme", kind="domain", value="Acme.Example.")
    assert asset.value == "acme.example" and asset.status is AssetStatus.PENDING
    shown, publish = assets.challenge(o["rev-a"], asset.id, method="dns-01")
    assert publish.where == "_enclave-challenge.acme.example"
    account = challenges.thumbprint(b"p" * 32, shown.org_id)
    key_auth = f"{shown.challenge.token}.{account}" if shown.challenge else ""
    assert publish.content == challenges.dns_value(key_auth)
    assert publish.content in publish.instructions
    zone[0].txt[publish.where] = [[publish.content]]
    done = assets.verify(o["rev-a"], asset.id)
    assert done.status is AssetStatus.VERIFIED and done.verification is not None
    assert done.verification.method.value == "dns-01"
    assert done.verification.token == shown.challenge.token  # type: ignore[union-attr]
    assert done.expires_at == done.verification.at + timedelta(days=90)
    assert done.reverify_at() == done.expires_at - timedelta(days=7)
    assert kinds(registry, o["root"], asset.id) == [
        "asset.added",
        "asset.challenge_issued",
        "asset.verified",
    ]
    assert assets.show(o["root"], asset.id) == done


def test_a_failed_verification_is_recorded_and_changes_nothing_else(
    assets: AssetService, registry: RegistryService, zone: tuple[Zone, int], approved: str
) -> None:
    o = ops(registry)
    asset = assets.add(o["root"], "Acme", kind="domain", value="acme.example")
    assets.challenge(o["root"], asset.id, method="dns-01")
    before = assets.show(o["root"], asset.id)
    with pytest.raises(ChallengeFailed) as exc:
        assets.verify(o["root"], asset.id)
    assert exc.value.outcome is Outcome.MISSING and exc.value.exit_code == 5
    assert assets.show(o["root"], asset.id) == before
    events = registry.list_events(o["root"], kind="asset.verification_failed")
    assert events[-1].event.data["outcome"] == "missing"


def test_an_expired_token_is_refused_without_a_lookup(
    assets: AssetService,
    registry: RegistryService,
    zone: tuple[Zone, int],
    approved: str,
    clock: Clock,
) -> None:
    o = ops(registry)
    asset = assets.add(o["root"], "Acme", kind="domain", value="acme.example")
    publish_dns(assets, zone[0], o["root"], asset.id)
    clock.advance(hours=73)  # challenge_ttl_hours is 72
    with pytest.raises(ChallengeFailed) as exc:
        assets.verify(o["root"], asset.id)
    assert exc.value.outcome is Outcome.EXPIRED
    publish_dns(assets, zone[0], o["root"], asset.id)  # a new token works
    assert assets.verify(o["root"], asset.id).status is AssetStatus.VERIFIED


def test_a_record_published_for_another_organisation_does_not_verify(
    assets: AssetService, registry: RegistryService, zone: tuple[Zone, int], approved: str
) -> None:
    """The account binding: Beta cannot reuse Acme's published proof."""
    o = ops(registry)
    acme = assets.add(o["root"], "Acme", kind="domain", value="acme.example")
    publish_dns(assets, zone[0], o["root"], acme.id)
    beta = assets.add(o["root"], "Beta", kind="domain", value="acme.example")
    _, publish = assets.challenge(o["root"], beta.id, method="dns-01")  # not published
    with pytest.raises(ChallengeFailed) as exc:
        assets.verify(o["root"], beta.id)
    assert exc.value.outcome is Outcome.WRONG_TOKEN


def test_http_01_and_repo_file_through_the_service(
    assets: AssetService,
    registry: RegistryService,
    zone: tuple[Zone, int],
    site: tuple[Site, int],
    approved: str,
    tmp_path: Path,
) -> None:
    o = ops(registry)
    zone[0].a["www.acme.example"] = ["127.0.0.1"]
    web = assets.add(o["root"], "Acme", kind="domain", value="www.acme.example")
    web, publish = assets.challenge(o["root"], web.id, method="http-01")
    token = web.challenge.token  # type: ignore[union-attr]
    assert (
        publish.where == f"http://www.acme.example:{site[1]}/.well-known/enclave-challenge/{token}"
    )
    site[0].pages[f"/.well-known/enclave-challenge/{token}"] = (200, publish.content.encode(), {})
    assert assets.verify(o["root"], web.id).status is AssetStatus.VERIFIED

    repo_dir = tmp_path / "app"
    url = make_repo(repo_dir, {"README": "x"})
    repo = assets.add(o["root"], "Acme", kind="repo", value=url)
    repo, publish = assets.challenge(o["root"], repo.id, method="repo-file")
    with pytest.raises(ChallengeFailed) as exc:
        assets.verify(o["root"], repo.id)
    assert exc.value.outcome is Outcome.MISSING
    repo_dir.joinpath(".well-known").mkdir()
    repo_dir.joinpath(".well-known/enclave-challenge").write_text(publish.content + "\n")
    git = ["git", "-C", str(repo_dir), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "challenge"], check=True)
    assert assets.verify(o["root"], repo.id).status is AssetStatus.VERIFIED


def test_hosts_are_verified_through_a_verified_domain(
    assets: AssetService, registry: RegistryService, zone: tuple[Zone, int], approved: str
) -> None:
    o = ops(registry)
    name = assets.add(o["root"], "Acme", kind="host", value="db1.acme.example")
    block = assets.add(o["root"], "Acme", kind="host", value="192.0.2.0/24")
    wide = assets.add(o["root"], "Acme", kind="host", value="198.51.0.0/16")
    with pytest.raises(ChallengeFailed) as exc:
        assets.verify(o["root"], name.id)
    assert exc.value.outcome is Outcome.NOT_COVERED
    verified_domain(assets, zone[0], o["root"], "Acme", "acme.example")
    assert assets.verify(o["root"], name.id).status is AssetStatus.VERIFIED
    with pytest.raises(ChallengeFailed):  # the domain does not resolve into the block yet
        assets.verify(o["root"], block.id)
    zone[0].a["acme.example"] = ["192.0.2.10"]
    done = assets.verify(o["root"], block.id)
    assert done.status is AssetStatus.VERIFIED and done.verification is not None
    assert "192.0.2.10" in done.verification.evidence
    with pytest.raises(ChallengeFailed) as exc:
        assets.verify(o["root"], wide.id)
    assert "wider than /24" in str(exc.value) and "attest" in (exc.value.hint or "")


def test_attestation_needs_a_second_operator(
    assets: AssetService, registry: RegistryService, approved: str
) -> None:
    o = ops(registry)
    binary = assets.add(o["rev-a"], "Acme", kind="binary", value="A" * 64)
    assert binary.value == "sha256:" + "a" * 64
    with pytest.raises(AssetInputError, match="cannot prove a binary"):
        assets.challenge(o["rev-a"], binary.id, method="dns-01")
    with pytest.raises(AssetConflict, match="no attestation"):
        assets.approve(o["rev-b"], binary.id, reason="ok")
    assets.attest(o["rev-a"], binary.id, reason="vendor build, signed release notes")
    with unchanged(registry, o["root"]):
        with pytest.raises(AssetConflict, match="made this attestation"):
            assets.approve(o["rev-a"], binary.id, reason="me again")
    done = assets.approve(o["rev-b"], binary.id, reason="checked the signature")
    assert done.status is AssetStatus.VERIFIED and done.verification is not None
    assert done.verification.method.value == "operator-attestation"
    assert done.verification.by == f"operator:{o['rev-a'].id},operator:{o['rev-b'].id}"


def test_overlapping_claims_are_held_for_an_operator(
    assets: AssetService, registry: RegistryService, zone: tuple[Zone, int], approved: str
) -> None:
    o = ops(registry)
    acme = verified_domain(assets, zone[0], o["root"], "Acme", "acme.example")
    beta = assets.add(o["root"], "Beta", kind="host", value="db1.acme.example")
    assets.attest(o["rev-a"], beta.id, reason="Beta says it runs db1")
    held = assets.approve(o["rev-b"], beta.id, reason="ok")
    assert held.status is AssetStatus.HELD and acme in (held.hold_reason or "")
    assert kinds(registry, o["root"], beta.id)[-1] == "asset.held"
    with pytest.raises(AssetConflict, match="not held"):
        assets.release(o["root"], acme, reason="x")
    released = assets.release(o["root"], beta.id, reason="shared hosting, confirmed by both")
    assert released.status is AssetStatus.VERIFIED


def test_key_scope_must_be_verified_assets_of_the_same_organisation(
    assets: AssetService, registry: RegistryService, zone: tuple[Zone, int], approved: str
) -> None:
    o = ops(registry)
    acme_domain = verified_domain(assets, zone[0], o["root"], "Acme", "acme.example")
    beta_domain = verified_domain(assets, zone[0], o["root"], "Beta", "beta.example")
    pending = assets.add(o["root"], "Acme", kind="domain", value="other.example")
    with unchanged(registry, o["root"]):
        for scope, message in (
            ([beta_domain], "belongs to another organisation"),
            ([pending.id], "pending, not verified"),
            (["ast_nope"], "unknown asset"),
        ):
            with pytest.raises(RegistryInputError, match=message):
                registry.issue_key(o["root"], "Acme", purposes=["general"], scope=scope)
    issued = registry.issue_key(o["root"], "Acme", purposes=["general"], scope=[acme_domain])
    assert issued.key.scope == (acme_domain,)
    principal = registry.authenticate(issued.secret)
    assert principal.key.scope == (acme_domain,)
    assert assets.scope_entries_for_key(principal.key) == ("domain:acme.example",)


def test_revoked_or_lapsed_assets_leave_the_scope_on_the_next_request(
    assets: AssetService,
    registry: RegistryService,
    zone: tuple[Zone, int],
    approved: str,
    clock: Clock,
) -> None:
    o = ops(registry)
    domain = verified_domain(assets, zone[0], o["root"], "Acme", "acme.example")
    host = assets.add(o["root"], "Acme", kind="host", value="10.20.0.0/24")
    assets.attest(o["rev-a"], host.id, reason="their lab network")
    assets.approve(o["rev-b"], host.id, reason="ok")
    issued = registry.issue_key(o["root"], "Acme", purposes=["general"], scope=[domain, host.id])
    key = registry.authenticate(issued.secret).key
    assert assets.scope_entries_for_key(key) == ("domain:acme.example", "host:10.20.0.0/24")
    assets.revoke(o["root"], host.id, reason="network returned")
    key = registry.authenticate(issued.secret).key
    assert key.scope == (domain,)
    assert assets.scope_entries_for_key(key) == ("domain:acme.example",)
    clock.advance(days=91)  # the verification lapses after 90 days
    assert registry.authenticate(issued.secret).key.scope == ()
    assert assets.show(o["root"], domain).state(clock()) == "lapsed"


def test_bad_input_is_refused_and_changes_nothing(
    assets: AssetService, registry: RegistryService, approved: str
) -> None:
    o = ops(registry)
    assets.add(o["root"], "Acme", kind="domain", value="acme.example")
    cases: list[tuple[type[EnclaveError], object]] = [
        (AssetInputError, lambda: assets.add(o["root"], "Acme", kind="planet", value="x")),
        (AssetInputError, lambda: assets.add(o["root"], "Acme", kind="domain", value="com")),
        (AssetInputError, lambda: assets.add(o["root"], "Acme", kind="host", value="10.0.0.1/33")),
        (AssetInputError, lambda: assets.add(o["root"], "Acme", kind="package", value="acme")),
        (AssetInputError, lambda: assets.add(o["root"], "Acme", kind="binary", value="abc")),
        (AssetConflict, lambda: assets.add(o["root"], "Acme", kind="domain", value="acme.example")),
        (UnknownAsset, lambda: assets.add(o["root"], "Nobody", kind="domain", value="n.example")),
        (UnknownAsset, lambda: assets.verify(o["root"], "ast_missing")),
        (AssetInputError, lambda: assets.list_assets(o["root"], status="lost")),
    ]
    with unchanged(registry, o["root"]):
        for error, call in cases:
            with pytest.raises(error):
                call()  # type: ignore[operator]


def test_auditors_read_and_cannot_change_assets(
    assets: AssetService, registry: RegistryService, approved: str
) -> None:
    o = ops(registry)
    auditor = registry.create_operator(o["root"], name="aud", roles=["auditor"]).operator
    asset = assets.add(o["root"], "Acme", kind="package", value="pkg:pypi/acme-tools")
    assert [a.id for a in assets.list_assets(auditor, org_ref="Acme")] == [asset.id]
    with unchanged(registry, o["root"]):
        for call in (
            lambda: assets.add(auditor, "Acme", kind="domain", value="x.example"),
            lambda: assets.attest(auditor, asset.id, reason="x"),
            lambda: assets.revoke(auditor, asset.id, reason="x"),
            lambda: assets.challenge(auditor, asset.id, method="dns-01"),
        ):
            with pytest.raises(RoleDenied):
                call()
