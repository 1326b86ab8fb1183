"""Shared by the disclosure tests (imported by name: pytest puts this folder on sys.path)."""

from __future__ import annotations

from pathlib import Path

from enclave.disclosure import DeliveryFailed, FindingInput, Notice

SCHEMAS = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "schemas"
VECTOR = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"


class Outbox:
    """Records notices instead of sending them; `fail` makes the next delivery fail."""

    def __init__(self) -> None:
        self.sent: list[Notice] = []
        self.fail = False

    async def deliver(self, notice: Notice) -> list[str]:
        if self.fail:
            raise DeliveryFailed(f"mail to {notice.email} refused")
        self.sent.append(notice)
        return ["email"]


def finding(**overrides: object) -> FindingInput:
    values: dict[str, object] = {
        "title": "Heap overflow in frame parser",
        "purl": "pkg:pypi/examplelib",
        "versions": ["1.0.0", "1.1.0"],
        "location": "src/examplelib/frames.c:120",
        "cwe": "CWE-787",
        "cvss_vector": VECTOR,
        "description": "A crafted frame overflows the heap buffer in parse_frame().",
        "reporting_org": "Acme Defenders",
        "session_id": "sess-1",
        "poc": b"\x00\x01crash",
        "poc_name": "crash.bin",
    }
    values.update(overrides)
    return FindingInput(**values)  # type: ignore[arg-type]
