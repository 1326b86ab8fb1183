"""The console's pages: one module per area, each with an APIRouter named ``router``.

Adding a page: write ``pages/<area>.py`` (routes, see framework.py), its templates under
``templates/<area>/``, then add the module to PAGES and its entry to NAV here.
"""

from __future__ import annotations

from enclave.console.pages import (
    alerts,
    audit,
    credits,
    disclosure,
    home,
    keys,
    orgs,
    policies,
    sessions,
    transparency,
)

PAGES = (home, orgs, keys, sessions, alerts, credits, disclosure, audit, policies, transparency)

# The navigation bar: (path below /console, label), in order.
NAV: tuple[tuple[str, str], ...] = (
    ("/orgs", "Organisations"),
    ("/vetting", "Vetting queue"),
    ("/keys", "Keys"),
    ("/sessions", "Sessions"),
    ("/alerts", "Alerts"),
    ("/credits", "Credits"),
    ("/disclosure", "Disclosure"),
    ("/audit", "Audit log"),
    ("/policies", "Policies"),
    ("/transparency", "Transparency"),
)

__all__ = ["NAV", "PAGES"]
