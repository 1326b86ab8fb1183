"""Loopback servers and repositories for the asset challenge tests."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dnslib import QTYPE, RR, TXT, A, DNSRecord
from dnslib.server import BaseResolver


@dataclass
class Zone(BaseResolver):  # type: ignore[misc]
    """name -> TXT strings and A addresses; everything else NXDOMAIN."""

    txt: dict[str, list[list[str]]] = field(default_factory=dict)
    a: dict[str, list[str]] = field(default_factory=dict)

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        qtype = QTYPE[request.q.qtype]
        if qtype == "TXT":
            for strings in self.txt.get(name, []):
                reply.add_answer(RR(name, QTYPE.TXT, rdata=TXT(strings), ttl=60))
        elif qtype == "A":
            for address in self.a.get(name, []):
                reply.add_answer(RR(name, QTYPE.A, rdata=A(address), ttl=60))
        if not reply.rr and name not in self.txt and name not in self.a:
            reply.header.rcode = 3  # NXDOMAIN
        return reply


@dataclass
class Site:
    """path -> (status, body, extra headers); records the Host headers it saw."""

    pages: dict[str, tuple[int, bytes, dict[str, str]]] = field(default_factory=dict)
    hosts: list[str] = field(default_factory=list)


def make_repo(root: Path, files: dict[str, str]) -> str:
    """A local repository with one commit on its default branch; returns its file:// URL."""
    root.mkdir(parents=True)
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "init"], check=True)
    return root.as_uri()
