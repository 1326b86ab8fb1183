"""Operator passwords and console sessions: the only place they change.

Threat model. The cookie value is 256 random bits; the database holds its SHA-256 only,
so a read of the ``console_sessions`` table signs nobody in. The CSRF token is derived
from the cookie (HMAC-SHA256 keyed by it), so it never needs storing in clear either: the
table keeps its digest and a POST must carry the token that only a holder of the cookie
can compute. Passwords are argon2id hashes (argon2-cffi defaults: RFC 9106's second
recommended profile, 64 MiB, 3 passes). An unknown name or an operator without a password
is verified against a dummy hash, so the answer takes as long as a wrong password and does
not say which names exist.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from enclave.clock import Clock, utcnow
from enclave.console.interface import (
    ConsoleError,
    CsrfRejected,
    PasswordRefused,
    SignInFailed,
    SignInRequired,
    SignInThrottled,
)
from enclave.console.throttle import FailureThrottle
from enclave.events import Event
from enclave.registry import Operator, Role, RoleDenied, UnknownEntity
from enclave.store.console_repo import ConsoleSession, SqlConsoleStore

MIN_PASSWORD = 12
MAX_PASSWORD = 1024  # argon2 hashes any length; a bound keeps a request's cost bounded
_CSRF_LABEL = b"enclave-console-csrf-v1"


def digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def csrf_token(cookie: str) -> str:
    return hmac.new(cookie.encode("utf-8"), _CSRF_LABEL, hashlib.sha256).hexdigest()


def _dummy_hash(hasher: PasswordHasher) -> str:
    """A hash of a random password with the hasher's parameters: verifying against it
    costs what verifying a real one does. Made once per process and parameter set (one
    hash costs ~0.1-0.5 s), not once per app built."""
    p = hasher
    return _dummy_for(p.time_cost, p.memory_cost, p.parallelism, p.hash_len, p.salt_len, p.type)


@functools.cache
def _dummy_for(
    time_cost: int, memory_cost: int, parallelism: int, hash_len: int, salt_len: int, kind: Type
) -> str:
    hasher = PasswordHasher(time_cost, memory_cost, parallelism, hash_len, salt_len, type=kind)
    return hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A live console session: who, and the CSRF token its forms carry."""

    operator: Operator
    session: ConsoleSession
    csrf: str

    def check_csrf(self, sent: str | None) -> None:
        if not sent or not hmac.compare_digest(digest(sent), self.session.csrf_digest):
            raise CsrfRejected(
                "the form's CSRF token is missing or wrong; nothing was changed",
                hint="reload the page and submit the form again",
            )


@dataclass(frozen=True, slots=True)
class NewSession:
    cookie: str  # set once in the response, never stored
    signed: SignedIn


