"""Demo mode (no provider configured): a key a newcomer can paste, and what to paste.

`enclave init` creates, once, a demo organisation in the public tier, approved by the
bootstrap operator with the reason "demo mode" (recorded like every approval), and a key
for it saved with mode 0600 in state_dir/demo-key. `enclave serve` prints a curl command
and a Python SDK snippet that use it against the built-in `demo` model. The organisation
is an ordinary public-tier one: operators see it in `enclave org list` and can suspend it.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from enclave.config import Settings
from enclave.errors import EnclaveError
from enclave.gateway.credits import DEMO_GRANT
from enclave.ledger import TransferId
from enclave.registry import OrgStatus, RegistryService
from enclave.runtime import write_private
from enclave.store import Database
from enclave.store.ledger_repo import open_credits

DEMO_ORG = "Demo"
DEMO_POOL = "demo"
REASON = "demo mode"


def is_demo(settings: Settings) -> bool:
    return not settings.providers


def key_path(settings: Settings) -> Path:
    return settings.state_dir / "demo-key"


def saved_key(settings: Settings) -> str | None:
    try:
        return key_path(settings).read_text(encoding="ascii").strip() or None
    except FileNotFoundError:
        return None


def ensure_demo_key(registry: RegistryService, settings: Settings) -> str | None:
    """The demo key, issued if the saved one is missing or no longer works; None (with
    the reason printed by the caller) when the demo organisation cannot have one."""
    saved = saved_key(settings)
    if saved is not None:
        try:
            registry.authenticate(saved)
            return saved
        except EnclaveError:
            pass  # expired or revoked: issue a fresh one below
    bootstrap = registry.operator_for_cli(None)
    orgs = {org.name: org for org in registry.list_orgs(bootstrap)}
    org = orgs.get(DEMO_ORG)
    if org is None:
        org, application = registry.create_org(
            bootstrap, name=DEMO_ORG, kind="public", tier="public", sector="demo"
        )
        _, org = registry.decide(bootstrap, application.id, decision="approve", reason=REASON)
    if org.status is not OrgStatus.APPROVED:
        return None  # e.g. suspended by an operator, or the public tier needs two approvals
    issued = registry.issue_key(bootstrap, org.id, purposes=["general"], name=REASON)
    path = key_path(settings)
    path.unlink(missing_ok=True)
    write_private(path, (issued.secret + "\n").encode("ascii"))
    return issued.secret


def fund_demo(db: Database, registry: RegistryService, settings: Settings) -> None:
    """Credits for the demo organisation, once: the bootstrap operator funds a ``demo``
    pool from the issuer and grants it to the organisation (both recorded like any
    transfer). Fixed transfer ids make this idempotent: a second `enclave init` is
    answered with the first transfers. The demo variant's price is DEMO_PRICE unless
    configured (enclave.gateway.credits)."""
    bootstrap = registry.operator_for_cli(None)
    org = {o.name: o for o in registry.list_orgs(bootstrap)}.get(DEMO_ORG)
    if org is None or org.status is not OrgStatus.APPROVED:
        return
    _, credits = open_credits(db, settings)
    credits.fund(
        bootstrap,
        pool=DEMO_POOL,
        amount=DEMO_GRANT,
        create=True,
        memo=REASON,
        transfer_id=TransferId("demo-fund"),
    )
    credits.grant(
        bootstrap,
        pool=DEMO_POOL,
        org=org.id,
        amount=DEMO_GRANT,
        memo=REASON,
        transfer_id=TransferId(f"demo-grant-{org.id}"[:64]),
    )


def snippets(base_url: str, key: str) -> str:
    """Ready-to-paste commands for the demo model."""
    body = '{"model": "demo", "messages": [{"role": "user", "content": "Hello, Enclave"}]}'
    return f"""\
Try the built-in demo model (canned answers, offline):

  curl {base_url}/v1/chat/completions \\
    -H {shlex.quote("Authorization: Bearer " + key)} \\
    -H 'Content-Type: application/json' \\
    -d {shlex.quote(body)}

Or with the OpenAI Python SDK (pip install openai):

  python3 -c '
from openai import OpenAI
client = OpenAI(base_url="{base_url}/v1", api_key="{key}")
messages = [{{"role": "user", "content": "Hello, Enclave"}}]
reply = client.chat.completions.create(model="demo", messages=messages)
print(reply.choices[0].message.content)'
"""


__all__ = [
    "DEMO_ORG",
    "DEMO_POOL",
    "ensure_demo_key",
    "fund_demo",
    "is_demo",
    "key_path",
    "saved_key",
    "snippets",
]
