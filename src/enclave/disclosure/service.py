"""DisclosureService: findings in, advisories out.

Every state change appends its Event in the same unit of work as the change; the case's
timeline is the events whose subject is the case id. Events carry ids, states, dates and
reasons, never descriptions, proofs of concept, tokens or webhook secrets.
"""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import datetime
from typing import Any

from enclave.clock import Clock, utcnow
from enclave.config.disclosure import DisclosureConfig
from enclave.disclosure import deadlines, transitions
from enclave.disclosure.cases import (
    advance,
    all_resolved,
    close,
    new_id,
    require_open,
    text_field,
)
from enclave.disclosure.crypto import Sealer
from enclave.disclosure.export import (
    SHIPPED_SCHEMAS,
    Published,
    Validators,
    csaf_document,
    osv_record,
)
from enclave.disclosure.findings import fingerprint, parse_cwe, parse_purl, score_cvss4
from enclave.disclosure.interface import (
    CLOSED,
    Case,
    CaseConflict,
    CaseId,
    CaseState,
    Details,
    DisclosureInputError,
    DisclosureStore,
    DisclosureUnit,
    Finding,
    FindingId,
    FindingInput,
    IssuedLink,
    Overview,
    Participant,
    ParticipantId,
    ParticipantRole,
    Reminder,
    Submitted,
    UnknownCase,
    VendorStatus,
)
from enclave.disclosure.links import MaintainerLinks
from enclave.disclosure.notify import Notifier
from enclave.events import Event, StoredEvent
from enclave.registry import Operator, Role
from enclave.registry.service import READ_ROLES, require

# Who may do what. Submitting and triage: admin or reviewer; coordination (notify, extend,
# publish, contacts): admin; reading embargoed details: admin only (an auditor sees the
# timeline and metadata, never a description or PoC).
SUBMIT_ROLES = frozenset({Role.ADMIN, Role.REVIEWER})
COORDINATE_ROLES = frozenset({Role.ADMIN})
DETAIL_ROLES = frozenset({Role.ADMIN})

_MAX_TEXT = 100_000


