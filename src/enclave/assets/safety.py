"""Fetching challenge answers without becoming an SSRF tool.

Threat model: the asset value (a domain, a repository URL) is chosen by whoever asks for a
verification, so every fetch is a request Enclave makes on an attacker's behalf. Hence:

- names are resolved only through the configured resolvers (the allowlist), never the
  system resolver, and every address is checked before a connection is made; the HTTP
  connection goes to the checked address (Host header set), so a second lookup cannot
  rebind the name to another address (DNS rebinding);
- loopback, link-local (169.254.0.0/16 holds the cloud metadata services), multicast,
  unspecified and reserved addresses are refused; loopback only with ``allow_loopback``
  (tests) and private blocks only with ``allow_private``;
- no redirect leaves the host (RFC 8555 §8.3 lets validators follow redirects; we follow
  them only on the same host and port) and no environment proxy is used;
- every answer is read up to ``max_answer_bytes`` and every step has a short timeout;
- git runs with ``GIT_ALLOW_PROTOCOL`` (``ext::`` runs commands, CVE-2015-7545), no
  system or global configuration, no prompts and no checkout: the file is read from the
  object store, so a symlink in the repository cannot point us at a local file.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
import tempfile
from collections.abc import Sequence
from urllib.parse import urljoin, urlsplit

import dns.exception
import dns.nameserver
import dns.resolver
import httpx

from enclave.assets.interface import AssetInputError, ChallengeFailed, Outcome
from enclave.config.assets import AssetsConfig

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Metadata endpoints outside link-local: Alibaba Cloud (100.100.100.200) and AWS's IPv6
# IMDS (fd00:ec2::254), per their documentation.
METADATA = frozenset(
    {ipaddress.ip_address("100.100.100.200"), ipaddress.ip_address("fd00:ec2::254")}
)
_MAX_REDIRECTS = 3


def check_address(address: IPAddress, config: AssetsConfig) -> None:
    """Refuse addresses a challenge fetch must never reach."""
    if address in METADATA or address.is_link_local:
        why = "a link-local or cloud metadata address"
    elif address.is_loopback:
        if config.allow_loopback:
            return
        why = "a loopback address"
    elif address.is_multicast or address.is_unspecified or address.is_reserved:
        why = "a multicast, unspecified or reserved address"
    elif address.is_private or (address.version == 4 and address in _SHARED):
        if config.allow_private:
            return
        why = "a private address"
    else:
        return
    raise ChallengeFailed(
        Outcome.REFUSED_ADDRESS,
        f"{address} is {why}; challenges are not fetched from it",
        hint="use operator-attestation for assets that cannot answer from a public address",
    )


_SHARED = ipaddress.ip_network("100.64.0.0/10")  # RFC 6598 carrier-grade NAT


def resolver(config: AssetsConfig) -> dns.resolver.Resolver:
    """A resolver that asks only the configured servers (the allowlist)."""
    if not config.resolvers:
        raise AssetInputError("no DNS resolver is configured (assets.resolvers)")
    res = dns.resolver.Resolver(configure=False)
    servers: list[str | dns.nameserver.Nameserver] = []
    for entry in config.resolvers:
        host, port = _host_port(entry)
        servers.append(dns.nameserver.Do53Nameserver(host, port))
    res.nameservers = servers
    res.lifetime = config.timeout_seconds
    res.timeout = config.timeout_seconds
    return res


def _host_port(entry: str) -> tuple[str, int]:
    try:
        return str(ipaddress.ip_address(entry)), 53
    except ValueError:
        host, _, port = entry.rpartition(":")
        host = host.strip("[]")
        try:
            return str(ipaddress.ip_address(host)), int(port)
        except ValueError:
            raise AssetInputError(
                f"assets.resolvers entry {entry!r}: expected IP or IP:PORT"
            ) from None


def _query(name: str, rtype: str, config: AssetsConfig) -> dns.resolver.Answer | None:
    try:
        return resolver(config).resolve(name, rtype, search=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return None
    except dns.exception.Timeout:
        raise ChallengeFailed(
            Outcome.UNREACHABLE, f"the resolver did not answer for {name} {rtype} in time"
        ) from None
    except dns.exception.DNSException as exc:
        raise ChallengeFailed(Outcome.UNREACHABLE, f"{name} {rtype}: {exc}") from None


def txt_records(name: str, config: AssetsConfig) -> list[str]:
    """The TXT strings at ``name`` (each record's strings joined, RFC 7208 §3.3 style)."""
    answer = _query(name, "TXT", config)
    if answer is None:
        raise ChallengeFailed(Outcome.MISSING, f"no TXT record at {name}")
    values: list[str] = []
    size = 0
    for rdata in answer:
        joined = b"".join(rdata.strings)
        size += len(joined)
        if size > config.max_answer_bytes:
            raise ChallengeFailed(
                Outcome.TOO_LARGE,
                f"the TXT records at {name} exceed {config.max_answer_bytes} bytes",
            )
        values.append(joined.decode("utf-8", "replace"))
    return values


def addresses(name: str, config: AssetsConfig) -> list[IPAddress]:
    """A and AAAA of ``name`` through the allowlisted resolvers."""
    found: list[IPAddress] = []
    for rtype in ("A", "AAAA"):
        answer = _query(name, rtype, config)
        if answer is not None:
            found.extend(ipaddress.ip_address(r.to_text()) for r in answer)
    return found


def http_get(host: str, path: str, config: AssetsConfig) -> str:
    """GET http://host:port/path from a checked address; the body, at most the limit."""
    found = addresses(host, config)
    if not found:
        raise ChallengeFailed(Outcome.MISSING, f"{host} has no A or AAAA record")
    for address in found:
        check_address(address, config)
    address = found[0]
    netloc = f"[{address}]" if address.version == 6 else str(address)
    port = config.http_port
    url = f"http://{host}:{port}{path}" if port != 80 else f"http://{host}{path}"
    timeout = httpx.Timeout(config.timeout_seconds)
    with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
        for _ in range(_MAX_REDIRECTS + 1):
            parts = urlsplit(url)
            target = f"http://{netloc}:{port}{parts.path}" + (
                f"?{parts.query}" if parts.query else ""
            )
            try:
                with client.stream("GET", target, headers={"Host": parts.netloc}) as response:
                    if response.is_redirect:
                        url = _same_host_redirect(url, response.headers.get("location", ""))
                        continue
                    if response.status_code != 200:
                        raise ChallengeFailed(
                            Outcome.MISSING, f"{url} answered HTTP {response.status_code}"
                        )
                    return _bounded(response, url, config.max_answer_bytes)
            except httpx.HTTPError as exc:
                raise ChallengeFailed(
                    Outcome.UNREACHABLE, f"{url}: {type(exc).__name__} {exc}"
                ) from None
    raise ChallengeFailed(Outcome.REDIRECT_REFUSED, f"more than {_MAX_REDIRECTS} redirects")


def _same_host_redirect(current: str, location: str) -> str:
    nxt = urljoin(current, location)
    a, b = urlsplit(current), urlsplit(nxt)
    if (b.scheme, b.hostname, b.port) != (a.scheme, a.hostname, a.port):
        raise ChallengeFailed(
            Outcome.REDIRECT_REFUSED,
            f"{current} redirects to {nxt}: redirects to another host or scheme are not followed",
            hint="serve the challenge directly on the asset's own host",
        )
    return nxt


def _bounded(response: httpx.Response, url: str, limit: int) -> str:
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > limit:
            raise ChallengeFailed(Outcome.TOO_LARGE, f"{url} sent more than {limit} bytes")
    return body.decode("utf-8", "replace")


def git_file(url: str, path: str, config: AssetsConfig) -> str:
    """The content of ``path`` on the default branch of the repository at ``url``."""
    scheme = urlsplit(url).scheme
    if scheme not in config.git_protocols:
        raise ChallengeFailed(
            Outcome.REFUSED_ADDRESS,
            f"git transport {scheme!r} is not allowed (assets.git_protocols)",
        )
    host = urlsplit(url).hostname
    if host:
        # Git resolves the name again itself; this check catches names that point at
        # refused addresses, not a rebinding between the two lookups (documented limit).
        found = addresses(host, config)
        if not found:
            raise ChallengeFailed(Outcome.MISSING, f"{host} has no A or AAAA record")
        for address in found:
            check_address(address, config)
    with tempfile.TemporaryDirectory(prefix="enclave-challenge-") as tmp:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": tmp,
            "GIT_ALLOW_PROTOCOL": ":".join(config.git_protocols),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ASKPASS": "",
        }
        repo = os.path.join(tmp, "repo")
        _git(
            [
                "-c",
                "http.followRedirects=false",
                "clone",
                "--depth=1",
                "--no-checkout",
                "--no-tags",
                "--single-branch",
                "--quiet",
                "--",
                url,
                repo,
            ],
            env,
            config,
            what=url,
        )
        ref = f"HEAD:{path}"
        size = _git(["-C", repo, "cat-file", "-s", ref], env, config, what=f"{url} {path}")
        if int(size) > config.max_answer_bytes:
            raise ChallengeFailed(
                Outcome.TOO_LARGE, f"{path} is {int(size)} bytes (limit {config.max_answer_bytes})"
            )
        return _git(["-C", repo, "cat-file", "blob", ref], env, config, what=f"{url} {path}")


def _git(args: Sequence[str], env: dict[str, str], config: AssetsConfig, *, what: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args],
            env=env,
            capture_output=True,
            timeout=config.timeout_seconds * 6,  # a shallow clone is several round trips
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ChallengeFailed(Outcome.UNREACHABLE, f"git timed out on {what}") from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        detail = message[-1] if message else f"git exited {done.returncode}"
        if "cat-file" in args:
            raise ChallengeFailed(Outcome.MISSING, f"no {what} on the default branch")
        raise ChallengeFailed(Outcome.UNREACHABLE, f"cannot clone {what}: {detail[:300]}")
    return done.stdout.decode("utf-8", "replace")


__all__ = ["METADATA", "addresses", "check_address", "git_file", "http_get", "txt_records"]
