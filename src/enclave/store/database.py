"""The Database: one engine, migrations, and the units of work the services use."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, make_url
from sqlalchemy.exc import OperationalError

from enclave.errors import StoreError
from enclave.store.checkpoints import WalCheckpointer
from enclave.store.driver import close_connections
from enclave.store.engine import make_engine, read_connection, write_connection
from enclave.store.lanes import WriteLanes, lanes_for
from enclave.store.registry_repo import SqlRegistryUnit

MIGRATIONS = Path(__file__).parent / "migrations"


class Database:
    """Implements every domain's store Protocol over one SQLAlchemy engine."""

    def __init__(
        self, url: str, *, engine: Engine | None = None, background_checkpoints: bool = False
    ) -> None:
        """``background_checkpoints``: on SQLite, a thread checkpoints the write-ahead log
        instead of whichever commit fills it (store/checkpoints.py); for the server."""
        self.url = url
        self.checkpointer: WalCheckpointer | None = None
        path = _sqlite_file(url) if background_checkpoints and engine is None else None
        self.engine = engine or make_engine(url, background_checkpoints=path is not None)
        if path is not None:
            self.checkpointer = WalCheckpointer(path)
            self.checkpointer.start()
        # The threads this process's asynchronous callers write through (store/lanes.py);
        # started on first use.
        self.lanes: WriteLanes = lanes_for(url)

    def close(self) -> None:
        self.lanes.close()
        if self.checkpointer is not None:
            self.checkpointer.close()  # after the lanes' last writes
        close_connections(self.engine)
        self.engine.dispose()

    # -- schema -------------------------------------------------------------------

    def _alembic(self) -> Config:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["engine"] = self.engine
        return config

    def migrate(self) -> None:
        """Bring the schema to the newest migration (idempotent)."""
        try:
            command.upgrade(self._alembic(), "head")
        except OperationalError as exc:
            raise StoreError(f"cannot migrate {self.safe_url}: {exc.orig}") from None

    def revisions(self) -> tuple[str | None, str | None]:
        """(the database's migration revision or None if uninitialised, the newest one)."""
        head = ScriptDirectory.from_config(self._alembic()).get_current_head()
        try:
            with self.engine.connect() as conn:
                current = MigrationContext.configure(conn).get_current_revision()
        except OperationalError as exc:
            raise StoreError(f"database unavailable at {self.safe_url}: {exc.orig}") from None
        return current, head

    def schema_is_current(self) -> bool:
        current, head = self.revisions()
        return current == head

    def require_current(self) -> None:
        if not self.schema_is_current():
            raise StoreError(
                f"database at {self.safe_url} is not initialised or not migrated",
                hint="run `enclave init` (or `enclave db upgrade`)",
            )

    @property
    def safe_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    # -- units of work ------------------------------------------------------------

    @contextmanager
    def unit(self) -> Iterator[SqlRegistryUnit]:
        with write_connection(self.engine) as conn:
            yield SqlRegistryUnit(conn)

    @contextmanager
    def reader(self) -> Iterator[SqlRegistryUnit]:
        with read_connection(self.engine) as conn:
            yield SqlRegistryUnit(conn)


def _sqlite_file(url: str) -> str | None:
    """The database file of a SQLite URL (None: not SQLite, or in memory)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return parsed.database


__all__ = ["Database"]
