"""Registry services: the only place registry state changes, each change with its event."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from enclave.clock import Clock, utcnow
from enclave.config import Settings
from enclave.events import Event, StoredEvent
from enclave.registry import credentials
from enclave.registry.interface import (
    ApiKey,
    Application,
    ApplicationId,
    ApplicationStatus,
    Approval,
    AssetId,
    AssetScope,
    CredentialError,
    Decision,
    Evidence,
    IssuedKey,
    IssuedToken,
    KeyId,
    KeyLimits,
    Operator,
    OperatorId,
    Organisation,
    OrgId,
    OrgKind,
    OrgStatus,
    Principal,
    RegistryConflict,
    RegistryInputError,
    RegistryStore,
    RegistryUnit,
    Role,
    RoleDenied,
    UnknownEntity,
)

READ_ROLES = frozenset({Role.ADMIN, Role.REVIEWER, Role.AUDITOR})
VET_ROLES = frozenset({Role.ADMIN, Role.REVIEWER})
ADMIN_ROLES = frozenset({Role.ADMIN})

_MAX_TEXT = 10_000
NO_LIMITS = KeyLimits()
_MAX_NAME = 200


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


def _text(field: str, value: str, *, required: bool = True, limit: int = _MAX_NAME) -> str:
    cleaned = value.strip()
    if required and not cleaned:
        raise RegistryInputError(f"{field} must not be empty")
    if len(cleaned) > limit:
        raise RegistryInputError(f"{field} is longer than {limit} characters")
    if any(ord(ch) < 32 and ch not in "\n\t" for ch in cleaned):
        raise RegistryInputError(f"{field} contains control characters")
    return cleaned


def require(actor: Operator, allowed: frozenset[Role], action: str) -> None:
    """Least privilege: fail closed unless one of the actor's roles allows the action."""
    if actor.disabled_at is not None:
        raise RoleDenied(f"operator {actor.name} is disabled")
    if not actor.roles & allowed:
        need = " or ".join(sorted(r.value for r in allowed))
        have = ", ".join(sorted(r.value for r in actor.roles)) or "no role"
        raise RoleDenied(f"{action} needs role {need}; {actor.name} has {have}")


