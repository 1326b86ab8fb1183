"""Asset values: parsing and normalisation, overlap between claims, monitor scope entries."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from enclave.assets.interface import AssetInputError, AssetKind

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# RFC 1035 §2.3.1 labels (letters, digits, hyphen), at least two labels: a bare TLD or a
# single label is nobody's asset to claim.
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_PURL = re.compile(r"^pkg:[a-z][a-z0-9.+-]*/[^\s?#@]+(@[^\s?#]+)?$")
_SHA256 = re.compile(r"^(sha256:)?([0-9a-f]{64})$")
_MAX = 500


def normal_domain(raw: str) -> str:
    name = raw.strip().lower().rstrip(".")
    try:
        name = name.encode("idna").decode("ascii")  # IDNA 2003 A-labels, as DNS stores them
    except UnicodeError:
        raise AssetInputError(f"{raw!r} is not a valid domain name") from None
    labels = name.split(".")
    if len(name) > 253 or len(labels) < 2 or not all(_LABEL.match(lb) for lb in labels):
        raise AssetInputError(
            f"{raw!r} is not a valid domain name", hint="e.g. acme.example (at least two labels)"
        )
    if labels[-1].isdigit():
        raise AssetInputError(f"{raw!r} looks like an address; use kind host")
    return name


def network(value: str) -> IPNetwork | None:
    """The address block a host value names, or None for a host name."""
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None


def normalise(kind: AssetKind, raw: str) -> str:
    raw = raw.strip()
    if not raw or len(raw) > _MAX or any(ord(c) < 33 for c in raw):
        raise AssetInputError(f"asset value must be 1 to {_MAX} characters without spaces")
    match kind:
        case AssetKind.DOMAIN:
            return normal_domain(raw)
        case AssetKind.HOST:
            try:
                return str(ipaddress.ip_network(raw, strict=True))
            except ValueError as exc:
                if "/" in raw:
                    raise AssetInputError(f"{raw!r}: {exc}") from None
            return normal_domain(raw)
        case AssetKind.REPO:
            return normal_repo_url(raw)
        case AssetKind.PACKAGE:
            if not _PURL.match(raw):
                raise AssetInputError(
                    f"{raw!r} is not a package URL", hint="e.g. pkg:pypi/acme-tools"
                )
            return raw
        case AssetKind.BINARY:
            m = _SHA256.match(raw.lower())
            if not m:
                raise AssetInputError(f"{raw!r}: expected sha256:<64 hex>")
            return "sha256:" + m.group(2)


def normal_repo_url(raw: str) -> str:
    """Only URLs git fetches over a transport we allow; never `ext::`, options or ssh
    (an `ext::` URL runs a command, CVE-2015-7545; a leading `-` is an option)."""
    parts = urlsplit(raw)
    if parts.scheme not in ("https", "http", "file") or raw.startswith("-"):
        raise AssetInputError(
            f"{raw!r} is not an http(s) git URL", hint="e.g. https://git.acme.example/team/app"
        )
    if parts.scheme != "file":
        if not parts.hostname or parts.username or parts.password:
            raise AssetInputError(f"{raw!r}: expected https://HOST/PATH without credentials")
        host = parts.hostname
        port = f":{parts.port}" if parts.port else ""
        path = parts.path.rstrip("/").removesuffix(".git")
        if not path.strip("/"):
            raise AssetInputError(f"{raw!r}: the URL names no repository")
        return f"{parts.scheme}://{host}{port}{path}"
    return raw.rstrip("/")


def repo_host(url: str) -> str | None:
    return urlsplit(url).hostname


def _package_name(purl: str) -> str:
    return purl.split("@", 1)[0]


def _under(name: str, domain: str) -> bool:
    return name == domain or name.endswith("." + domain)


def overlaps(a: tuple[AssetKind, str], b: tuple[AssetKind, str]) -> bool:
    """Whether two claims cover a common target (symmetric)."""
    (ka, va), (kb, vb) = a, b
    if ka in (AssetKind.DOMAIN, AssetKind.HOST) and kb in (AssetKind.DOMAIN, AssetKind.HOST):
        na, nb = network(va), network(vb)
        if na is not None and nb is not None:
            return na.version == nb.version and na.overlaps(nb)
        if na is not None or nb is not None:
            return False  # a name and an address: only DNS relates them, and it changes
        if ka is AssetKind.DOMAIN and kb is AssetKind.DOMAIN:
            return _under(va, vb) or _under(vb, va)
        if ka is AssetKind.DOMAIN:
            return _under(vb, va)
        if kb is AssetKind.DOMAIN:
            return _under(va, vb)
        return va == vb
    if ka is not kb:
        if {ka, kb} == {AssetKind.REPO, AssetKind.DOMAIN}:
            repo, dom = (va, vb) if ka is AssetKind.REPO else (vb, va)
            host = repo_host(repo)
            return host is not None and _under(host, dom)
        return False
    if ka is AssetKind.PACKAGE:
        return _package_name(va) == _package_name(vb)
    return va == vb


def scope_entry(kind: AssetKind, value: str) -> str:
    """The monitor's entry syntax (enclave.monitor.scope): host:, domain:, repo:; package
    and binary entries are kept for policies (the monitor ignores kinds it does not check)."""
    return f"{kind.value}:{value}"


__all__ = [
    "network",
    "normal_domain",
    "normal_repo_url",
    "normalise",
    "overlaps",
    "repo_host",
    "scope_entry",
]