class DisclosureService:
    def __init__(
        self,
        *,
        store: DisclosureStore,
        sealer: Sealer,
        config: DisclosureConfig,
        notifier: Notifier,
        validators: Validators | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self._store = store
        self._sealer = sealer
        self._config = config
        self._notifier = notifier
        self._validators = validators
        self._clock = clock
        self.links = MaintainerLinks(self, store=store, sealer=sealer, config=config, clock=clock)
        self.policy = deadlines.DeadlinePolicy(
            disclosure_days=config.disclosure_days,
            fix_adoption_days=config.fix_adoption_days,
            in_the_wild_days=config.in_the_wild_days,
            grace_days=config.grace_days,
        )

    def now(self) -> datetime:
        return self._clock()

    @property
    def max_poc_bytes(self) -> int:
        return self._config.max_poc_bytes

    # -- findings ---------------------------------------------------------------------

    def submit(self, actor: Operator, data: FindingInput) -> Submitted:
        """Record a finding. A finding with the same package, CWE and location fingerprint
        as an earlier one joins that one's case as a duplicate (crediting its reporter)
        instead of opening a second case."""
        require(actor, SUBMIT_ROLES, "submitting a finding")
        package = parse_purl(data.purl)
        cwe = parse_cwe(data.cwe)
        cvss = score_cvss4(data.cvss_vector)
        title = text_field(data.title, "title")
        location = text_field(data.location, "location", 2000)
        description = text_field(data.description, "description", _MAX_TEXT)
        org = text_field(data.reporting_org, "reporting organisation", 200)
        versions = tuple(text_field(v, "version", 200) for v in data.versions)
        if not versions:
            raise DisclosureInputError("at least one affected version is required")
        poc_size = len(data.poc or b"")
        if poc_size > self._config.max_poc_bytes:
            raise DisclosureInputError(
                f"proof of concept is {poc_size} bytes; the limit is {self._config.max_poc_bytes}",
                hint="attach a smaller reproducer (disclosure.max_poc_bytes)",
            )
        now = self._clock()
        finding_id = FindingId(new_id("fnd"))
        fp = fingerprint(package, cwe, location)
        with self._store.unit() as unit:
            original = unit.find_by_fingerprint(fp)
            if original is not None:
                case = transitions.get_case(unit, original.case_id)
            else:
                case = Case(
                    id=CaseId(new_id("case")),
                    title=title,
                    product=package.purl,
                    state=CaseState.TRIAGE,
                    created_at=now,
                    updated_at=now,
                )
                unit.insert_case(case)
                transitions.add_participant(unit, case.id, ParticipantRole.REPORTER, org, now)
                transitions.add_participant(
                    unit, case.id, ParticipantRole.COORDINATOR, self._config.publisher_name, now
                )
            finding = Finding(
                id=finding_id,
                case_id=case.id,
                title=title,
                purl=data.purl.strip(),
                versions=versions,
                location=location,
                cwe=cwe,
                cvss=cvss,
                fingerprint=fp,
                reporting_org=org,
                session_id=data.session_id,
                description=self._sealer.seal(description.encode(), f"finding:{finding_id}:d"),
                poc=self._sealer.seal(data.poc, f"finding:{finding_id}:poc") if data.poc else None,
                poc_name=(data.poc_name or "poc")[:200] if data.poc else None,
                poc_size=poc_size,
                created_at=now,
                duplicate_of=original.id if original else None,
            )
            unit.insert_finding(finding)
            if original is None:
                unit.append(self._event("case.opened", actor, case.id, now, state=case.state.value))
            else:
                for vendor in transitions.vendors(unit, case.id):
                    transitions.set_status(
                        unit, case.id, vendor.id, finding.id, VendorStatus.UNKNOWN, now
                    )
            unit.append(
                self._event(
                    "finding.duplicate" if original else "finding.submitted",
                    actor,
                    case.id,
                    now,
                    finding=finding.id,
                    duplicate_of=original.id if original else None,
                    # Only what the public page may show: the audit log serves events to
                    # anyone, so no CWE, score, location or title here before publication.
                    purl=package.purl,
                    org=org,
                    session=data.session_id,
                    poc_bytes=poc_size,
                )
            )
        return Submitted(finding=finding, case=case, duplicate_of=finding.duplicate_of)

    def list_findings(self, actor: Operator, *, case_id: str | None = None) -> list[Finding]:
        require(actor, READ_ROLES, "listing findings")
        with self._store.reader() as unit:
            return unit.list_findings(case_id=CaseId(case_id) if case_id else None)

    def get_finding(self, actor: Operator, finding_id: str) -> Finding:
        require(actor, READ_ROLES, "reading a finding")
        with self._store.reader() as unit:
            found = unit.get_finding(FindingId(finding_id))
        if found is None:
            raise UnknownCase(f"no finding {finding_id!r}")
        return found

    # -- cases ------------------------------------------------------------------------

    def list_cases(self, actor: Operator, *, state: CaseState | None = None) -> list[Case]:
        require(actor, READ_ROLES, "listing cases")
        with self._store.reader() as unit:
            return unit.list_cases(state=state)

    def overview(self, actor: Operator, case_id: str) -> Overview:
        require(actor, READ_ROLES, "reading a case")
        with self._store.reader() as unit:
            return self.load_overview(unit, CaseId(case_id))

    def timeline(self, actor: Operator, case_id: str) -> list[StoredEvent]:
        """The case's events. For admins, maintainers' sealed notes are decrypted (and that
        read recorded); other roles see them still sealed."""
        require(actor, READ_ROLES, "reading a case's timeline")
        with self._store.reader() as unit:
            transitions.get_case(unit, CaseId(case_id))
            stored = unit.list_events(subject=case_id, limit=10_000)
        sealed = [e for e in stored if "note_sealed" in e.event.data]
        if not sealed or not actor.roles & DETAIL_ROLES or actor.disabled_at is not None:
            return stored
        with self._store.unit() as unit:
            unit.append(
                self._event("case.details_read", actor, case_id, self._clock(), notes=len(sealed))
            )
        return [self._open_note(e, case_id) for e in stored]

    def _open_note(self, stored: StoredEvent, case_id: str) -> StoredEvent:
        data = dict(stored.event.data)
        blob = data.pop("note_sealed", None)
        if not isinstance(blob, str):
            return stored
        data["note"] = self._sealer.open(base64.b64decode(blob), f"event:{case_id}:note").decode()
        return replace(stored, event=replace(stored.event, data=data))

    def details(self, actor: Operator, case_id: str) -> Details:
        """Decrypt a case's descriptions and PoCs; the read is recorded (who, when)."""
        require(actor, DETAIL_ROLES, "reading embargoed case details")
        now = self._clock()
        with self._store.unit() as unit:
            overview = self.load_overview(unit, CaseId(case_id))
            unit.append(self._event("case.details_read", actor, case_id, now))
        return self.decrypt(overview)

    def add_vendor(
        self,
        actor: Operator,
        case_id: str,
        *,
        name: str,
        email: str | None = None,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
    ) -> Participant:
        """Add a maintainer or vendor, with how to reach them (from the asset registry's
        security contact, or entered by the coordinator)."""
        require(actor, COORDINATE_ROLES, "adding a maintainer to a case")
        label = text_field(name, "maintainer name", 200)
        if email is not None and ("@" not in email or len(email) > 320 or " " in email.strip()):
            raise DisclosureInputError(f"not an e-mail address: {email!r}")
        if webhook_url is not None and not webhook_url.startswith(("https://", "http://")):
            raise DisclosureInputError(f"webhook URL must be http(s): {webhook_url!r}")
        if webhook_url is not None and (webhook_secret is None or len(webhook_secret) < 16):
            raise DisclosureInputError("a webhook needs a shared secret of at least 16 characters")
        if email is None and webhook_url is None:
            raise DisclosureInputError("a maintainer needs an e-mail address or a webhook URL")
        now = self._clock()
        with self._store.unit() as unit:
            case = transitions.get_case(unit, CaseId(case_id))
            require_open(case, "add a maintainer")
            pid = ParticipantId(new_id("ptc"))
            secret = (
                self._sealer.seal(webhook_secret.encode(), f"participant:{pid}:webhook")
                if webhook_secret
                else None
            )
            participant = Participant(
                id=pid,
                case_id=case.id,
                role=ParticipantRole.VENDOR,
                name=label,
                email=email.strip() if email else None,
                webhook_url=webhook_url,
                webhook_secret=secret,
                created_at=now,
            )
            unit.insert_participant(participant)
            for finding in unit.list_findings(case_id=case.id):
                transitions.set_status(unit, case.id, pid, finding.id, VendorStatus.UNKNOWN, now)
            unit.append(
                self._event(
                    "case.participant_added",
                    actor,
                    case.id,
                    now,
                    participant=pid,
                    role="vendor",
                    name=label,
                )
            )
        return participant

    async def notify(self, actor: Operator, case_id: str) -> list[IssuedLink]:
        """Send every maintainer a link; on the first notification the case moves to
        `notified` and its deadline starts. Messages go out before the commit: if one fails
        nothing is recorded and the command can be repeated."""
        require(actor, COORDINATE_ROLES, "notifying maintainers")
        now = self._clock()
        with self._store.reader() as unit:
            case = transitions.get_case(unit, CaseId(case_id))
            require_open(case, "notify maintainers")
            vendors = transitions.vendors(unit, case.id)
        if not vendors:
            raise CaseConflict(
                f"case {case_id} has no maintainer to notify",
                hint="add one with `enclave cases notify --maintainer NAME --email ADDR`",
            )
        first = case.notified_at is None
        when = (
            deadlines.base_deadline(self.policy, now, exploited=case.exploited)
            if first
            else case.deadline
        )
        issued = [self.links.issue(v, now) for v in vendors]
        channels: dict[str, list[str]] = {}
        for link, _row in issued:
            channels[link.participant.id] = await self._notifier.deliver(
                self.links.notice(case, link, "notification", when)
            )
        with self._store.unit() as unit:
            current = transitions.get_case(unit, case.id)
            require_open(current, "notify maintainers")
            unit.insert_links([row for _, row in issued])
            if first:
                updated = replace(
                    advance(current, CaseState.NOTIFIED, now), notified_at=now, deadline=when
                )
                unit.update_case(updated)
                unit.append(
                    self._event(
                        "case.deadline_changed",
                        actor,
                        case.id,
                        now,
                        old=None,
                        new=when,
                        reason="maintainers notified",
                    )
                )
            for link, _ in issued:
                unit.append(
                    self._event(
                        "case.notified",
                        actor,
                        case.id,
                        now,
                        participant=link.participant.id,
                        channels=channels[link.participant.id],
                        link_expires=link.expires_at,
                    )
                )
        return [link for link, _ in issued]

    def issue_link(self, actor: Operator, case_id: str, participant_id: str) -> IssuedLink:
        """A fresh link for one participant (e.g. after theirs expired), shown to the
        coordinator to pass on."""
        require(actor, COORDINATE_ROLES, "issuing a maintainer link")
        now = self._clock()
        with self._store.unit() as unit:
            case = transitions.get_case(unit, CaseId(case_id))
            found = [p for p in unit.list_participants(case.id) if p.id == participant_id]
            if not found:
                raise UnknownCase(f"case {case_id} has no participant {participant_id!r}")
            link, row = self.links.issue(found[0], now)
            unit.insert_links([row])
            unit.append(
                self._event(
                    "case.link_issued",
                    actor,
                    case.id,
                    now,
                    participant=participant_id,
                    link_expires=link.expires_at,
                )
            )
        return link

    def set_status(
        self,
        actor: Operator,
        case_id: str,
        participant_id: str,
        status: VendorStatus,
        *,
        finding_id: str | None = None,
        fixed_version: str | None = None,
    ) -> Case:
        require(actor, COORDINATE_ROLES, "setting a maintainer's status")
        with self._store.unit() as unit:
            return transitions.apply_status(
                self.policy,
                unit,
                self._actor(actor),
                CaseId(case_id),
                ParticipantId(participant_id),
                status,
                finding_id=FindingId(finding_id) if finding_id else None,
                fixed_version=fixed_version,
                now=self._clock(),
            )

    def extend(
        self,
        actor: Operator,
        case_id: str,
        *,
        reason: str,
        grace: bool = False,
        until: datetime | None = None,
        exploited: bool = False,
    ) -> Case:
        """Change a deadline, with its reason recorded: the policy's grace period, an
        explicit date, or the in-the-wild rule."""
        require(actor, COORDINATE_ROLES, "changing a deadline")
        why = text_field(reason, "reason", 2000)
        if sum([grace, until is not None, exploited]) != 1:
            raise DisclosureInputError("give exactly one of --grace, --until DATE, --exploited")
        with self._store.unit() as unit:
            return transitions.change_deadline(
                self.policy,
                unit,
                self._actor(actor),
                CaseId(case_id),
                why,
                grace=grace,
                until=until,
                exploited=exploited,
                now=self._clock(),
            )

    def close(self, actor: Operator, case_id: str, state: CaseState, *, reason: str) -> Case:
        require(actor, COORDINATE_ROLES, "closing a case")
        why = text_field(reason, "reason", 2000)
        now = self._clock()
        with self._store.unit() as unit:
            case = transitions.get_case(unit, CaseId(case_id))
            updated = close(case, state, now)
            unit.update_case(updated)
            unit.append(
                self._event(
                    "case.state_changed",
                    actor,
                    case.id,
                    now,
                    old=case.state.value,
                    new=state.value,
                    reason=why,
                )
            )
        return updated

    def publish(self, actor: Operator, case_id: str, *, early_reason: str | None = None) -> Case:
        """Disclose: build OSV and CSAF, validate both, store them, open the public page.
        Before the deadline only with a reason and when every maintainer has answered
        every finding with fixed or not-affected."""
        require(actor, COORDINATE_ROLES, "publishing a case")
        now = self._clock()
        validators = self._validators_loaded()
        with self._store.unit() as unit:
            case = transitions.get_case(unit, CaseId(case_id))
            require_open(case, "publish it")
            if case.deadline is None:
                raise CaseConflict(f"case {case_id} was never notified; it has no deadline")
            if now < case.deadline:
                if early_reason is None:
                    raise CaseConflict(
                        f"case {case_id} is embargoed until {case.deadline.isoformat()}",
                        hint="publish early only with --early REASON once every maintainer "
                        "has marked each finding fixed or not-affected",
                    )
                if not all_resolved(unit.list_statuses(case.id)):
                    raise CaseConflict(
                        f"case {case_id}: not every maintainer has fixed or "
                        "ruled out every finding; it stays embargoed"
                    )
            published = replace(advance(case, CaseState.DISCLOSED, now), published_at=now)
            overview = self.load_overview(unit, case.id)
            osv, csaf = self._advisories(replace(overview, case=published), now)
            validators.check(osv, csaf)
            final = replace(
                published,
                osv=json.dumps(osv, sort_keys=True),
                csaf=json.dumps(csaf, sort_keys=True),
            )
            unit.update_case(final)
            unit.append(
                self._event(
                    "case.published",
                    actor,
                    case.id,
                    now,
                    old=case.state.value,
                    deadline=case.deadline,
                    early=early_reason,
                )
            )
        return final

    def export(self, actor: Operator, case_id: str, fmt: str) -> dict[str, Any]:
        """The stored advisory of a disclosed case (``osv`` or ``csaf``)."""
        require(actor, READ_ROLES, "exporting an advisory")
        if fmt not in {"osv", "csaf"}:
            raise DisclosureInputError(f"unknown format {fmt!r}", hint="osv or csaf")
        with self._store.reader() as unit:
            case = transitions.get_case(unit, CaseId(case_id))
        stored = case.osv if fmt == "osv" else case.csaf
        if case.state is not CaseState.DISCLOSED or stored is None:
            raise CaseConflict(f"case {case_id} is not disclosed; nothing to export yet")
        result: dict[str, Any] = json.loads(stored)
        return result

    def public_page(self, case_id: str) -> dict[str, Any]:
        """What anyone may read: before publication only the reporting-transparency facts
        (maintainer, product, date reported, deadline); after, the advisory too."""
        with self._store.reader() as unit:
            case = transitions.get_case(unit, CaseId(case_id))
            vendors = [p.name for p in transitions.vendors(unit, case.id)]
        if case.state in {CaseState.DUPLICATE, CaseState.INVALID, CaseState.WITHDRAWN}:
            raise UnknownCase(f"no public case {case_id!r}")
        page: dict[str, Any] = {
            "id": case.id,
            "maintainers": vendors,
            "product": case.product,
            "reported": case.created_at.isoformat(),
            "deadline": case.deadline.isoformat() if case.deadline else None,
            "state": "disclosed" if case.state is CaseState.DISCLOSED else "embargoed",
        }
        if case.state is CaseState.DISCLOSED and case.osv and case.csaf:
            page["title"] = case.title
            page["published"] = case.published_at.isoformat() if case.published_at else None
            page["osv"] = json.loads(case.osv)
            page["csaf"] = json.loads(case.csaf)
        return page

    def due(self, actor: Operator) -> list[Case]:
        """Open, notified cases whose deadline has passed: ready for `publish`."""
        require(actor, READ_ROLES, "listing cases due for publication")
        now = self._clock()
        with self._store.reader() as unit:
            return [
                c
                for c in unit.list_cases()
                if c.state not in CLOSED and c.deadline is not None and c.deadline <= now
            ]

    def remind(self) -> list[Reminder]:
        """The scheduler: raise a reminder for each case whose deadline is within one of
        disclosure.reminder_days, once per window (recorded on the case)."""
        now = self._clock()
        raised: list[Reminder] = []
        with self._store.unit() as unit:
            for case in unit.list_cases():
                if (
                    case.state
                    in {
                        CaseState.DISCLOSED,
                        CaseState.DUPLICATE,
                        CaseState.INVALID,
                        CaseState.WITHDRAWN,
                    }
                    or case.deadline is None
                ):
                    continue
                days = deadlines.due_reminders(
                    case.deadline, now, self._config.reminder_days, case.reminded_days
                )
                if days is None:
                    continue
                unit.update_case(replace(case, reminded_days=days, updated_at=now))
                unit.append(
                    Event(
                        kind="case.reminder",
                        actor="system",
                        subject=case.id,
                        at=now,
                        data={"days": days, "deadline": case.deadline.isoformat()},
                    )
                )
                raised.append(Reminder(case_id=case.id, days=days, deadline=case.deadline))
        return raised

    # -- maintainer links (no account): enclave.disclosure.links ---------------------

    def link_view(self, case_id: str, token: str) -> dict[str, Any]:
        return self.links.view(case_id, token)

    def link_act(
        self,
        case_id: str,
        token: str,
        action: str,
        *,
        version: str | None = None,
        reason: str | None = None,
    ) -> IssuedLink:
        return self.links.act(case_id, token, action, version=version, reason=reason)

    # -- internals ----------------------------------------------------------------------

    def _advisories(
        self, overview: Overview, now: datetime
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        details = self.decrypt(overview)
        originals = [f for f in overview.findings if f.duplicate_of is None]
        credits = sorted({f.reporting_org for f in overview.findings})
        pub = Published(
            case=overview.case,
            findings=originals,
            descriptions=details.descriptions,
            credits=credits,
            page_url=f"{self._config.public_url.rstrip('/')}/disclosures/{overview.case.id}",
        )
        prefix = self._config.osv_prefix
        return (
            osv_record(pub, prefix=prefix, now=now),
            csaf_document(
                pub,
                publisher=self._config.publisher_name,
                namespace=self._config.publisher_namespace,
                prefix=prefix,
                now=now,
            ),
        )

    def _validators_loaded(self) -> Validators:
        if self._validators is None:
            self._validators = Validators(self._config.schema_dir or SHIPPED_SCHEMAS)
        return self._validators

    def decrypt(self, overview: Overview) -> Details:
        """Plaintext of a case's findings. No role check here: only for callers that have
        authorised the read already (details(), a valid maintainer link, publication)."""
        descriptions = {
            f.id: self._sealer.open(f.description, f"finding:{f.id}:d").decode()
            for f in overview.findings
        }
        pocs = {
            f.id: self._sealer.open(f.poc, f"finding:{f.id}:poc")
            for f in overview.findings
            if f.poc is not None
        }
        return Details(overview=overview, descriptions=descriptions, pocs=pocs)

    def load_overview(self, unit: DisclosureUnit, case_id: CaseId) -> Overview:
        case = transitions.get_case(unit, case_id)
        return Overview(
            case=case,
            findings=unit.list_findings(case_id=case.id),
            participants=unit.list_participants(case.id),
            statuses=unit.list_statuses(case.id),
        )

    @staticmethod
    def _actor(actor: Operator) -> str:
        return f"operator:{actor.id}"

    def _event(
        self, kind: str, actor: Operator | str, subject: str, at: datetime, **data: Any
    ) -> Event:
        by = actor if isinstance(actor, str) else self._actor(actor)
        clean = {
            k: (v.isoformat() if isinstance(v, datetime) else v)
            for k, v in data.items()
            if v is not None
        }
        return Event(kind=kind, actor=by, subject=subject, at=at, data=clean)


__all__ = [
    "COORDINATE_ROLES",
    "DETAIL_ROLES",
    "SUBMIT_ROLES",
    "DisclosureService",
]
