"""The advisory schemas ship inside the package, byte for byte as upstream published them,
so that publication validates on any installation, not only beside ../shared/data."""

from __future__ import annotations

import hashlib
import re

from enclave.disclosure.export import SHIPPED_SCHEMAS, Validators


def test_shipped_copies_match_the_recorded_upstream_hashes() -> None:
    readme = (SHIPPED_SCHEMAS / "README.md").read_text(encoding="utf-8")
    recorded = re.findall(r"^([0-9a-f]{64})  (\S+)$", readme, flags=re.MULTILINE)
    assert len(recorded) == 5
    for digest, relative in recorded:
        body = (SHIPPED_SCHEMAS / relative).read_bytes()
        assert hashlib.sha256(body).hexdigest() == digest, relative


def test_shipped_schemas_load_without_configuration() -> None:
    Validators(SHIPPED_SCHEMAS)
