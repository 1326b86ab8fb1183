"""The composition root's building blocks: settings -> database -> services.

Built once at start (by `enclave serve` or a CLI command) and passed down; nothing here
runs at import time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from enclave.assets import AssetService
from enclave.config import Settings
from enclave.errors import ConfigError
from enclave.registry import RegistryService, credentials
from enclave.store import Database
from enclave.store.assets_repo import SqlAssetStore


def write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def ensure_pepper(settings: Settings) -> bytes:
    """Create the key pepper on first use (`enclave init`); never overwrite one."""
    if settings.key_pepper is not None:
        return load_pepper(settings)
    path = settings.key_pepper_path
    if not path.exists():
        write_private(path, credentials.new_pepper().hex().encode("ascii") + b"\n")
    return load_pepper(settings)


def load_pepper(settings: Settings) -> bytes:
    if settings.key_pepper is not None:
        value = settings.key_pepper.get_secret_value().encode("utf-8")
        if len(value) < 32:
            raise ConfigError(
                "key_pepper (env ENCLAVE_KEY_PEPPER): expected at least 32 characters"
            )
        return value
    path = settings.key_pepper_path
    try:
        text = path.read_text(encoding="ascii").strip()
        return bytes.fromhex(text)
    except FileNotFoundError:
        raise ConfigError(
            f"key pepper file {path} is missing",
            hint="run `enclave init`, or set ENCLAVE_STATE_DIR to the directory init created",
        ) from None
    except (ValueError, UnicodeDecodeError):
        raise ConfigError(f"key pepper file {path}: expected 64 hex characters") from None


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    db: Database
    registry: RegistryService
    # Asset ownership (issue 8); None only in compositions that need no assets.
    assets: AssetService | None = None

    def close(self) -> None:
        self.db.close()


def open_runtime(
    settings: Settings, *, require_schema: bool = True, serving: bool = False
) -> Runtime:
    """``serving``: the server's runtime (its SQLite log is checkpointed in the background)."""
    db = Database(settings.database_url, background_checkpoints=serving)
    try:
        if require_schema:
            db.require_current()
        pepper = load_pepper(settings)
    except BaseException:
        db.close()  # else the pool's open connection outlives the failed start
        raise
    assets = AssetService(store=SqlAssetStore(db.engine), settings=settings, secret=pepper)
    registry = RegistryService(store=db, settings=settings, pepper=pepper, assets=assets)
    return Runtime(settings=settings, db=db, registry=registry, assets=assets)


__all__ = ["Runtime", "ensure_pepper", "load_pepper", "open_runtime", "write_private"]
