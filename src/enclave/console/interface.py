"""The console's errors. Each is a kind from enclave.errors, so the error pages give it
its status: a bad password is a 400, a failed sign-in 401, a throttled one 429, a CSRF
failure 403."""

from __future__ import annotations

from enclave.errors import AuthError, EnclaveError, InputError, PermissionDenied


class ConsoleError(EnclaveError):
    code = "console_error"


class PasswordRefused(ConsoleError, InputError):
    code = "password_refused"


class SignInFailed(ConsoleError, AuthError):
    code = "sign_in_failed"


class SignInThrottled(SignInFailed):
    code = "sign_in_throttled"
    status = 429  # RFC 6585 §4


class SignInRequired(ConsoleError, AuthError):
    code = "sign_in_required"


class CsrfRejected(ConsoleError, PermissionDenied):
    code = "csrf_rejected"


__all__ = [
    "ConsoleError",
    "CsrfRejected",
    "PasswordRefused",
    "SignInFailed",
    "SignInRequired",
    "SignInThrottled",
]