class ConsoleAccounts:
    def __init__(
        self,
        *,
        store: SqlConsoleStore,
        lifetime: timedelta,
        clock: Clock = utcnow,
        hasher: PasswordHasher | None = None,
        throttle: FailureThrottle | None = None,
    ) -> None:
        self._store = store
        self._throttle = throttle or FailureThrottle()
        self._lifetime = lifetime
        self._clock = clock
        self._hasher = hasher or PasswordHasher()
        self._dummy = _dummy_hash(self._hasher)

    @property
    def lifetime(self) -> timedelta:
        return self._lifetime

    # -- passwords -----------------------------------------------------------------

    def set_password(self, actor: Operator, name: str, password: str) -> Operator:
        """Set an operator's console password (an admin for anyone, an operator for
        itself); the operator's live console sessions end."""
        if actor.disabled_at is not None:
            raise RoleDenied(f"operator {actor.name} is disabled")
        if len(password) < MIN_PASSWORD:
            raise PasswordRefused(f"a password needs at least {MIN_PASSWORD} characters")
        if len(password) > MAX_PASSWORD:
            raise PasswordRefused(f"a password has at most {MAX_PASSWORD} characters")
        hashed = self._hasher.hash(password)
        now = self._clock()
        with self._store.unit() as unit:
            target = unit.get_operator_by_name(name)
            if target is None:
                raise UnknownEntity(
                    f"unknown operator {name!r}", hint="list them with `enclave operator list`"
                )
            if target.id != actor.id and Role.ADMIN not in actor.roles:
                raise RoleDenied(
                    f"setting another operator's password needs role admin; {actor.name} "
                    "may set only its own"
                )
            unit.set_password_hash(target.id, hashed, now)
            ended = unit.end_sessions_of(target.id, now)
            unit.append(
                Event(
                    "operator.password_set",
                    f"operator:{actor.id}",
                    target.id,
                    now,
                    {"sessions_ended": ended},
                )
            )
        return target

    # -- sessions --------------------------------------------------------------------

    def sign_in(self, name: str, password: str, *, source: str = "") -> NewSession:
        """Check a name and password; ``source`` is the client's address, whose failures
        are counted (FailureThrottle: past the limit, SignInThrottled, without a check)."""
        now = self._clock()
        self._throttle.check(source, now)
        name = name.strip()
        with self._store.reader() as unit:
            op = unit.get_operator_by_name(name) if 0 < len(name) <= 200 else None
            stored = unit.get_password_hash(op.id) if op is not None else None
        # Always one verification, so that the time taken does not tell the cases apart.
        ok = self._verify(stored or self._dummy, password[:MAX_PASSWORD])
        ok = ok and len(password) <= MAX_PASSWORD
        if op is None or stored is None or not ok:
            reason = (
                "unknown operator"
                if op is None
                else "no password set"
                if stored is None
                else "wrong password"
            )
            self._failed(op, reason, now, source)
            raise SignInFailed("wrong operator name or password")
        if op.disabled_at is not None:
            self._failed(op, "operator disabled", now, source)
            raise SignInFailed(f"operator {op.name} is disabled")
        cookie = secrets.token_urlsafe(32)
        session = ConsoleSession(
            digest=digest(cookie),
            operator_id=op.id,
            csrf_digest=digest(csrf_token(cookie)),
            created_at=now,
            expires_at=now + self._lifetime,
        )
        with self._store.unit() as unit:
            unit.insert_session(session)
            if self._hasher.check_needs_rehash(stored):  # the parameters were raised
                unit.set_password_hash(op.id, self._hasher.hash(password), now)
            unit.append(
                Event(
                    "console.signin",
                    f"operator:{op.id}",
                    op.id,
                    now,
                    {"expires_at": session.expires_at.isoformat()},
                )
            )
        return NewSession(cookie=cookie, signed=SignedIn(op, session, csrf_token(cookie)))

    def _verify(self, hashed: str, password: str) -> bool:
        try:
            return self._hasher.verify(hashed, password)
        except (VerificationError, InvalidHashError):
            return False

    def _failed(self, op: Operator | None, reason: str, now: datetime, source: str) -> None:
        self._throttle.failed(source, now)
        # The name typed is not recorded for an unknown operator: it may be a password
        # typed into the wrong field (events are never to carry secrets).
        with self._store.unit() as unit:
            unit.append(
                Event(
                    "console.signin_failed",
                    "system:console",
                    op.id if op is not None else "",
                    now,
                    {"reason": reason},
                )
            )

    def resolve(self, cookie: str | None) -> SignedIn:
        """The live session a cookie names, with its operator re-read (a disabled
        operator or a changed role applies on the next request)."""
        required = SignInRequired("sign in to use the console")
        if not cookie or len(cookie) > 200:
            raise required
        now = self._clock()
        with self._store.reader() as unit:
            session = unit.get_session(digest(cookie))
            op = unit.get_operator(session.operator_id) if session is not None else None
        if session is None or op is None or not session.live(now):
            raise required
        if op.disabled_at is not None:
            self._end(session, op, now, "operator disabled")
            raise required
        return SignedIn(op, session, csrf_token(cookie))

    def sign_out(self, signed: SignedIn) -> None:
        self._end(signed.session, signed.operator, self._clock(), "signed out")

    def _end(self, session: ConsoleSession, op: Operator, now: datetime, reason: str) -> None:
        with self._store.unit() as unit:
            current = unit.get_session(session.digest)
            if current is None or current.ended_at is not None:
                return
            unit.end_session(session.digest, now)
            unit.append(
                Event("console.signout", f"operator:{op.id}", op.id, now, {"reason": reason})
            )


__all__ = [
    "MIN_PASSWORD",
    "SignInThrottled",
    "ConsoleAccounts",
    "ConsoleError",
    "CsrfRejected",
    "NewSession",
    "PasswordRefused",
    "SignInFailed",
    "SignInRequired",
    "SignedIn",
    "csrf_token",
    "digest",
]
