"""Telling maintainers: e-mail over SMTP (``aiosmtplib``) and HMAC-signed webhooks (httpx).

Messages carry no embargoed detail: only the case id, product, deadline and the maintainer's
tokenised link, through which the details are read (and each read recorded). A mail server
or webhook log that leaks therefore leaks a link that expires, is refused after use
by the action it carries, and whose every view is on the case's timeline.

Webhook signature, modelled on Stripe's and GitHub's: header
``Enclave-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``. The
timestamp is inside the MAC so a captured delivery cannot be replayed later than
``tolerance`` (default 5 minutes); receivers compare with ``hmac.compare_digest``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Any, ClassVar, Protocol

import aiosmtplib
import httpx

from enclave.config.disclosure import DisclosureConfig
from enclave.disclosure.interface import DisclosureError
from enclave.events import canonical_json

SIGNATURE_HEADER = "Enclave-Signature"
TOKEN_PREFIX = "edl_"


class DeliveryFailed(DisclosureError):
    code = "delivery_failed"
    status = 502
    exit_code = 1


class BadSignature(DisclosureError):
    code = "bad_signature"
    status = 401
    exit_code = 3


@dataclass(frozen=True, slots=True)
class Notice:
    """One message to one participant."""

    case_id: str
    kind: str  # "notification", "reminder", "published"
    subject: str
    text: str
    email: str | None
    webhook_url: str | None
    webhook_secret: bytes | None
    payload: dict[str, Any]


class Notifier(Protocol):
    async def deliver(self, notice: Notice) -> list[str]:
        """Send; return the channels used ("email", "webhook"); raise DeliveryFailed."""
        ...


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def sign(secret: bytes, body: bytes, at: datetime) -> str:
    stamp = int(at.timestamp())
    mac = hmac.new(secret, f"{stamp}.".encode("ascii") + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={mac}"


def verify(secret: bytes, body: bytes, header: str, now: datetime, tolerance: float = 300) -> None:
    """Raise BadSignature unless ``header`` signs ``body`` with ``secret`` recently."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        stamp = int(fields["t"])
        given = fields["v1"]
    except (KeyError, ValueError):
        raise BadSignature(f"malformed {SIGNATURE_HEADER} header") from None
    if abs(now.timestamp() - stamp) > tolerance:
        raise BadSignature("webhook signature timestamp outside the tolerance window")
    want = hmac.new(secret, f"{stamp}.".encode("ascii") + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, given):
        raise BadSignature("webhook signature does not match the body")


class Delivery:
    """The real notifier: SMTP when configured, webhooks when the participant has one."""

    channels: ClassVar[tuple[str, ...]] = ("email", "webhook")

    def __init__(self, config: DisclosureConfig, *, clock: Any) -> None:
        self._config = config
        self._clock = clock

    async def deliver(self, notice: Notice) -> list[str]:
        used: list[str] = []
        if notice.email and self._config.smtp_host:
            await self._mail(notice)
            used.append("email")
        if notice.webhook_url and notice.webhook_secret:
            await self._webhook(notice)
            used.append("webhook")
        if not used:
            raise DeliveryFailed(
                f"no way to reach a participant of case {notice.case_id}",
                hint="give the maintainer an e-mail (and set disclosure.smtp_host) or a webhook",
            )
        return used

    async def _mail(self, notice: Notice) -> None:
        message = EmailMessage()
        message["From"] = self._config.mail_from
        message["To"] = notice.email
        message["Subject"] = notice.subject
        message.set_content(notice.text)
        password = self._config.smtp_password
        try:
            await aiosmtplib.send(
                message,
                hostname=self._config.smtp_host,
                port=self._config.smtp_port,
                start_tls=self._config.smtp_starttls,
                username=self._config.smtp_username,
                password=password.get_secret_value() if password else None,
                timeout=self._config.webhook_timeout_seconds,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(f"e-mail to {notice.email} failed: {exc}") from None

    async def _webhook(self, notice: Notice) -> None:
        assert notice.webhook_url is not None and notice.webhook_secret is not None
        body = canonical_json(notice.payload)
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(notice.webhook_secret, body, self._clock()),
        }
        try:
            async with httpx.AsyncClient(timeout=self._config.webhook_timeout_seconds) as client:
                response = await client.post(notice.webhook_url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"webhook {notice.webhook_url} failed: {exc}") from None
        if response.status_code >= 300:
            raise DeliveryFailed(f"webhook {notice.webhook_url} answered {response.status_code}")


__all__ = [
    "SIGNATURE_HEADER",
    "BadSignature",
    "Delivery",
    "DeliveryFailed",
    "Notice",
    "Notifier",
    "new_token",
    "sign",
    "token_hash",
    "verify",
]
