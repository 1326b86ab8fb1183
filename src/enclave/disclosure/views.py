"""Plain JSON shapes of disclosure values, shared by the admin API and the CLI.

Threat-model note: each shape lists its fields; ciphertexts, webhook secrets and token
hashes never appear. Embargoed text appears only in :func:`details`, which only the
service's ``details`` call (role-checked, recorded) can feed.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from enclave.disclosure.interface import (
    Case,
    Details,
    Finding,
    IssuedLink,
    Overview,
    Participant,
    StatusEntry,
    Submitted,
)
from enclave.events import StoredEvent


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def finding(f: Finding) -> dict[str, Any]:
    return {
        "id": f.id,
        "case": f.case_id,
        "title": f.title,
        "purl": f.purl,
        "versions": list(f.versions),
        "location": f.location,
        "cwe": f"CWE-{f.cwe}",
        "cvss": {
            "vector": f.cvss.vector,
            "score": f.cvss.score,
            "severity": f.cvss.severity,
            "computed_by": f.cvss.computed_by,
        },
        "reporting_org": f.reporting_org,
        "session": f.session_id,
        "poc": {"name": f.poc_name, "bytes": f.poc_size} if f.poc is not None else None,
        "duplicate_of": f.duplicate_of,
        "created_at": _when(f.created_at),
    }


def case(c: Case) -> dict[str, Any]:
    return {
        "id": c.id,
        "title": c.title,
        "product": c.product,
        "state": c.state.value,
        "exploited": c.exploited,
        "created_at": _when(c.created_at),
        "updated_at": _when(c.updated_at),
        "notified_at": _when(c.notified_at),
        "fix_released_at": _when(c.fix_released_at),
        "fixed_version": c.fixed_version,
        "deadline": _when(c.deadline),
        "grace_used": c.grace_used,
        "published_at": _when(c.published_at),
    }


def participant(p: Participant) -> dict[str, Any]:
    return {
        "id": p.id,
        "role": p.role.value,
        "name": p.name,
        "email": p.email,
        "webhook_url": p.webhook_url,
    }


def status(s: StatusEntry) -> dict[str, Any]:
    return {
        "participant": s.participant_id,
        "finding": s.finding_id,
        "status": s.status.value,
        "fixed_version": s.fixed_version,
        "updated_at": _when(s.updated_at),
    }


def overview(o: Overview) -> dict[str, Any]:
    return {
        **case(o.case),
        "findings": [finding(f) for f in o.findings],
        "participants": [participant(p) for p in o.participants],
        "statuses": [status(s) for s in o.statuses],
    }


def details(d: Details) -> dict[str, Any]:
    body = overview(d.overview)
    for item in body["findings"]:
        item["description"] = d.descriptions[item["id"]]
        poc = d.pocs.get(item["id"])
        if poc is not None:
            item["poc"]["base64"] = base64.b64encode(poc).decode("ascii")
    return body


def submitted(s: Submitted) -> dict[str, Any]:
    return {"finding": finding(s.finding), "case": case(s.case), "duplicate_of": s.duplicate_of}


def link(issued: IssuedLink) -> dict[str, Any]:
    return {
        "participant": issued.participant.id,
        "name": issued.participant.name,
        "url": issued.url,
        "expires_at": _when(issued.expires_at),
    }


def event(e: StoredEvent) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "at": _when(e.event.at),
        "kind": e.event.kind,
        "actor": e.event.actor,
        "data": dict(e.event.data),
    }


__all__ = [
    "case",
    "details",
    "event",
    "finding",
    "link",
    "overview",
    "participant",
    "status",
    "submitted",
]
