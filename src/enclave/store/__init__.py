"""Storage: engines, Alembic migrations and the SQL implementations of domain Protocols."""

from enclave.store.database import Database
from enclave.store.engine import make_engine, normalise_url

__all__ = ["Database", "make_engine", "normalise_url"]
