"""What every console page uses: the services, the signed-in operator, forms with their
CSRF check and confirmation, rendering, redirects.

A page module holds an ``APIRouter`` named ``router``; its GET routes take ``who: Who``
(the signed-in operator; no session -> the sign-in page) and its POST routes take
``form: Posted`` (the same, plus the form, whose CSRF token was checked before the route
runs). Routes are plain ``def``: the services are synchronous and run in the threadpool.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment
from markupsafe import Markup
from starlette.datastructures import FormData

from enclave.config import Settings
from enclave.console.accounts import ConsoleAccounts, SignedIn
from enclave.errors import ConfigError, InputError
from enclave.monitor import MonitorService
from enclave.registry import Operator, RegistryService

PREFIX = "/console"
COOKIE = "enclave_console"
CSRF_FIELD = "csrf"
CONFIRM_FIELD = "confirm"
MAX_FIELD = 10_000


@dataclass(frozen=True)
class Console:
    """The services and settings the pages use; ``extra`` holds services later pages add
    (credits, disclosure, audit log), keyed by name."""

    settings: Settings
    registry: RegistryService
    monitor: MonitorService
    accounts: ConsoleAccounts
    templates: Environment
    extra: Mapping[str, Any] = field(default_factory=dict)


def console(request: Request) -> Console:
    found = request.app.state.console
    assert isinstance(found, Console)
    return found


def signed_in(request: Request) -> SignedIn:
    """The request's console session, or SignInRequired (a redirect to sign in)."""
    return console(request).accounts.resolve(request.cookies.get(COOKIE))


Who = Annotated[SignedIn, Depends(signed_in)]

S = TypeVar("S")


def extra(request: Request, name: str, kind: type[S], what: str) -> S:
    """The service a later page added to ``Console.extra`` under ``name``; a ConfigError
    when this console was started without it (``what`` names it in the message)."""
    found = console(request).extra.get(name)
    if not isinstance(found, kind):
        raise ConfigError(f"this console was started without {what}")
    return found


@dataclass(frozen=True)
class Form:
    """A posted form whose CSRF token has been checked."""

    who: SignedIn
    data: FormData

    @property
    def actor(self) -> Operator:
        return self.who.operator

    def text(self, name: str, *, required: bool = True, limit: int = MAX_FIELD) -> str:
        value = self.data.get(name)
        if value is None or not isinstance(value, str):
            value = ""
        value = value.strip()
        if required and not value:
            raise InputError(f"{name} is required", hint="fill it in and submit again")
        if len(value) > limit:
            raise InputError(f"{name} is longer than {limit} characters")
        return value

    def texts(self, name: str) -> list[str]:
        return [v.strip() for v in self.data.getlist(name) if isinstance(v, str) and v.strip()]

    def choice(self, name: str, allowed: tuple[str, ...]) -> str:
        value = self.text(name)
        if value not in allowed:
            raise InputError(f"{name} must be one of {', '.join(allowed)}, not {value[:40]!r}")
        return value

    def flag(self, name: str) -> bool:
        return self.data.get(name) in ("yes", "on", "true", "1")

    def require_confirmed(self) -> None:
        """Destructive actions: the form's "I confirm" box must be ticked."""
        if self.data.get(CONFIRM_FIELD) != "yes":
            raise InputError(
                "this action needs confirmation; nothing was changed",
                hint="tick the 'I confirm' box and submit again",
            )


async def posted(request: Request, who: Who) -> Form:
    data = await request.form()
    sent = data.get(CSRF_FIELD)
    who.check_csrf(sent if isinstance(sent, str) else None)
    return Form(who, data)


Posted = Annotated[Form, Depends(posted)]


def when(value: datetime | None) -> Markup:
    """A time as UTC text in a <time> element; console.js shows it in the viewer's zone
    and keeps UTC in the title (hover)."""
    if value is None:
        return Markup("<span class='none'>-</span>")
    utc = value.astimezone(UTC)
    text = utc.strftime("%Y-%m-%d %H:%M UTC")
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        utc.isoformat().replace("+00:00", "Z"), utc.strftime("%Y-%m-%d %H:%M:%S UTC"), text
    )


# Messages a redirect may ask the next page to show (?done=<code>): fixed texts, so a
# crafted link cannot put words in the console's mouth.
NOTICES: dict[str, str] = {
    "signed-out": "Signed out.",
    "decided": "Decision recorded.",
    "key-revoked": "Key revoked.",
    "session-held": "Session held: its tool calls wait for an operator.",
    "session-released": "Session released.",
    "session-terminated": "Session terminated.",
    "alert-acked": "Alert acknowledged.",
    "alert-resolved": "Alert resolved.",
    "credits-funded": "Pool funded.",
    "credits-granted": "Credits granted.",
    "case-grace": "Grace period granted: the deadline moved.",
    "case-closed": "Case closed.",
    "report-published": "Transparency report published: it is public at /transparency.",
    "report-opt-in": "The organisation is now named in public transparency reports.",
    "report-opt-out": "The organisation is no longer named in public transparency reports.",
}


def render(
    request: Request,
    template: str,
    who: SignedIn | None,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    env = console(request).templates
    done = request.query_params.get("done", "")
    html = env.get_template(template).render(
        request=request,
        me=who.operator if who else None,
        csrf=who.csrf if who else "",
        notice=NOTICES.get(done, ""),
        prefix=PREFIX,
        path=request.url.path,
        **context,
    )
    return HTMLResponse(html, status_code=status_code)


def redirect(path: str, *, done: str = "", **params: str) -> RedirectResponse:
    """303 See Other to a console path after a POST (RFC 9110 §15.4.4: the next
    request is a GET, so a reload does not repeat the action)."""
    assert path.startswith("/"), path
    assert not done or done in NOTICES, done
    query = {**params, **({"done": done} if done else {})}
    suffix = ("?" + urlencode(query)) if query else ""
    return RedirectResponse(PREFIX + path + suffix, status_code=303)


__all__ = [
    "COOKIE",
    "NOTICES",
    "PREFIX",
    "Console",
    "Form",
    "Posted",
    "Who",
    "console",
    "extra",
    "posted",
    "redirect",
    "render",
    "signed_in",
    "when",
]
