"""SQL implementation of the assets domain's AssetStore."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from enclave.assets.interface import (
    Asset,
    AssetKind,
    AssetStatus,
    Attestation,
    Challenge,
    Method,
    Verification,
)
from enclave.registry.interface import AssetId, Organisation, OrgId
from enclave.store.engine import read_connection, write_connection
from enclave.store.events_repo import SqlEvents
from enclave.store.registry_repo import _org
from enclave.store.tables import assets, organisations

A = assets.c


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _asset(row: Any) -> Asset:
    ch, ver, att = row.challenge, row.verification, row.attestation
    return Asset(
        id=AssetId(row.id),
        org_id=OrgId(row.org_id),
        kind=AssetKind(row.kind),
        value=row.value,
        status=AssetStatus(row.status),
        created_at=row.created_at,
        created_by=row.created_by,
        updated_at=row.updated_at,
        reverify_days=row.reverify_days,
        challenge=Challenge(
            Method(ch["method"]), ch["token"], _time(ch["issued_at"]), _time(ch["expires_at"])
        )
        if ch
        else None,
        verification=Verification(
            Method(ver["method"]), ver["token"], _time(ver["at"]), ver["by"], ver["evidence"]
        )
        if ver
        else None,
        expires_at=row.expires_at,
        attestation=Attestation(att["by"], att["reason"], _time(att["at"])) if att else None,
        hold_reason=row.hold_reason,
        revoked_at=row.revoked_at,
        revoke_reason=row.revoke_reason,
    )


def _values(a: Asset) -> dict[str, Any]:
    ch, ver, att = a.challenge, a.verification, a.attestation
    return {
        "id": a.id,
        "org_id": a.org_id,
        "kind": a.kind.value,
        "value": a.value,
        "status": a.status.value,
        "created_at": a.created_at,
        "created_by": a.created_by,
        "updated_at": a.updated_at,
        "reverify_days": a.reverify_days,
        "challenge": {
            "method": ch.method.value,
            "token": ch.token,
            "issued_at": ch.issued_at.isoformat(),
            "expires_at": ch.expires_at.isoformat(),
        }
        if ch
        else None,
        "verification": {
            "method": ver.method.value,
            "token": ver.token,
            "at": ver.at.isoformat(),
            "by": ver.by,
            "evidence": ver.evidence,
        }
        if ver
        else None,
        "expires_at": a.expires_at,
        "attestation": {"by": att.by, "reason": att.reason, "at": att.at.isoformat()}
        if att
        else None,
        "hold_reason": a.hold_reason,
        "revoked_at": a.revoked_at,
        "revoke_reason": a.revoke_reason,
    }


class SqlAssetUnit(SqlEvents):
    def __init__(self, conn: Connection) -> None:
        super().__init__(conn)
        self._c = conn

    def get_org(self, ref: str) -> Organisation | None:
        for column in (organisations.c.id, organisations.c.name):
            row = self._c.execute(select(organisations).where(column == ref)).first()
            if row:
                return _org(row)
        return None

    def insert_asset(self, asset: Asset) -> None:
        self._c.execute(insert(assets).values(**_values(asset)))

    def update_asset(self, asset: Asset) -> None:
        self._c.execute(update(assets).where(A.id == asset.id).values(**_values(asset)))

    def get_asset(self, asset_id: AssetId) -> Asset | None:
        row = self._c.execute(select(assets).where(A.id == asset_id)).first()
        return _asset(row) if row else None

    def list_assets(
        self,
        *,
        org_id: OrgId | None = None,
        kind: AssetKind | None = None,
        status: AssetStatus | None = None,
    ) -> list[Asset]:
        query = select(assets).order_by(A.created_at, A.id)
        if org_id is not None:
            query = query.where(A.org_id == org_id)
        if kind is not None:
            query = query.where(A.kind == kind.value)
        if status is not None:
            query = query.where(A.status == status.value)
        return [_asset(r) for r in self._c.execute(query)]

    def get_assets(self, ids: tuple[AssetId, ...]) -> list[Asset]:
        if not ids:
            return []
        return [_asset(r) for r in self._c.execute(select(assets).where(A.id.in_(ids)))]


class SqlAssetStore:
    """AssetStore over the Database's engine."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @contextmanager
    def unit(self) -> Iterator[SqlAssetUnit]:
        with write_connection(self._engine) as conn:
            yield SqlAssetUnit(conn)

    @contextmanager
    def reader(self) -> Iterator[SqlAssetUnit]:
        with read_connection(self._engine) as conn:
            yield SqlAssetUnit(conn)


__all__ = ["SqlAssetStore", "SqlAssetUnit"]
