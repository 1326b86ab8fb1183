"""A session's scope: the hosts, networks, domains and repositories it may target.

Entries (from the key's scope list until verified assets arrive with issue 8):

- ``host:10.20.0.0/16``   an address block (or one address)
- ``host:db1.acme.example`` one host name, exactly
- ``domain:acme.example``  the domain and every subdomain
- ``repo:https://git.acme.example/team/app``  one repository (and URLs below it)

Threat-model notes. No DNS is resolved, ever: a name is in scope only by name and an
address only by address, so a model cannot move a target into scope by pointing a name it
controls at an in-scope address (or the reverse). Loopback is the agent's own sandbox and
is not a target. Reading public reference sources (package indexes, CVE databases,
documentation; REFERENCE_DOMAINS) with a read-only request is not targeting them; any
request that sends data there is judged like every other.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import urlsplit

from enclave.monitor.facts import normal_host
from enclave.monitor.interface import MonitorInputError

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

REFERENCE_DOMAINS = frozenset(
    """pypi.org pythonhosted.org npmjs.org npmjs.com yarnpkg.com crates.io rubygems.org
    golang.org go.dev proxy.golang.org maven.org apache.org debian.org ubuntu.com
    alpinelinux.org fedoraproject.org nist.gov cve.org mitre.org osv.dev first.org cisa.gov
    github.com githubusercontent.com gitlab.com python.org readthedocs.io readthedocs.org
    mozilla.org owasp.org stackoverflow.com wikipedia.org exploit-db.com rfc-editor.org
    ietf.org kernel.org""".split()
)
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
READ_ONLY_PROGRAMS = frozenset(
    {
        "pip",
        "pip3",
        "npm",
        "yarn",
        "pnpm",
        "apt",
        "apt-get",
        "go",
        "cargo",
        "gem",
        "git",
        "wget",
        "curl",
        "http",
        "xh",
        "uv",
        "poetry",
        "brew",
        "dnf",
        "yum",
        "apk",
        "docker",
    }
)
_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
_RANGE = re.compile(r"^(\d{1,3}\.\d{1,3}\.\d{1,3}\.)(\d{1,3})-(\d{1,3})$")


_SCP_LIKE = re.compile(r"^[\w.\-]+@([\w.\-]+):(.+)$")


def normal_repo(url: str) -> str:
    """`git@host:team/app.git`, `https://host/team/app/` -> `host/team/app`."""
    url = url.strip()
    m = _SCP_LIKE.match(url)
    if m and "://" not in url:
        host, path = m.group(1), m.group(2)
    else:
        parts = urlsplit(url if "://" in url else "https://" + url)
        host, path = parts.hostname or "", parts.path
    path = path.strip("/").removesuffix(".git")
    return f"{normal_host(host)}/{path}".rstrip("/")


@dataclass(frozen=True)
class Scope:
    entries: tuple[str, ...] = ()
    networks: tuple[IPNetwork, ...] = ()
    hosts: frozenset[str] = frozenset()
    domains: frozenset[str] = frozenset()
    repos: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()  # entries of kinds this version does not check
    _cache: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def parse(cls, entries: Iterable[str], *, strict: bool = True) -> Scope:
        """Build a scope; with strict=False a malformed entry is kept in `ignored` (and so
        covers nothing: fail closed) instead of raising."""
        return _parse(tuple(entries), strict)

    def covers_host(self, host: str) -> bool:
        known = self._cache.get(host)
        if known is None:
            if len(self._cache) > 4096:
                self._cache.clear()
            known = self._cache[host] = self._covers(host)
        return known

    def _covers(self, host: str) -> bool:
        host = normal_host(host)
        if is_local(host):
            return True
        m = _RANGE.match(host)
        if m:
            return self._covers(m.group(1) + m.group(2)) and self._covers(m.group(1) + m.group(3))
        try:
            if "/" in host:
                block = ipaddress.ip_network(host, strict=False)
                return any(
                    block.version == net.version and block.subnet_of(net)  # type: ignore[arg-type]
                    for net in self.networks
                )
            address = ipaddress.ip_address(host)
            return any(address in net for net in self.networks)
        except ValueError:
            pass
        if host in self.hosts:
            return True
        return _under(host, self.domains)

    def covers_url(self, url: str) -> bool:
        if self.repos:
            repo = normal_repo(url)
            for allowed in self.repos:
                if repo == allowed or repo.startswith(allowed + "/"):
                    return True
        try:
            host = urlsplit(url).hostname or ""
        except ValueError:
            return False
        return self.covers_host(host)

    def covers_recipient(self, address: str) -> bool:
        domain = address.rsplit("@", 1)[-1].lower()
        return domain in self.hosts or _under(domain, self.domains)


def _under(host: str, domains: frozenset[str]) -> bool:
    if not domains:
        return False
    labels = host.split(".")
    return any(".".join(labels[i:]) in domains for i in range(len(labels)))


def is_local(host: str) -> bool:
    if host in _LOCAL_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_reference(host: str) -> bool:
    return _under(normal_host(host), REFERENCE_DOMAINS)


@lru_cache(maxsize=1024)
def _parse(entries: tuple[str, ...], strict: bool) -> Scope:
    networks: list[IPNetwork] = []
    hosts: set[str] = set()
    domains: set[str] = set()
    repos: list[str] = []
    ignored: list[str] = []
    for entry in entries:
        kind, sep, value = entry.strip().partition(":")
        value = value.strip()
        problem = None
        if not sep or not value:
            problem = "expected KIND:VALUE (host:, domain: or repo:)"
        elif kind == "host":
            try:
                networks.append(ipaddress.ip_network(value, strict=False))
            except ValueError:
                if re.fullmatch(r"[A-Za-z0-9.\-_]+", value) and "." in value:
                    hosts.add(normal_host(value))
                else:
                    problem = "expected an address, a CIDR block or a host name"
        elif kind == "domain":
            if re.fullmatch(r"[A-Za-z0-9.\-_]+", value) and "." in value:
                domains.add(normal_host(value.lstrip("*.")))
            else:
                problem = "expected a domain name"
        elif kind == "repo":
            normal = normal_repo(value)
            if "/" in normal and normal.split("/", 1)[0]:
                repos.append(normal)
            else:
                problem = "expected a repository URL"
        else:
            problem = f"unknown kind {kind!r}; expected host:, domain: or repo:"
        if problem:
            if strict:
                raise MonitorInputError(f"scope entry {entry!r}: {problem}")
            ignored.append(entry)
    return Scope(
        entries=entries,
        networks=tuple(networks),
        hosts=frozenset(hosts),
        domains=frozenset(domains),
        repos=tuple(repos),
        ignored=tuple(ignored),
    )


def out_of_scope(
    scope: Scope,
    *,
    hosts: Sequence[str],
    urls: Sequence[str],
    methods: Sequence[str],
    executables: Sequence[str],
) -> list[str]:
    """The targets of one event that the scope does not cover."""
    read_only = (not methods or set(methods) <= READ_METHODS) and (
        not executables or set(executables) <= READ_ONLY_PROGRAMS
    )
    covered: set[str] = set()
    for url in urls:
        if scope.covers_url(url):
            try:
                covered.add(normal_host(urlsplit(url).hostname or ""))
            except ValueError:
                continue
    out: list[str] = []
    for host in hosts:
        if host in covered or scope.covers_host(host):
            continue
        if read_only and is_reference(host):
            continue
        out.append(host)
    return out


__all__ = ["REFERENCE_DOMAINS", "Scope", "is_local", "is_reference", "normal_repo", "out_of_scope"]
