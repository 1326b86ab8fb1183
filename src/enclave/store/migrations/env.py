"""Alembic environment: runs on the engine Database passes in (never reads a URL itself)."""

from __future__ import annotations

from alembic import context

from enclave.store.tables import metadata

engine = context.config.attributes["engine"]
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