class RegistryService:
    def __init__(
        self,
        *,
        store: RegistryStore,
        settings: Settings,
        pepper: bytes,
        clock: Clock = utcnow,
        assets: AssetScope | None = None,
    ) -> None:
        self._store = store
        self._settings = settings
        self._pepper = pepper
        self._clock = clock
        # Without it no key can carry an asset scope (fail closed); open_runtime wires it.
        self._assets = assets

    def now(self) -> datetime:
        """The service's clock, for callers that judge values it returned (a key's state)."""
        return self._clock()

    # -- helpers ---------------------------------------------------------------

    def _event(
        self, unit: RegistryUnit, kind: str, actor: str, subject: str, /, **data: object
    ) -> None:
        unit.append(Event(kind=kind, actor=actor, subject=subject, at=self._clock(), data=data))

    @staticmethod
    def _org(unit: RegistryUnit, ref: str) -> Organisation:
        org = unit.get_org(OrgId(ref)) or unit.get_org_by_name(ref)
        if org is None:
            raise UnknownEntity(
                f"unknown organisation {ref!r}", hint="list them with `enclave org list`"
            )
        return org

    def _tier(self, name: str) -> None:
        if name not in self._settings.tiers:
            raise RegistryInputError(
                f"unknown tier {name!r}",
                hint=f"configured tiers: {', '.join(sorted(self._settings.tiers))}",
            )

    # -- organisations and vetting ----------------------------------------------

    def create_org(
        self,
        actor: Operator,
        *,
        name: str,
        kind: str,
        tier: str,
        sector: str = "",
        contact: str = "",
        evidence: Evidence | None = None,
    ) -> tuple[Organisation, Application]:
        """Register an organisation; it starts `applied`, with its first application."""
        require(actor, VET_ROLES, "creating an organisation")
        name = _text("name", name)
        try:
            org_kind = OrgKind(kind)
        except ValueError:
            raise RegistryInputError(
                f"unknown kind {kind!r}", hint=f"one of {', '.join(k.value for k in OrgKind)}"
            ) from None
        self._tier(tier)
        evidence = self._evidence(evidence or Evidence())
        now = self._clock()
        org = Organisation(
            id=OrgId(_new_id("org")),
            name=name,
            kind=org_kind,
            sector=_text("sector", sector, required=False),
            contact=_text("contact", contact, required=False),
            tier=tier,
            status=OrgStatus.APPLIED,
            created_at=now,
            updated_at=now,
        )
        app = Application(
            id=ApplicationId(_new_id("app")),
            org_id=org.id,
            tier=tier,
            evidence=evidence,
            status=ApplicationStatus.PENDING,
            submitted_by=f"operator:{actor.id}",
            submitted_at=now,
        )
        with self._store.unit() as unit:
            if unit.get_org_by_name(name) is not None:
                raise RegistryConflict(f"an organisation named {name!r} already exists")
            unit.insert_org(org)
            unit.insert_application(app)
            self._event(
                unit,
                "org.created",
                f"operator:{actor.id}",
                org.id,
                name=org.name,
                kind=org.kind.value,
                tier=tier,
                sector=org.sector,
            )
            self._event(
                unit, "application.submitted", f"operator:{actor.id}", app.id, org=org.id, tier=tier
            )
        return org, app

    @staticmethod
    def _evidence(evidence: Evidence) -> Evidence:
        text = _text("evidence.text", evidence.text, required=False, limit=_MAX_TEXT)
        for link in evidence.links:
            if not link.startswith(("https://", "http://")) or len(link) > 2000:
                raise RegistryInputError(f"evidence link {link[:80]!r} is not an http(s) URL")
        for name, digest in evidence.attachments:
            _text("attachment name", name)
            hexpart = digest.removeprefix("sha256:")
            if (
                not digest.startswith("sha256:")
                or len(hexpart) != 64
                or not all(c in "0123456789abcdef" for c in hexpart)
            ):
                raise RegistryInputError(f"attachment {name!r}: expected sha256:<64 lowercase hex>")
        return replace(evidence, text=text)

    def submit_application(
        self, actor: Operator, org_ref: str, *, tier: str, evidence: Evidence
    ) -> Application:
        """A renewal or a change of tier for an existing organisation."""
        require(actor, VET_ROLES, "submitting an application")
        self._tier(tier)
        evidence = self._evidence(evidence)
        with self._store.unit() as unit:
            org = self._org(unit, org_ref)
            self._open_for_vetting(org)
            if unit.list_applications(org_id=org.id, status=ApplicationStatus.PENDING):
                raise RegistryConflict(
                    f"organisation {org.name} already has a pending application",
                    hint="decide it first",
                )
            app = Application(
                id=ApplicationId(_new_id("app")),
                org_id=org.id,
                tier=tier,
                evidence=evidence,
                status=ApplicationStatus.PENDING,
                submitted_by=f"operator:{actor.id}",
                submitted_at=self._clock(),
            )
            unit.insert_application(app)
            self._event(
                unit, "application.submitted", f"operator:{actor.id}", app.id, org=org.id, tier=tier
            )
        return app

    def decide(
        self, actor: Operator, app_id: str, *, decision: Decision, reason: str
    ) -> tuple[Application, Organisation]:
        """Record one operator's decision; approval needs the tier's count of distinct
        operators (four-eyes for partner and maintainer by default)."""
        require(actor, VET_ROLES, "deciding an application")
        if decision not in ("approve", "reject"):
            raise RegistryInputError(f"decision must be approve or reject, not {decision!r}")
        reason = _text("reason", reason, limit=_MAX_TEXT)
        now = self._clock()
        with self._store.unit() as unit:
            app = unit.get_application(ApplicationId(app_id))
            if app is None:
                raise UnknownEntity(f"unknown application {app_id!r}")
            if app.status is not ApplicationStatus.PENDING:
                raise RegistryConflict(f"application {app_id} is already {app.status.value}")
            if any(d.operator_id == actor.id for d in app.decisions):
                raise RegistryConflict(
                    f"operator {actor.name} has already decided application {app_id}",
                    hint="four-eyes: a second decision must come from a different operator",
                )
            org = unit.get_org(app.org_id)
            assert org is not None  # foreign key
            self._open_for_vetting(org, approving=decision == "approve")
            unit.add_decision(app.id, Approval(actor.id, decision, reason, now))
            actor_ref = f"operator:{actor.id}"
            self._event(
                unit, f"application.{decision}d", actor_ref, app.id, org=org.id, reason=reason
            )
            if decision == "reject":
                unit.set_application_status(app.id, ApplicationStatus.REJECTED, now)
                if org.status in (OrgStatus.APPLIED, OrgStatus.UNDER_REVIEW):
                    org = self._set_status(unit, org, OrgStatus.REJECTED, actor_ref, reason)
            else:
                approvals = 1 + sum(1 for d in app.decisions if d.decision == "approve")
                needed = self._settings.tier(app.tier).approvals_required
                if approvals >= needed:
                    unit.set_application_status(app.id, ApplicationStatus.APPROVED, now)
                    expires = now + timedelta(days=self._settings.approval_validity_days)
                    org = replace(org, tier=app.tier, approved_at=now, approval_expires_at=expires)
                    org = self._set_status(
                        unit,
                        org,
                        OrgStatus.APPROVED,
                        actor_ref,
                        reason,
                        expires_at=expires.isoformat(),
                        tier=app.tier,
                    )
                elif org.status in (OrgStatus.APPLIED, OrgStatus.REJECTED):
                    org = self._set_status(
                        unit,
                        org,
                        OrgStatus.UNDER_REVIEW,
                        actor_ref,
                        reason,
                        approvals=approvals,
                        needed=needed,
                    )
            updated = unit.get_application(app.id)
            assert updated is not None
        return updated, org

    @staticmethod
    def _open_for_vetting(org: Organisation, *, approving: bool = True) -> None:
        if org.status is OrgStatus.REVOKED:
            raise RegistryConflict(f"organisation {org.name} is revoked")
        # Approving an application sets the organisation `approved`; without this check
        # two reviewers could lift a suspension through a renewal, although only an
        # admin may reinstate (least privilege). Rejecting stays possible.
        if approving and org.status is OrgStatus.SUSPENDED:
            raise RegistryConflict(
                f"organisation {org.name} is suspended",
                hint="an admin reinstates it first (`enclave org reinstate`)",
            )

    def _set_status(
        self,
        unit: RegistryUnit,
        org: Organisation,
        status: OrgStatus,
        actor: str,
        reason: str,
        **data: object,
    ) -> Organisation:
        changed = replace(org, status=status, updated_at=self._clock())
        unit.update_org(changed)
        self._event(
            unit,
            "org.status",
            actor,
            org.id,
            status=status.value,
            previous=org.status.value,
            reason=reason,
            **data,
        )
        return changed

    _TRANSITIONS: dict[OrgStatus, frozenset[OrgStatus]] = {
        OrgStatus.SUSPENDED: frozenset({OrgStatus.APPROVED}),
        OrgStatus.APPROVED: frozenset({OrgStatus.SUSPENDED}),
        OrgStatus.REVOKED: frozenset(
            {
                OrgStatus.APPROVED,
                OrgStatus.SUSPENDED,
                OrgStatus.APPLIED,
                OrgStatus.UNDER_REVIEW,
                OrgStatus.REJECTED,
            }
        ),
    }

    def set_status(
        self, actor: Operator, org_ref: str, status: str, *, reason: str
    ) -> Organisation:
        """Suspend, reinstate (suspended -> approved) or revoke an organisation."""
        require(actor, ADMIN_ROLES, "changing an organisation's status")
        try:
            target = OrgStatus(status)
        except ValueError:
            raise RegistryInputError(f"unknown status {status!r}") from None
        if target not in self._TRANSITIONS:
            raise RegistryInputError(
                f"status {status!r} cannot be set directly",
                hint="approval goes through applications; set suspended, approved or revoked",
            )
        reason = _text("reason", reason, limit=_MAX_TEXT)
        with self._store.unit() as unit:
            org = self._org(unit, org_ref)
            if org.status not in self._TRANSITIONS[target]:
                raise RegistryConflict(
                    f"organisation {org.name} is {org.status.value}; cannot become {target.value}"
                )
            return self._set_status(unit, org, target, f"operator:{actor.id}", reason)

    def set_report_opt_in(self, actor: Operator, org_ref: str, *, opt_in: bool) -> Organisation:
        """Name the organisation in public transparency reports (its requests and credits
        spent), or stop naming it; admin only, recorded. Without it, the organisation
        appears in reports only inside counts."""
        require(actor, ADMIN_ROLES, "changing whether an organisation is named in reports")
        if not isinstance(opt_in, bool):
            raise RegistryInputError("opt_in must be true or false")
        with self._store.unit() as unit:
            org = self._org(unit, org_ref)
            if org.report_opt_in == opt_in:
                return org  # nothing changes, nothing to record
            changed = replace(org, report_opt_in=opt_in, updated_at=self._clock())
            unit.update_org(changed)
            self._event(
                unit,
                "org.report_opt_in",
                f"operator:{actor.id}",
                org.id,
                report_opt_in=opt_in,
                previous=org.report_opt_in,
            )
            return changed

    def list_orgs(self, actor: Operator, *, status: str | None = None) -> list[Organisation]:
        require(actor, READ_ROLES, "listing organisations")
        wanted = None
        if status is not None:
            try:
                wanted = OrgStatus(status)
            except ValueError:
                raise RegistryInputError(f"unknown status {status!r}") from None
        with self._store.reader() as unit:
            return unit.list_orgs(status=wanted)

    def get_org(self, actor: Operator, org_ref: str) -> tuple[Organisation, list[Application]]:
        require(actor, READ_ROLES, "reading an organisation")
        with self._store.reader() as unit:
            org = self._org(unit, org_ref)
            return org, unit.list_applications(org_id=org.id)

    def list_applications(
        self, actor: Operator, *, status: str | None = "pending"
    ) -> list[Application]:
        require(actor, READ_ROLES, "listing applications")
        wanted = None
        if status is not None:
            try:
                wanted = ApplicationStatus(status)
            except ValueError:
                raise RegistryInputError(f"unknown application status {status!r}") from None
        with self._store.reader() as unit:
            return unit.list_applications(status=wanted)

    # -- keys ---------------------------------------------------------------------

    def issue_key(
        self,
        actor: Operator,
        org_ref: str,
        *,
        purposes: Sequence[str],
        name: str = "",
        expires_in: timedelta | None = None,
        scope: Iterable[str] = (),
        limits: KeyLimits = NO_LIMITS,
    ) -> IssuedKey:
        """Issue a key; the secret is returned once and only its keyed hash is stored."""
        require(actor, ADMIN_ROLES, "issuing a key")
        purposes = tuple(dict.fromkeys(p.strip() for p in purposes))
        if not purposes:
            raise RegistryInputError(
                "a key needs at least one purpose",
                hint=f"one of {', '.join(self._settings.purposes)}",
            )
        for value in (limits.requests_per_minute, limits.tokens_per_minute):
            if value is not None and value <= 0:
                raise RegistryInputError("limits must be positive integers")
        scope_ids = tuple(AssetId(_text("scope entry", s)) for s in scope)
        now = self._clock()
        with self._store.unit() as unit:
            org = self._org(unit, org_ref)
            if not org.is_active(now):
                raise RegistryConflict(
                    f"organisation {org.name} is {org.status.value}"
                    + (" (approval expired)" if org.status is OrgStatus.APPROVED else ""),
                    hint="keys are issued only to approved organisations",
                )
            tier = self._settings.tier(org.tier)
            if scope_ids:
                if self._assets is None:
                    raise RegistryInputError("asset scope is unavailable: no assets service")
                # Defender-only: a key's scope is proof, not declaration (issue 8).
                self._assets.require_scope(org.id, scope_ids, now)
            unknown = [p for p in purposes if p not in self._settings.purposes]
            if unknown:
                raise RegistryInputError(
                    f"unknown purpose(s) {unknown}",
                    hint=f"one of {', '.join(self._settings.purposes)}",
                )
            denied = [p for p in purposes if p not in tier.purposes]
            if denied:
                raise RegistryInputError(
                    f"tier {org.tier} does not allow purpose(s) {denied}",
                    hint=f"tier {org.tier} allows {', '.join(tier.purposes)}",
                )
            max_life = timedelta(days=tier.max_key_days)
            life = expires_in if expires_in is not None else max_life
            if life <= timedelta(0):
                raise RegistryInputError("expiry must be in the future")
            if life > max_life:
                raise RegistryInputError(
                    f"tier {org.tier} keys live at most {tier.max_key_days} days"
                )
            expires_at = now + life
            assert org.approval_expires_at is not None
            expires_at = min(expires_at, org.approval_expires_at)
            secret, stored = credentials.new_credential("enc", self._pepper)
            key = ApiKey(
                id=KeyId(_new_id("key")),
                prefix=stored.prefix,
                org_id=org.id,
                name=_text("name", name, required=False),
                purposes=purposes,
                scope=scope_ids,
                limits=limits,
                created_at=now,
                created_by=f"operator:{actor.id}",
                expires_at=expires_at,
            )
            unit.insert_key(key, stored)
            self._event(
                unit,
                "key.issued",
                f"operator:{actor.id}",
                key.id,
                org=org.id,
                prefix=key.prefix,
                purposes=list(purposes),
                scope=list(scope_ids),
                expires_at=expires_at.isoformat(),
            )
        return IssuedKey(key=key, secret=secret)

    def list_keys(self, actor: Operator, *, org_ref: str | None = None) -> list[ApiKey]:
        require(actor, READ_ROLES, "listing keys")
        with self._store.reader() as unit:
            org_id = self._org(unit, org_ref).id if org_ref else None
            return unit.list_keys(org_id=org_id)

    def revoke_key(self, actor: Operator, key_ref: str, *, reason: str) -> ApiKey:
        require(actor, ADMIN_ROLES, "revoking a key")
        reason = _text("reason", reason, limit=_MAX_TEXT)
        now = self._clock()
        with self._store.unit() as unit:
            key = unit.get_key(KeyId(key_ref))
            if key is None:
                found = unit.find_key_by_prefix(key_ref)
                key = found[0] if found else None
            if key is None:
                raise UnknownEntity(f"unknown key {key_ref!r}")
            if key.revoked_at is not None:
                raise RegistryConflict(f"key {key.id} is already revoked")
            unit.revoke_key(key.id, now, f"operator:{actor.id}", reason)
            self._event(
                unit, "key.revoked", f"operator:{actor.id}", key.id, org=key.org_id, reason=reason
            )
            revoked = unit.get_key(key.id)
            assert revoked is not None
        return revoked

    def authenticate(self, secret: str) -> Principal:
        """Resolve a client API key to its principal, or raise CredentialError.

        One indexed read by prefix, one HMAC; revocation and suspension are therefore
        seen on the very next request.
        """
        prefix = credentials.parse(secret, "enc")
        now = self._clock()
        with self._store.reader() as unit:
            found = unit.find_key_by_prefix(prefix)
        if found is None or not credentials.matches(secret, found[1], self._pepper):
            raise CredentialError("invalid API key")
        key, _, org = found
        state = key.state(now)
        if state != "active":
            raise CredentialError(f"API key {key.prefix} is {state}")
        if not org.is_active(now):
            why = "approval expired" if org.status is OrgStatus.APPROVED else org.status.value
            raise CredentialError(f"organisation of key {key.prefix} is not active ({why})")
        if key.scope:
            # Scope is re-read on every request: a lapsed or revoked asset drops out of
            # the principal at once. No assets service: no scope (fail closed).
            live = self._assets.live_scope(org.id, key.scope, now) if self._assets else ()
            key = replace(key, scope=live)
        return Principal(key=key, org=org)

    # -- operators ------------------------------------------------------------------

    def create_operator(
        self, actor: Operator | None, *, name: str, roles: Iterable[str]
    ) -> IssuedToken:
        """Create an operator and its first admin-API token.

        ``actor=None`` is the bootstrap path used by `enclave init` and is allowed only
        while no operator exists.
        """
        name = _text("name", name)
        try:
            role_set = frozenset(Role(r) for r in roles)
        except ValueError as exc:
            raise RegistryInputError(
                str(exc), hint=f"roles: {', '.join(r.value for r in Role)}"
            ) from None
        if not role_set:
            raise RegistryInputError("an operator needs at least one role")
        now = self._clock()
        with self._store.unit() as unit:
            if actor is None:
                if unit.list_operators():
                    raise RoleDenied("operators exist; creating one needs an admin token")
                by = "system:bootstrap"
            else:
                require(actor, ADMIN_ROLES, "creating an operator")
                by = f"operator:{actor.id}"
            if unit.get_operator_by_name(name) is not None:
                raise RegistryConflict(f"an operator named {name!r} already exists")
            op = Operator(id=OperatorId(_new_id("op")), name=name, roles=role_set, created_at=now)
            unit.insert_operator(op)
            token, stored = credentials.new_credential("eop", self._pepper)
            unit.insert_operator_token(op.id, stored, now)
            self._event(
                unit,
                "operator.created",
                by,
                op.id,
                name=name,
                roles=sorted(r.value for r in role_set),
                token_prefix=stored.prefix,
            )
        return IssuedToken(operator=op, token=token)

    def has_operators(self) -> bool:
        with self._store.reader() as unit:
            return bool(unit.list_operators())

    def authenticate_operator(self, token: str) -> Operator:
        prefix = credentials.parse(token, "eop")
        with self._store.reader() as unit:
            found = unit.find_operator_by_token_prefix(prefix)
        if found is None or not credentials.matches(token, found[1], self._pepper):
            raise CredentialError("invalid operator token")
        if found[0].disabled_at is not None:
            raise CredentialError(f"operator {found[0].name} is disabled")
        return found[0]

    def operator_for_cli(self, name: str | None = None) -> Operator:
        """The CLI runs on the server with access to the state directory and database,
        which already grants full control; it acts as a named operator for the record.

        Without a name it acts as the first admin created (the one `enclave init` made).
        Roles still apply: acting as a reviewer cannot issue keys.
        """
        with self._store.reader() as unit:
            if name is None:
                admins = [op for op in unit.list_operators() if Role.ADMIN in op.roles]
                if not admins:
                    raise UnknownEntity("no admin operator exists", hint="run `enclave init` first")
                return min(admins, key=lambda op: (op.created_at, op.id))
            op = unit.get_operator_by_name(name)
        if op is None:
            raise UnknownEntity(
                f"unknown operator {name!r}", hint="list them with `enclave operator list`"
            )
        return op

    def list_operators(self, actor: Operator) -> list[Operator]:
        require(actor, READ_ROLES, "listing operators")
        with self._store.reader() as unit:
            return unit.list_operators()

    # -- events ----------------------------------------------------------------------

    def list_events(
        self,
        actor: Operator,
        *,
        after: int = 0,
        limit: int = 100,
        kind: str | None = None,
        subject: str | None = None,
    ) -> list[StoredEvent]:
        require(actor, READ_ROLES, "reading events")
        if limit < 1 or limit > 1000:
            raise RegistryInputError("limit must be between 1 and 1000")
        if after < 0:
            raise RegistryInputError("after must be >= 0")
        with self._store.reader() as unit:
            return unit.list_events(after=after, limit=limit, kind=kind, subject=subject)


def parse_duration(spec: str) -> timedelta:
    """Parse an expiry like 30d, 12h, 90m (for CLI and API)."""
    units = {"d": 86400, "h": 3600, "m": 60}
    spec = spec.strip()
    if len(spec) < 2 or spec[-1] not in units or not spec[:-1].isdigit():
        raise RegistryInputError(f"expiry {spec!r}: expected a number and d, h or m (e.g. 30d)")
    return timedelta(seconds=int(spec[:-1]) * units[spec[-1]])


__all__ = ["ADMIN_ROLES", "READ_ROLES", "VET_ROLES", "RegistryService", "parse_duration", "require"]
