"""Maintainer links: no account, the token in the URL is the credential.

Threat model: links travel by e-mail and webhook and end up in mail logs and browser
history. So only the token's SHA-256 is stored; a link is valid for one case only, expires
(disclosure.link_days), and is used up by the first action taken through it (the answer
carries the next link); every view and action is recorded on the case's timeline.
"""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from enclave.clock import Clock
from enclave.config.disclosure import DisclosureConfig
from enclave.disclosure import transitions
from enclave.disclosure.cases import SIDE_EXITS, advance, new_id, require_open, text_field
from enclave.disclosure.crypto import Sealer
from enclave.disclosure.interface import (
    LINK_ACTIONS,
    Case,
    CaseState,
    DisclosureInputError,
    DisclosureStore,
    DisclosureUnit,
    IssuedLink,
    Link,
    LinkAction,
    LinkId,
    LinkRefused,
    Participant,
    VendorStatus,
)
from enclave.disclosure.notify import Notice, new_token, token_hash
from enclave.events import Event

if TYPE_CHECKING:  # the service owns this desk; imported for types only (no cycle at run time)
    from enclave.disclosure.service import DisclosureService


class MaintainerLinks:
    def __init__(
        self,
        core: DisclosureService,
        *,
        store: DisclosureStore,
        sealer: Sealer,
        config: DisclosureConfig,
        clock: Clock,
    ) -> None:
        self._core = core
        self._store = store
        self._sealer = sealer
        self._config = config
        self._clock = clock

    def view(self, case_id: str, token: str) -> dict[str, Any]:
        """A maintainer's view through their link: the case's details for that maintainer.
        Each view is recorded; the link stays valid for views until used for an action."""
        now = self._clock()
        with self._store.unit() as unit:
            link = self.valid(unit, case_id, token, now)
            overview = self._core.load_overview(unit, link.case_id)
            if overview.case.state in SIDE_EXITS:  # withdrawn, invalid, duplicate: no access
                raise LinkRefused(f"case {case_id} is closed ({overview.case.state.value})")
            unit.append(
                Event(
                    kind="case.details_read",
                    actor=f"link:{link.id}",
                    subject=link.case_id,
                    at=now,
                    data={"participant": link.participant_id},
                )
            )
        details = self._core.decrypt(overview)
        mine = [s for s in overview.statuses if s.participant_id == link.participant_id]
        return {
            "case": overview.case.id,
            "title": overview.case.title,
            "product": overview.case.product,
            "state": overview.case.state.value,
            "deadline": overview.case.deadline.isoformat() if overview.case.deadline else None,
            "expires": link.expires_at.isoformat(),
            "actions": list(LINK_ACTIONS),
            "findings": [
                {
                    "id": f.id,
                    "title": f.title,
                    "purl": f.purl,
                    "versions": list(f.versions),
                    "location": f.location,
                    "cwe": f"CWE-{f.cwe}",
                    "cvss": f.cvss.vector,
                    "score": f.cvss.score,
                    "description": details.descriptions[f.id],
                    "poc_bytes": f.poc_size,
                    "status": next((s.status.value for s in mine if s.finding_id == f.id), None),
                }
                for f in overview.findings
            ],
        }

    def act(
        self,
        case_id: str,
        token: str,
        action: str,
        *,
        version: str | None = None,
        reason: str | None = None,
    ) -> IssuedLink:
        """Acknowledge, ask for an extension, mark fixed (with a version) or dispute. The
        link is used up by the action (a replayed request is refused); the answer carries
        the maintainer's next link."""
        if action not in LINK_ACTIONS:
            raise DisclosureInputError(
                f"unknown action {action!r}", hint=f"one of {', '.join(LINK_ACTIONS)}"
            )
        act: LinkAction = action
        if act == "fixed" and not (version and version.strip()):
            raise DisclosureInputError("marking fixed needs the fixed version")
        if act in {"extension", "dispute"} and not (reason and reason.strip()):
            raise DisclosureInputError(f"{act} needs a reason")
        now = self._clock()
        with self._store.unit() as unit:
            link = self.valid(unit, case_id, token, now)
            if not unit.consume_link(link.id, now):
                raise LinkRefused("this link has already been used")
            by = f"link:{link.id}"
            participant = next(
                p for p in unit.list_participants(link.case_id) if p.id == link.participant_id
            )
            case = transitions.get_case(unit, link.case_id)
            if act == "acknowledge":
                require_open(case, "acknowledge it")
                updated = advance(case, CaseState.ACKNOWLEDGED, now)
                unit.update_case(updated)
                unit.append(
                    Event(
                        kind="case.acknowledged",
                        actor=by,
                        subject=case.id,
                        at=now,
                        data={
                            "participant": participant.id,
                            "old": case.state.value,
                            "new": updated.state.value,
                        },
                    )
                )
            elif act == "fixed":
                for status in unit.list_statuses(case.id):
                    if status.participant_id == participant.id:
                        transitions.apply_status(
                            self._core.policy,
                            unit,
                            by,
                            case.id,
                            participant.id,
                            VendorStatus.FIXED,
                            finding_id=status.finding_id,
                            fixed_version=version,
                            now=now,
                        )
            elif act == "extension":
                transitions.change_deadline(
                    self._core.policy,
                    unit,
                    by,
                    case.id,
                    "grace period requested by the maintainer",
                    grace=True,
                    until=None,
                    exploited=False,
                    now=now,
                )
            else:
                require_open(case, "dispute it")
                unit.append(
                    Event(
                        kind="case.disputed",
                        actor=by,
                        subject=case.id,
                        at=now,
                        data={"participant": participant.id},
                    )
                )
            next_link, row = self.issue(participant, now)
            unit.insert_links([row])
            unit.append(
                Event(
                    kind="case.link_used",
                    actor=by,
                    subject=case.id,
                    at=now,
                    data={
                        "action": act,
                        "participant": participant.id,
                        "next_link_expires": next_link.expires_at.isoformat(),
                        **self._sealed_note(case.id, reason),
                    },
                )
            )
        return next_link

    def _sealed_note(self, case_id: str, reason: str | None) -> dict[str, str]:
        """A maintainer's free text (why an extension, why a dispute) may describe the
        vulnerability, and events are public through the audit log's tiles: so it is stored
        encrypted in the event (readable by admins through the timeline, each read recorded)."""
        if not reason or not reason.strip():
            return {}
        text = text_field(reason, "reason", 2000).encode("utf-8")
        blob = self._sealer.seal(text, f"event:{case_id}:note")
        return {"note_sealed": base64.b64encode(blob).decode("ascii")}

    def valid(self, unit: DisclosureUnit, case_id: str, token: str, now: datetime) -> Link:
        link = unit.get_link(token_hash(token))
        # One refusal for unknown, other-case, expired and used links: the caller learns
        # nothing about which tokens exist (threat model: links leak via mail logs).
        if link is None or link.case_id != case_id:
            raise LinkRefused("this link is not valid")
        if link.used_at is not None:
            raise LinkRefused(
                "this link has already been used",
                hint="use the link from the answer to your last action",
            )
        if now >= link.expires_at:
            raise LinkRefused("this link has expired", hint="ask the coordinator for a new one")
        return link

    def issue(self, participant: Participant, now: datetime) -> tuple[IssuedLink, Link]:
        token = new_token()
        expires = now + timedelta(days=self._config.link_days)
        row = Link(
            id=LinkId(new_id("lnk")),
            token_hash=token_hash(token),
            case_id=participant.case_id,
            participant_id=participant.id,
            created_at=now,
            expires_at=expires,
        )
        base = self._config.public_url.rstrip("/")
        url = f"{base}/disclosure/cases/{participant.case_id}/links/{token}"
        return IssuedLink(participant=participant, token=token, url=url, expires_at=expires), row

    def notice(self, case: Case, link: IssuedLink, kind: str, when: datetime | None) -> Notice:
        p = link.participant
        due = when.isoformat() if when else "not set"
        text = (
            f"{p.name},\n\nA vulnerability report concerning {case.product} has been filed "
            f"with {self._config.publisher_name} (case {case.id}).\n\nThe details are behind "
            f"this private link (valid until {link.expires_at.isoformat()}); every view is "
            f"recorded:\n\n  {link.url}\n\nThrough it you can acknowledge, ask for an "
            f"extension, mark the issue fixed with a version, or dispute it.\n\n"
            f"Disclosure deadline: {due}.\n"
        )
        return Notice(
            case_id=case.id,
            kind=kind,
            subject=f"[{self._config.publisher_name}] Vulnerability report {case.id} "
            f"({case.product})",
            text=text,
            email=p.email,
            webhook_url=p.webhook_url,
            webhook_secret=self._sealer.open(p.webhook_secret, f"participant:{p.id}:webhook")
            if p.webhook_secret
            else None,
            payload={
                "kind": kind,
                "case": case.id,
                "product": case.product,
                "deadline": due,
                "link": link.url,
                "link_expires": link.expires_at.isoformat(),
            },
        )


__all__ = ["MaintainerLinks"]
