"""The assets service: the only place asset state changes, each change with its event.

Network checks (DNS, HTTP, git) run outside any transaction; the result is written in a
short unit that re-reads the asset and refuses if the challenge changed meanwhile.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from enclave.assets import challenges, safety
from enclave.assets.interface import (
    Asset,
    AssetConflict,
    AssetInputError,
    AssetKind,
    AssetStatus,
    AssetStore,
    AssetUnit,
    Attestation,
    Challenge,
    ChallengeFailed,
    Method,
    Outcome,
    UnknownAsset,
    Verification,
)
from enclave.assets.values import network, normalise, overlaps, scope_entry
from enclave.clock import Clock, utcnow
from enclave.config import Settings
from enclave.events import Event
from enclave.registry.interface import (
    ApiKey,
    AssetId,
    Operator,
    Organisation,
    OrgId,
    OrgStatus,
    RegistryInputError,
)
from enclave.registry.service import READ_ROLES, VET_ROLES, require

_MAX_REASON = 10_000
_CLOSED = (OrgStatus.REVOKED, OrgStatus.REJECTED)


def _reason(value: str) -> str:
    cleaned = value.strip()
    if not cleaned:
        raise AssetInputError("a reason is required")
    if len(cleaned) > _MAX_REASON:
        raise AssetInputError(f"reason is longer than {_MAX_REASON} characters")
    return cleaned


def _actor(op: Operator) -> str:
    return f"operator:{op.id}"


class AssetService:
    def __init__(
        self,
        *,
        store: AssetStore,
        settings: Settings,
        secret: bytes,
        clock: Clock = utcnow,
    ) -> None:
        self._store = store
        self._config = settings.assets
        self._secret = secret
        self._clock = clock

    def now(self) -> datetime:
        return self._clock()

    # -- helpers --------------------------------------------------------------------

    def _event(
        self, unit: AssetUnit, kind: str, actor: str, subject: str, /, **data: object
    ) -> None:
        unit.append(Event(kind=kind, actor=actor, subject=subject, at=self._clock(), data=data))

    @staticmethod
    def _get(unit: AssetUnit, ref: str) -> Asset:
        asset = unit.get_asset(AssetId(ref))
        if asset is None:
            raise UnknownAsset(f"unknown asset {ref!r}", hint="list them with `enclave asset list`")
        return asset

    @staticmethod
    def _org(unit: AssetUnit, ref: str) -> Organisation:
        org = unit.get_org(ref)
        if org is None:
            raise UnknownAsset(
                f"unknown organisation {ref!r}", hint="list them with `enclave org list`"
            )
        return org

    def key_authorisation(self, asset: Asset) -> str:
        if asset.challenge is None:
            raise AssetConflict(
                f"asset {asset.id} has no challenge",
                hint=f"request one with `enclave asset challenge {asset.id}`",
            )
        account = challenges.thumbprint(self._secret, asset.org_id)
        return challenges.key_authorisation(asset.challenge.token, account)

    # -- claims -----------------------------------------------------------------------

    def add(
        self,
        actor: Operator,
        org_ref: str,
        *,
        kind: str,
        value: str,
        reverify_days: int | None = None,
    ) -> Asset:
        """Claim an asset for an organisation; it is usable only once verified."""
        require(actor, VET_ROLES, "adding an asset")
        try:
            asset_kind = AssetKind(kind)
        except ValueError:
            raise AssetInputError(
                f"unknown asset kind {kind!r}",
                hint=f"one of {', '.join(k.value for k in AssetKind)}",
            ) from None
        normal = normalise(asset_kind, value)
        days = reverify_days if reverify_days is not None else self._config.verification_days
        if not 1 <= days <= 3650:
            raise AssetInputError("reverify days must be between 1 and 3650")
        now = self._clock()
        with self._store.unit() as unit:
            org = self._org(unit, org_ref)
            if org.status in _CLOSED:
                raise AssetConflict(f"organisation {org.name} is {org.status.value}")
            mine = unit.list_assets(org_id=org.id, kind=asset_kind)
            if any(a.value == normal and a.status is not AssetStatus.REVOKED for a in mine):
                raise AssetConflict(f"{org.name} already claims {asset_kind.value} {normal}")
            asset = Asset(
                id=AssetId(f"ast_{secrets.token_hex(8)}"),
                org_id=org.id,
                kind=asset_kind,
                value=normal,
                status=AssetStatus.PENDING,
                created_at=now,
                created_by=_actor(actor),
                updated_at=now,
                reverify_days=days,
            )
            unit.insert_asset(asset)
            others = [a.id for a in self._overlapping(unit, asset)]
            self._event(
                unit,
                "asset.added",
                _actor(actor),
                asset.id,
                org=org.id,
                kind=asset_kind.value,
                value=normal,
                overlaps=others,
            )
        return asset

    def _overlapping(self, unit: AssetUnit, asset: Asset) -> list[Asset]:
        """Other organisations' claims on a common target that are verified or held."""
        now = self._clock()
        return [
            other
            for other in unit.list_assets()
            if other.org_id != asset.org_id
            and (other.is_live(now) or other.status is AssetStatus.HELD)
            and overlaps((asset.kind, asset.value), (other.kind, other.value))
        ]

    def list_assets(
        self, actor: Operator, *, org_ref: str | None = None, status: str | None = None
    ) -> list[Asset]:
        require(actor, READ_ROLES, "listing assets")
        wanted = None
        if status is not None:
            try:
                wanted = AssetStatus(status)
            except ValueError:
                raise AssetInputError(f"unknown asset status {status!r}") from None
        with self._store.reader() as unit:
            org_id = self._org(unit, org_ref).id if org_ref else None
            return unit.list_assets(org_id=org_id, status=wanted)

    def show(self, actor: Operator, ref: str) -> Asset:
        require(actor, READ_ROLES, "reading an asset")
        with self._store.reader() as unit:
            return self._get(unit, ref)

    # -- challenges ----------------------------------------------------------------------

    def challenge(
        self, actor: Operator, ref: str, *, method: str
    ) -> tuple[Asset, challenges.Publish]:
        """Issue a fresh token for ``method``; returns what the owner must publish."""
        require(actor, VET_ROLES, "issuing a challenge")
        chosen = self._method(method)
        now = self._clock()
        with self._store.unit() as unit:
            asset = self._get(unit, ref)
            self._open(asset)
            if (
                chosen not in challenges.CHALLENGE_METHODS
                or chosen not in challenges.METHODS[asset.kind]
            ):
                allowed = sorted(m.value for m in challenges.METHODS[asset.kind])
                raise AssetInputError(
                    f"{chosen.value} cannot prove a {asset.kind.value}",
                    hint=f"for a {asset.kind.value}: {', '.join(allowed)}",
                )
            ttl = timedelta(hours=self._config.challenge_ttl_hours)
            challenge = Challenge(chosen, challenges.new_token(), now, now + ttl)
            asset = replace(asset, challenge=challenge, updated_at=now)
            unit.update_asset(asset)
            self._event(
                unit,
                "asset.challenge_issued",
                _actor(actor),
                asset.id,
                method=chosen.value,
                expires_at=challenge.expires_at.isoformat(),
            )
        return asset, self.publication(asset)

    def publication(self, asset: Asset) -> challenges.Publish:
        if asset.challenge is None:
            raise AssetConflict(f"asset {asset.id} has no challenge")
        return challenges.what_to_publish(
            asset, asset.challenge.method, self.key_authorisation(asset), self._config
        )

    @staticmethod
    def _method(method: str) -> Method:
        try:
            return Method(method)
        except ValueError:
            raise AssetInputError(
                f"unknown method {method!r}", hint=f"one of {', '.join(m.value for m in Method)}"
            ) from None

    @staticmethod
    def _open(asset: Asset) -> None:
        if asset.status is AssetStatus.REVOKED:
            raise AssetConflict(f"asset {asset.id} is revoked", hint="add it again to re-claim it")

    def verify(self, actor: Operator, ref: str) -> Asset:
        """Check the pending challenge (or, for hosts, the covering domains) now."""
        require(actor, VET_ROLES, "verifying an asset")
        with self._store.reader() as unit:
            asset = self._get(unit, ref)
            self._open(asset)
            domains = [
                a
                for a in unit.list_assets(org_id=asset.org_id, kind=AssetKind.DOMAIN)
                if a.is_live(self._clock())
            ]
        try:
            if asset.kind is AssetKind.HOST:
                method, token, evidence = Method.VIA_DOMAIN, "", self._via_domain(asset, domains)
            else:
                challenge = asset.challenge
                if challenge is None:
                    raise AssetConflict(
                        f"asset {asset.id} has no challenge",
                        hint=f"request one with `enclave asset challenge {asset.id}`",
                    )
                if self._clock() >= challenge.expires_at:
                    raise ChallengeFailed(
                        Outcome.EXPIRED,
                        f"the {challenge.method.value} token expired at "
                        f"{challenge.expires_at.isoformat()}",
                        hint=f"request a new one with `enclave asset challenge {asset.id}`",
                    )
                key_auth = self.key_authorisation(asset)
                method, token = challenge.method, challenge.token
                evidence = challenges.check(asset, method, key_auth, self._config)
        except ChallengeFailed as failed:
            with self._store.unit() as unit:
                self._event(
                    unit,
                    "asset.verification_failed",
                    _actor(actor),
                    asset.id,
                    outcome=failed.outcome.value,
                    detail=failed.message,
                )
            raise
        with self._store.unit() as unit:
            current = self._get(unit, ref)
            if current.challenge != asset.challenge or current.status is AssetStatus.REVOKED:
                raise AssetConflict(f"asset {asset.id} changed during verification; verify again")
            record = Verification(method, token, self._clock(), "system", evidence)
            return self._verified(unit, current, record, _actor(actor))

    def _via_domain(self, asset: Asset, domains: Sequence[Asset]) -> str:
        block = network(asset.value)
        if block is None:
            for domain in domains:
                if asset.value == domain.value or asset.value.endswith("." + domain.value):
                    return f"host name under verified domain {domain.value} ({domain.id})"
            raise ChallengeFailed(
                Outcome.NOT_COVERED,
                f"no verified domain of this organisation covers {asset.value}",
                hint="verify the parent domain first, or use operator-attestation",
            )
        limit = (
            self._config.max_cidr_prefix_v4
            if block.version == 4
            else self._config.max_cidr_prefix_v6
        )
        if block.prefixlen < limit:
            raise ChallengeFailed(
                Outcome.NOT_COVERED,
                f"{asset.value} is wider than /{limit}; a domain cannot vouch for it",
                hint="operator-attestation (`enclave asset attest`) with a written reason",
            )
        for domain in domains:
            for address in safety.addresses(domain.value, self._config):
                if address in block:
                    return f"verified domain {domain.value} ({domain.id}) resolves to {address}"
        raise ChallengeFailed(
            Outcome.NOT_COVERED,
            f"no verified domain of this organisation resolves into {asset.value}",
            hint="point a verified domain at the address, or use operator-attestation",
        )

    def _verified(self, unit: AssetUnit, asset: Asset, record: Verification, actor: str) -> Asset:
        now = self._clock()
        others = self._overlapping(unit, asset)
        status = AssetStatus.HELD if others else AssetStatus.VERIFIED
        hold = (
            "overlaps "
            + ", ".join(f"{o.kind.value} {o.value} ({o.id}) of {o.org_id}" for o in others)
            if others
            else None
        )
        updated = replace(
            asset,
            status=status,
            verification=record,
            expires_at=now + timedelta(days=asset.reverify_days),
            challenge=None,
            attestation=None,
            hold_reason=hold,
            updated_at=now,
        )
        unit.update_asset(updated)
        self._event(
            unit,
            "asset.held" if others else "asset.verified",
            actor,
            asset.id,
            method=record.method.value,
            evidence=record.evidence,
            expires_at=updated.expires_at.isoformat() if updated.expires_at else None,
            overlaps=[o.id for o in others],
        )
        return updated

    # -- attestation (four-eyes) --------------------------------------------------------------

    def attest(self, actor: Operator, ref: str, *, reason: str) -> Asset:
        """An operator vouches for an asset; a second operator must approve."""
        require(actor, VET_ROLES, "attesting an asset")
        reason = _reason(reason)
        now = self._clock()
        with self._store.unit() as unit:
            asset = self._get(unit, ref)
            self._open(asset)
            if asset.attestation is not None:
                raise AssetConflict(f"asset {asset.id} already awaits approval of an attestation")
            asset = replace(
                asset, attestation=Attestation(_actor(actor), reason, now), updated_at=now
            )
            unit.update_asset(asset)
            self._event(unit, "asset.attested", _actor(actor), asset.id, reason=reason)
        return asset

    def approve(self, actor: Operator, ref: str, *, reason: str) -> Asset:
        """The second operator's approval of an attestation: the asset is verified."""
        require(actor, VET_ROLES, "approving an attestation")
        reason = _reason(reason)
        with self._store.unit() as unit:
            asset = self._get(unit, ref)
            self._open(asset)
            att = asset.attestation
            if att is None:
                raise AssetConflict(
                    f"asset {asset.id} has no attestation to approve",
                    hint=f"an operator attests first: `enclave asset attest {asset.id}`",
                )
            if att.by == _actor(actor):
                raise AssetConflict(
                    f"operator {actor.name} made this attestation",
                    hint="four-eyes: a different operator must approve it",
                )
            record = Verification(
                Method.ATTESTATION,
                "",
                self._clock(),
                f"{att.by},{_actor(actor)}",
                f"attested: {att.reason}; approved: {reason}",
            )
            return self._verified(unit, asset, record, _actor(actor))

    def release(self, actor: Operator, ref: str, *, reason: str) -> Asset:
        """An operator's decision on a held overlap: the claim is genuine, verify it."""
        require(actor, VET_ROLES, "releasing a held asset")
        reason = _reason(reason)
        now = self._clock()
        with self._store.unit() as unit:
            asset = self._get(unit, ref)
            if asset.status is not AssetStatus.HELD:
                raise AssetConflict(f"asset {asset.id} is {asset.status.value}, not held")
            released = replace(asset, status=AssetStatus.VERIFIED, hold_reason=None, updated_at=now)
            unit.update_asset(released)
            self._event(
                unit,
                "asset.released",
                _actor(actor),
                asset.id,
                reason=reason,
                hold=asset.hold_reason,
            )
        return released

    def revoke(self, actor: Operator, ref: str, *, reason: str) -> Asset:
        """End a claim; keys scoped to it lose it on their next request."""
        require(actor, VET_ROLES, "revoking an asset")
        reason = _reason(reason)
        now = self._clock()
        with self._store.unit() as unit:
            asset = self._get(unit, ref)
            if asset.status is AssetStatus.REVOKED:
                raise AssetConflict(f"asset {asset.id} is already revoked")
            revoked = replace(
                asset,
                status=AssetStatus.REVOKED,
                revoked_at=now,
                revoke_reason=reason,
                challenge=None,
                attestation=None,
                updated_at=now,
            )
            unit.update_asset(revoked)
            self._event(unit, "asset.revoked", _actor(actor), asset.id, reason=reason)
        return revoked

    # -- keys and scope (registry.AssetScope) ------------------------------------------------

    def require_scope(self, org_id: OrgId, asset_ids: Sequence[AssetId], now: datetime) -> None:
        """Every id must be a live, verified asset of ``org_id``; else the key is refused."""
        with self._store.reader() as unit:
            found = {a.id: a for a in unit.get_assets(tuple(asset_ids))}
        for asset_id in asset_ids:
            asset = found.get(asset_id)
            if asset is None:
                raise RegistryInputError(f"scope: unknown asset {asset_id!r}")
            if asset.org_id != org_id:
                raise RegistryInputError(f"scope: asset {asset_id} belongs to another organisation")
            if not asset.is_live(now):
                raise RegistryInputError(
                    f"scope: asset {asset_id} is {asset.state(now)}, not verified",
                    hint="a key's scope may name only verified assets of its organisation",
                )

    def live_scope(
        self, org_id: OrgId, asset_ids: Sequence[AssetId], now: datetime
    ) -> tuple[AssetId, ...]:
        """The subset of ``asset_ids`` still verified for ``org_id`` (checked per request)."""
        return tuple(a.id for a in self._live(org_id, asset_ids, now))

    def _live(self, org_id: OrgId, asset_ids: Sequence[AssetId], now: datetime) -> list[Asset]:
        with self._store.reader() as unit:
            found = {a.id: a for a in unit.get_assets(tuple(asset_ids))}
        return [
            found[i]
            for i in asset_ids
            if i in found and found[i].org_id == org_id and found[i].is_live(now)
        ]

    def scope_entries_for_key(self, key: ApiKey) -> tuple[str, ...]:
        """The key's live scope in the monitor's entry syntax (`host:10.20.0.0/16`,
        `domain:acme.example`, `repo:https://…`), read now: lapsed or revoked assets are
        gone on the next call."""
        return tuple(
            scope_entry(a.kind, a.value) for a in self._live(key.org_id, key.scope, self._clock())
        )


__all__ = ["AssetService"]
