"""Policy: Cedar policies from a directory, decisions with advice, the subtraction table."""

from enclave.policy.entities import ACTIONS, CONTEXT_DEFAULTS, Facts, PolicyInputError, Subject
from enclave.policy.interface import (
    Advice,
    Explanation,
    PolicyDecision,
    PolicyError,
    PolicyInfo,
    PolicyRequest,
    PolicySetInfo,
    ScoreBand,
    SubtractionRow,
    SubtractionTable,
)
from enclave.policy.loader import default_directory, schema_text
from enclave.policy.reload import (
    ReloadHook,
    install_sighup_reload,
    read_status,
    reload_and_record,
    signal_server,
)
from enclave.policy.service import PolicyEngine
from enclave.policy.table import DEFAULT_CATEGORIES

__all__ = [
    "ACTIONS",
    "CONTEXT_DEFAULTS",
    "DEFAULT_CATEGORIES",
    "Advice",
    "Explanation",
    "Facts",
    "PolicyDecision",
    "PolicyEngine",
    "PolicyError",
    "PolicyInfo",
    "PolicyInputError",
    "PolicyRequest",
    "PolicySetInfo",
    "ReloadHook",
    "ScoreBand",
    "Subject",
    "SubtractionRow",
    "SubtractionTable",
    "default_directory",
    "install_sighup_reload",
    "read_status",
    "reload_and_record",
    "schema_text",
    "signal_server",
]
