"""The operator console: server-rendered pages at /console over the same services as the
admin API (docs/console.md)."""

from enclave.console.accounts import ConsoleAccounts, SignedIn
from enclave.console.app import build_accounts, build_console_app
from enclave.console.framework import PREFIX

__all__ = ["PREFIX", "ConsoleAccounts", "SignedIn", "build_accounts", "build_console_app"]
