"""The one error tree of Enclave.

Every error a user can cause or meet derives from :class:`EnclaveError`, carries a
stable machine-readable ``code`` and a human ``diagnostics()`` hint, and is mapped to a
response in exactly one place per interface (the admin API's problem+json handler, the
client APIs' native error objects, the CLI's single ``except EnclaveError``)::

    EnclaveError
    ├── ConfigError            invalid settings, tier table or file (exit code 2)
    ├── InputError             malformed or out-of-range input from a caller (400/422)
    ├── AuthError              no, unknown, expired or revoked credential (401)
    ├── PermissionDenied       credential valid but its role may not do this (403)
    ├── NotFound               the named thing does not exist (404)
    ├── Conflict               the request contradicts current state (409)
    └── StoreError             the database failed or is not initialised (503)

Domain packages subclass these (``RegistryError`` and friends) so that callers can catch
by domain or by kind.
"""

from __future__ import annotations

from typing import ClassVar


class EnclaveError(Exception):
    """Base of every error Enclave raises on purpose."""

    code: ClassVar[str] = "enclave_error"
    status: ClassVar[int] = 500
    exit_code: ClassVar[int] = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def diagnostics(self) -> str:
        """The message plus, when known, what the user can do about it."""
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class ConfigError(EnclaveError):
    code = "config_invalid"
    status = 500
    exit_code = 2


class InputError(EnclaveError):
    code = "invalid_input"
    status = 400
    exit_code = 2


class AuthError(EnclaveError):
    code = "unauthenticated"
    status = 401
    exit_code = 3


class PermissionDenied(EnclaveError):
    code = "forbidden"
    status = 403
    exit_code = 3


class NotFound(EnclaveError):
    code = "not_found"
    status = 404
    exit_code = 4


class Conflict(EnclaveError):
    code = "conflict"
    status = 409
    exit_code = 5


class StoreError(EnclaveError):
    code = "store_unavailable"
    status = 503
    exit_code = 6


__all__ = [
    "AuthError",
    "ConfigError",
    "Conflict",
    "EnclaveError",
    "InputError",
    "NotFound",
    "PermissionDenied",
    "StoreError",
]
