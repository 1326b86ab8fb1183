from __future__ import annotations

import pytest

from enclave.monitor import MonitorInputError, Scope
from enclave.monitor.scope import normal_repo, out_of_scope

SCOPE = Scope.parse(
    ["host:10.20.0.0/16", "host:db1.other.example", "domain:acme.example",
     "repo:https://git.acme.example/team/app"]
)  # fmt: skip


@pytest.mark.parametrize(
    ("host", "covered"),
    [
        ("10.20.3.4", True),
        ("10.21.0.1", False),
        ("10.20.1.0/24", True),  # a block inside the scope's block
        ("10.0.0.0/8", False),  # wider than the scope
        ("10.20.1.1-50", True),
        ("db1.other.example", True),
        ("db2.other.example", False),  # host: is exact
        ("acme.example", True),
        ("deep.sub.acme.example", True),  # domain: covers subdomains
        ("notacme.example", False),
        ("acme.example.evil.net", False),
        ("localhost", True),  # the sandbox itself
        ("127.0.0.1", True),
        ("::1", True),
    ],
)
def test_hosts(host: str, covered: bool) -> None:
    assert SCOPE.covers_host(host) is covered


def test_repositories_in_every_spelling() -> None:
    for url in (
        "https://git.acme.example/team/app",
        "https://git.acme.example/team/app.git",
        "git@git.acme.example:team/app.git",
        "https://git.acme.example/team/app/issues/3",
    ):
        assert SCOPE.covers_url(url), url
    assert normal_repo("git@git.acme.example:team/app.git") == "git.acme.example/team/app"
    only_repo = Scope.parse(["repo:https://git.host.example/team/app"])
    assert only_repo.covers_url("https://git.host.example/team/app.git")
    assert not only_repo.covers_url("https://git.host.example/team/other")


def test_reading_reference_sites_is_not_targeting_them_but_sending_is() -> None:
    read = out_of_scope(SCOPE, hosts=["nvd.nist.gov", "pypi.org"], urls=[], methods=["GET"],
                        executables=["curl"])  # fmt: skip
    assert read == []
    sent = out_of_scope(SCOPE, hosts=["api.github.com"], urls=[], methods=["POST"],
                        executables=["curl"])  # fmt: skip
    assert sent == ["api.github.com"]
    scanned = out_of_scope(SCOPE, hosts=["github.com"], urls=[], methods=[],
                           executables=["nmap"])  # fmt: skip
    assert scanned == ["github.com"]


def test_no_dns_resolution_and_empty_scope_covers_nothing_remote() -> None:
    empty = Scope.parse([])
    assert not empty.covers_host("10.20.0.1") and not empty.covers_host("acme.example")
    assert empty.covers_host("localhost")
    assert not Scope.parse(["host:10.20.0.0/16"]).covers_host("db1.acme.example")


def test_recipients() -> None:
    assert SCOPE.covers_recipient("security@acme.example")
    assert SCOPE.covers_recipient("ops@mail.acme.example")
    assert not SCOPE.covers_recipient("security@vendor.com")


@pytest.mark.parametrize(
    "entry", ["10.0.0.0/8", "host:", "domain:not a domain", "asset:x", "repo:", "host:a b"]
)
def test_bad_entries_are_refused_or_ignored_fail_closed(entry: str) -> None:
    with pytest.raises(MonitorInputError, match="scope entry"):
        Scope.parse([entry])
    lenient = Scope.parse([entry, "host:10.1.0.0/16"], strict=False)
    assert lenient.ignored == (entry,)
    assert lenient.covers_host("10.1.2.3") and not lenient.covers_host("10.2.0.1")
