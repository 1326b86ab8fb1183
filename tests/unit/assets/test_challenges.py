"""Each challenge against a real server on loopback: success and every failure outcome."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from assets_support import Site, Zone, make_repo

from enclave.assets import challenges, safety
from enclave.assets.interface import (
    Asset,
    AssetInputError,
    AssetKind,
    AssetStatus,
    ChallengeFailed,
    Method,
    Outcome,
)
from enclave.assets.values import normalise
from enclave.config.assets import AssetsConfig
from enclave.registry import AssetId, OrgId

NOW = datetime(2026, 11, 1, tzinfo=UTC)
KEY_AUTH = challenges.key_authorisation("tok123", challenges.thumbprint(b"s" * 32, OrgId("o")))


def asset(kind: AssetKind, value: str) -> Asset:
    return Asset(
        AssetId("ast_1"),
        OrgId("org_1"),
        kind,
        normalise(kind, value),
        AssetStatus.PENDING,
        NOW,
        "operator:x",
        NOW,
        90,
    )


def failure(excinfo: pytest.ExceptionInfo[ChallengeFailed]) -> Outcome:
    return excinfo.value.outcome


# -- account binding -------------------------------------------------------------------


def test_key_authorisation_binds_the_token_to_the_organisation() -> None:
    a = challenges.thumbprint(b"s" * 32, OrgId("org_a"))
    assert a == challenges.thumbprint(b"s" * 32, OrgId("org_a"))
    assert a != challenges.thumbprint(b"s" * 32, OrgId("org_b"))
    assert a != challenges.thumbprint(b"t" * 32, OrgId("org_a"))
    assert len(a) == 43 and "=" not in a  # unpadded base64url of 32 bytes
    assert challenges.key_authorisation("tok", a) == f"tok.{a}"


def test_dns_value_is_base64url_sha256_of_the_key_authorisation() -> None:
    # RFC 8555 §8.4, computed independently.
    digest = hashlib.sha256(b"tok.thumb").digest()
    assert challenges.dns_value("tok.thumb") == base64.urlsafe_b64encode(digest).decode().rstrip(
        "="
    )


# -- dns-01 -----------------------------------------------------------------------------


def test_dns_01_success(zone: tuple[Zone, int], cfg: AssetsConfig) -> None:
    zone[0].txt["_enclave-challenge.acme.example"] = [
        ["unrelated"],
        [challenges.dns_value(KEY_AUTH)],
    ]
    evidence = challenges.check(
        asset(AssetKind.DOMAIN, "acme.example"), Method.DNS_01, KEY_AUTH, cfg
    )
    assert "_enclave-challenge.acme.example" in evidence


def test_dns_01_wrong_token(zone: tuple[Zone, int], cfg: AssetsConfig) -> None:
    other = challenges.key_authorisation("other", "thumb")
    zone[0].txt["_enclave-challenge.acme.example"] = [[challenges.dns_value(other)]]
    with pytest.raises(ChallengeFailed) as exc:
        challenges.check(asset(AssetKind.DOMAIN, "acme.example"), Method.DNS_01, KEY_AUTH, cfg)
    assert failure(exc) is Outcome.WRONG_TOKEN


def test_dns_01_missing_record(zone: tuple[Zone, int], cfg: AssetsConfig) -> None:
    with pytest.raises(ChallengeFailed) as exc:
        challenges.check(asset(AssetKind.DOMAIN, "acme.example"), Method.DNS_01, KEY_AUTH, cfg)
    assert failure(exc) is Outcome.MISSING and "no TXT record" in str(exc.value)


def test_dns_01_oversized_answer(zone: tuple[Zone, int], cfg: AssetsConfig) -> None:
    small = cfg.model_copy(update={"max_answer_bytes": 128})
    zone[0].txt["_enclave-challenge.acme.example"] = [["x" * 100], ["y" * 100]]
    with pytest.raises(ChallengeFailed) as exc:
        challenges.check(asset(AssetKind.DOMAIN, "acme.example"), Method.DNS_01, KEY_AUTH, small)
    assert failure(exc) is Outcome.TOO_LARGE


def test_dns_01_unreachable_resolver_times_out(cfg: AssetsConfig) -> None:
    # A UDP port nobody answers on: a TEST-NET-1 address would leave the machine, so use a
    # closed loopback port (ICMP port unreachable, or a timeout).
    dead = cfg.model_copy(update={"resolvers": ("127.0.0.1:9",), "timeout_seconds": 0.5})
    with pytest.raises(ChallengeFailed) as exc:
        challenges.check(asset(AssetKind.DOMAIN, "acme.example"), Method.DNS_01, KEY_AUTH, dead)
    assert failure(exc) is Outcome.UNREACHABLE


# -- http-01 ----------------------------------------------------------------------------

PATH = "/.well-known/enclave-challenge/tok123"


def test_http_01_success_connects_to_the_checked_address_with_the_host_header(
    zone: tuple[Zone, int], site: tuple[Site, int], cfg: AssetsConfig
) -> None:
    zone[0].a["acme.example"] = ["127.0.0.1"]
    site[0].pages[PATH] = (200, (KEY_AUTH + "\n").encode(), {})
    challenges.check(asset(AssetKind.DOMAIN, "acme.example"), Method.HTTP_01, KEY_AUTH, cfg)
    assert site[0].hosts == [f"acme.example:{site[1]}"]


def test_http_01_wrong_token(
    zone: tuple[Zone, int], site: tuple[Site, int], cfg: AssetsConfig
) -> None:
    zone[0].a["acme.example"] = ["127.0.0.1"]
    site[0].pages[PATH] = (200, b"tok123.somebody-else", {})
    with pytest.raises(ChallengeFailed) as exc:
        challenges.check(asset(AssetKind.DOMAIN, "acme.example"), Method.HTTP_01, KEY_AUTH, cfg)
    assert failure(exc) is Outcome.WRONG_TOKEN


def test_http_01_missing_file(zone: tuple[Zone, int], cfg: AssetsConfig) -> None:
    zone[0].a["acme.example"] = ["127.0.0.1"]
    with pytest.raises(ChallengeFailed) as exc:
        challenges.check(asset(AssetKind.DOMAIN, "acme.example"), Method.HTTP_01, KEY_AUTH, cfg)
    assert failure(exc) is Outcome.MISSING and "404" in str(exc.value)


def test_http_01_redirect_to_another_host_is_refused(
    zone: tuple[Zone, int], site: tuple[Site, int], cfg: AssetsConfig
) -> None:
    zone[0].a["acme.example"] = ["127.0.0.1"]
    away = f"http://evil.example:{site[1]}/x"
    site[0].pages[PATH] = (302, b"", {"Location": away})
    with pytest.raises(ChallengeFailed) as exc:
        challenges.check(asset(AssetKind.DOMAIN, "acme.example"), Method.HTTP_01, KEY_AUTH, cfg)
    assert failure(exc) is Outcome.REDIRECT_REFUSED and "evil.example" in str(exc.value)
    assert len(site[0].hosts) == 1  # the redirect was not followed


def test_http_01_redirect_on_the_same_host_is_followed(
    zone: tuple[Zone, int], site: tuple[Site, int], cfg: AssetsConfig
) -> None:
    zone[0].a["acme.example"] = ["127.0.0.1"]
    site[0].pages[PATH] = (301, b"", {"Location": "/moved"})
    site[0].pages["/moved"] = (200, KEY_AUTH.encode(), {})
    challenges.check(asset(AssetKind.DOMAIN, "acme.example"), Method.HTTP_01, KEY_AUTH, cfg)
    assert len(site[0].hosts) == 2


def test_http_01_oversized_answer(
    zone: tuple[Zone, int], site: tuple[Site, int], cfg: AssetsConfig
) -> None:
    zone[0].a["acme.example"] = ["127.0.0.1"]
    site[0].pages[PATH] = (200, KEY_AUTH.encode() + b" " * 5000, {})
    with pytest.raises(ChallengeFailed) as exc:
        challenges.check(asset(AssetKind.DOMAIN, "acme.example"), Method.HTTP_01, KEY_AUTH, cfg)
    assert failure(exc) is Outcome.TOO_LARGE


def test_http_01_refuses_loopback_by_default(
    zone: tuple[Zone, int], site: tuple[Site, int], cfg: AssetsConfig
) -> None:
    zone[0].a["acme.example"] = ["127.0.0.1"]
    site[0].pages[PATH] = (200, KEY_AUTH.encode(), {})
    strict = cfg.model_copy(update={"allow_loopback": False})
    with pytest.raises(ChallengeFailed) as exc:
        challenges.check(asset(AssetKind.DOMAIN, "acme.example"), Method.HTTP_01, KEY_AUTH, strict)
    assert failure(exc) is Outcome.REFUSED_ADDRESS
    assert site[0].hosts == []  # no connection was made


@pytest.mark.parametrize(
    "address",
    ["169.254.169.254", "100.100.100.200", "fd00:ec2::254", "fe80::1", "224.0.0.1", "0.0.0.0"],
)
def test_metadata_link_local_and_odd_addresses_are_always_refused(
    address: str, cfg: AssetsConfig
) -> None:
    with pytest.raises(ChallengeFailed) as exc:
        safety.check_address(ipaddress.ip_address(address), cfg)
    assert failure(exc) is Outcome.REFUSED_ADDRESS


def test_private_addresses_need_their_setting(cfg: AssetsConfig) -> None:
    with pytest.raises(ChallengeFailed):
        safety.check_address(ipaddress.ip_address("10.1.2.3"), cfg)
    safety.check_address(
        ipaddress.ip_address("10.1.2.3"), cfg.model_copy(update={"allow_private": True})
    )
    safety.check_address(ipaddress.ip_address("8.8.8.8"), cfg)  # public: allowed


# -- repo-file ----------------------------------------------------------------------------


def test_repo_file_success(tmp_path: Path, cfg: AssetsConfig) -> None:
    url = make_repo(tmp_path / "app", {".well-known/enclave-challenge": KEY_AUTH + "\n"})
    evidence = challenges.check(asset(AssetKind.REPO, url), Method.REPO_FILE, KEY_AUTH, cfg)
    assert "default branch" in evidence


def test_repo_file_missing(tmp_path: Path, cfg: AssetsConfig) -> None:
    url = make_repo(tmp_path / "app", {"README": "hello"})
    with pytest.raises(ChallengeFailed) as exc:
        challenges.check(asset(AssetKind.REPO, url), Method.REPO_FILE, KEY_AUTH, cfg)
    assert failure(exc) is Outcome.MISSING


def test_repo_file_wrong_token(tmp_path: Path, cfg: AssetsConfig) -> None:
    url = make_repo(tmp_path / "app", {".well-known/enclave-challenge": "tok123.other\n"})
    with pytest.raises(ChallengeFailed) as exc:
        challenges.check(asset(AssetKind.REPO, url), Method.REPO_FILE, KEY_AUTH, cfg)
    assert failure(exc) is Outcome.WRONG_TOKEN


def test_repo_file_oversized(tmp_path: Path, cfg: AssetsConfig) -> None:
    url = make_repo(tmp_path / "app", {".well-known/enclave-challenge": KEY_AUTH + "x" * 5000})
    with pytest.raises(ChallengeFailed) as exc:
        challenges.check(asset(AssetKind.REPO, url), Method.REPO_FILE, KEY_AUTH, cfg)
    assert failure(exc) is Outcome.TOO_LARGE


def test_repo_file_a_symlink_is_not_followed(tmp_path: Path, cfg: AssetsConfig) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(KEY_AUTH)  # a local file that happens to hold the answer
    root = tmp_path / "app"
    url = make_repo(root, {"README": "x"})
    (root / ".well-known").mkdir()
    (root / ".well-known/enclave-challenge").symlink_to(secret)
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "link"], check=True)
    with pytest.raises(ChallengeFailed) as exc:
        challenges.check(asset(AssetKind.REPO, url), Method.REPO_FILE, KEY_AUTH, cfg)
    assert failure(exc) is Outcome.WRONG_TOKEN  # the blob is the link's target path


def test_repo_file_transport_not_in_the_allowlist_is_refused(
    tmp_path: Path, cfg: AssetsConfig
) -> None:
    url = make_repo(tmp_path / "app", {".well-known/enclave-challenge": KEY_AUTH})
    https_only = cfg.model_copy(update={"git_protocols": ("https",)})
    with pytest.raises(ChallengeFailed) as exc:
        challenges.check(asset(AssetKind.REPO, url), Method.REPO_FILE, KEY_AUTH, https_only)
    assert failure(exc) is Outcome.REFUSED_ADDRESS


@pytest.mark.parametrize(
    "url",
    ["ext::sh -c touch% /tmp/pwned", "-u/tmp/x", "ssh://git@host/x", "git@host:team/app"],
)
def test_dangerous_repo_urls_are_refused_at_input(url: str) -> None:
    with pytest.raises(AssetInputError):
        normalise(AssetKind.REPO, url)
