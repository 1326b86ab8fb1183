"""SQL implementation of the registry's RegistryUnit Protocol."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update

from enclave.registry.interface import (
    ApiKey,
    Application,
    ApplicationId,
    ApplicationStatus,
    Approval,
    AssetId,
    Evidence,
    KeyId,
    KeyLimits,
    Operator,
    OperatorId,
    Organisation,
    OrgId,
    OrgKind,
    OrgStatus,
    Role,
    StoredSecret,
)
from enclave.store.events_repo import SqlEvents
from enclave.store.tables import (
    api_keys,
    application_decisions,
    applications,
    operator_tokens,
    operators,
    organisations,
)


def _org(row: Row[Any] | Any) -> Organisation:
    return Organisation(
        id=OrgId(row.id),
        name=row.name,
        kind=OrgKind(row.kind),
        sector=row.sector,
        contact=row.contact,
        tier=row.tier,
        status=OrgStatus(row.status),
        created_at=row.created_at,
        updated_at=row.updated_at,
        approved_at=row.approved_at,
        approval_expires_at=row.approval_expires_at,
        report_opt_in=bool(row.report_opt_in),
    )


def _org_values(org: Organisation) -> dict[str, Any]:
    return {
        "id": org.id,
        "name": org.name,
        "kind": org.kind.value,
        "sector": org.sector,
        "contact": org.contact,
        "tier": org.tier,
        "status": org.status.value,
        "created_at": org.created_at,
        "updated_at": org.updated_at,
        "approved_at": org.approved_at,
        "approval_expires_at": org.approval_expires_at,
        "report_opt_in": org.report_opt_in,
    }


def _key(row: Any) -> ApiKey:
    return ApiKey(
        id=KeyId(row.id),
        prefix=row.prefix,
        org_id=OrgId(row.org_id),
        name=row.name,
        purposes=tuple(row.purposes),
        scope=tuple(AssetId(s) for s in row.scope),
        limits=KeyLimits(row.rpm_limit, row.tpm_limit),
        created_at=row.created_at,
        created_by=row.created_by,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        revoked_by=row.revoked_by,
        revoke_reason=row.revoke_reason,
    )


def _operator(row: Any) -> Operator:
    return Operator(
        id=OperatorId(row.id),
        name=row.name,
        roles=frozenset(Role(r) for r in row.roles),
        created_at=row.created_at,
        disabled_at=row.disabled_at,
    )


class SqlRegistryUnit(SqlEvents):
    def __init__(self, conn: Connection) -> None:
        super().__init__(conn)
        self._c = conn

    # organisations
    def insert_org(self, org: Organisation) -> None:
        self._c.execute(insert(organisations).values(**_org_values(org)))

    def update_org(self, org: Organisation) -> None:
        values = _org_values(org)
        del values["id"]
        self._c.execute(update(organisations).where(organisations.c.id == org.id).values(**values))

    def get_org(self, org_id: OrgId) -> Organisation | None:
        row = self._c.execute(select(organisations).where(organisations.c.id == org_id)).first()
        return _org(row) if row else None

    def get_org_by_name(self, name: str) -> Organisation | None:
        row = self._c.execute(select(organisations).where(organisations.c.name == name)).first()
        return _org(row) if row else None

    def list_orgs(self, *, status: OrgStatus | None = None) -> list[Organisation]:
        query = select(organisations).order_by(organisations.c.name)
        if status is not None:
            query = query.where(organisations.c.status == status.value)
        return [_org(r) for r in self._c.execute(query)]

    # applications
    def insert_application(self, app: Application) -> None:
        self._c.execute(
            insert(applications).values(
                id=app.id,
                org_id=app.org_id,
                tier=app.tier,
                evidence={
                    "text": app.evidence.text,
                    "links": list(app.evidence.links),
                    "attachments": [list(a) for a in app.evidence.attachments],
                },
                status=app.status.value,
                submitted_by=app.submitted_by,
                submitted_at=app.submitted_at,
                decided_at=app.decided_at,
            )
        )

    def _decisions(self, app_ids: list[str]) -> dict[str, list[Approval]]:
        found: dict[str, list[Approval]] = {a: [] for a in app_ids}
        if not app_ids:
            return found
        query = (
            select(application_decisions)
            .where(application_decisions.c.application_id.in_(app_ids))
            .order_by(application_decisions.c.id)
        )
        for row in self._c.execute(query):
            found[row.application_id].append(
                Approval(OperatorId(row.operator_id), row.decision, row.reason, row.at)
            )
        return found

    def _applications(self, rows: list[Any]) -> list[Application]:
        decisions = self._decisions([r.id for r in rows])
        return [
            Application(
                id=ApplicationId(r.id),
                org_id=OrgId(r.org_id),
                tier=r.tier,
                evidence=Evidence(
                    text=r.evidence["text"],
                    links=tuple(r.evidence["links"]),
                    attachments=tuple((a[0], a[1]) for a in r.evidence["attachments"]),
                ),
                status=ApplicationStatus(r.status),
                submitted_by=r.submitted_by,
                submitted_at=r.submitted_at,
                decisions=tuple(decisions[r.id]),
                decided_at=r.decided_at,
            )
            for r in rows
        ]

    def get_application(self, app_id: ApplicationId) -> Application | None:
        rows = list(self._c.execute(select(applications).where(applications.c.id == app_id)))
        apps = self._applications(rows)
        return apps[0] if apps else None

    def list_applications(
        self, *, org_id: OrgId | None = None, status: ApplicationStatus | None = None
    ) -> list[Application]:
        query = select(applications).order_by(applications.c.submitted_at, applications.c.id)
        if org_id is not None:
            query = query.where(applications.c.org_id == org_id)
        if status is not None:
            query = query.where(applications.c.status == status.value)
        return self._applications(list(self._c.execute(query)))

    def add_decision(self, app_id: ApplicationId, approval: Approval) -> None:
        self._c.execute(
            insert(application_decisions).values(
                application_id=app_id,
                operator_id=approval.operator_id,
                decision=approval.decision,
                reason=approval.reason,
                at=approval.at,
            )
        )

    def set_application_status(
        self, app_id: ApplicationId, status: ApplicationStatus, at: datetime
    ) -> None:
        self._c.execute(
            update(applications)
            .where(applications.c.id == app_id)
            .values(status=status.value, decided_at=at)
        )

    # keys
    def insert_key(self, key: ApiKey, secret: StoredSecret) -> None:
        self._c.execute(
            insert(api_keys).values(
                id=key.id,
                prefix=secret.prefix,
                digest=secret.digest,
                org_id=key.org_id,
                name=key.name,
                purposes=list(key.purposes),
                scope=list(key.scope),
                rpm_limit=key.limits.requests_per_minute,
                tpm_limit=key.limits.tokens_per_minute,
                created_at=key.created_at,
                created_by=key.created_by,
                expires_at=key.expires_at,
            )
        )

    def get_key(self, key_id: KeyId) -> ApiKey | None:
        row = self._c.execute(select(api_keys).where(api_keys.c.id == key_id)).first()
        return _key(row) if row else None

    def find_key_by_prefix(self, prefix: str) -> tuple[ApiKey, str, Organisation] | None:
        org_cols = [c.label(f"o__{c.name}") for c in organisations.c]
        query = (
            select(api_keys, *org_cols)
            .join(organisations, organisations.c.id == api_keys.c.org_id)
            .where(api_keys.c.prefix == prefix)
        )
        row = self._c.execute(query).first()
        if row is None:
            return None
        mapping = row._mapping
        org_row = SimpleNamespace(**{c.name: mapping[f"o__{c.name}"] for c in organisations.c})
        return _key(row), row.digest, _org(org_row)

    def list_keys(self, *, org_id: OrgId | None = None) -> list[ApiKey]:
        query = select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id)
        if org_id is not None:
            query = query.where(api_keys.c.org_id == org_id)
        return [_key(r) for r in self._c.execute(query)]

    def revoke_key(self, key_id: KeyId, at: datetime, by: str, reason: str) -> None:
        self._c.execute(
            update(api_keys)
            .where(api_keys.c.id == key_id)
            .values(revoked_at=at, revoked_by=by, revoke_reason=reason)
        )

    # operators
    def insert_operator(self, op: Operator) -> None:
        self._c.execute(
            insert(operators).values(
                id=op.id,
                name=op.name,
                roles=sorted(r.value for r in op.roles),
                created_at=op.created_at,
                disabled_at=op.disabled_at,
            )
        )

    def get_operator_by_name(self, name: str) -> Operator | None:
        row = self._c.execute(select(operators).where(operators.c.name == name)).first()
        return _operator(row) if row else None

    def list_operators(self) -> list[Operator]:
        return [_operator(r) for r in self._c.execute(select(operators).order_by(operators.c.name))]

    def insert_operator_token(
        self, operator_id: OperatorId, secret: StoredSecret, at: datetime
    ) -> None:
        self._c.execute(
            insert(operator_tokens).values(
                prefix=secret.prefix, operator_id=operator_id, digest=secret.digest, created_at=at
            )
        )

    def find_operator_by_token_prefix(self, prefix: str) -> tuple[Operator, str] | None:
        query = (
            select(operators, operator_tokens.c.digest)
            .join(operator_tokens, operator_tokens.c.operator_id == operators.c.id)
            .where(operator_tokens.c.prefix == prefix, operator_tokens.c.revoked_at.is_(None))
        )
        row = self._c.execute(query).first()
        return (_operator(row), row.digest) if row else None


__all__ = ["SqlRegistryUnit"]
