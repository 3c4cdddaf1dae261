"""Run the Alembic migration chain programmatically (`stageline db upgrade`, serve start-up)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, create_engine, pool, text

# Any fixed number: replicas starting together take turns migrating a Postgres database.
_ADVISORY_LOCK = 0x5746_4C4E


def _script_location() -> Path:
    # The migration chain lives at the top of the source checkout (migrations/).
    checkout = Path(__file__).resolve().parents[3] / "migrations"
    if not (checkout / "env.py").exists():
        raise RuntimeError(
            f"migrations not found at {checkout}; install Stageline from its source checkout "
            "with `pip install -e .`"
        )
    return checkout


@contextmanager
def _connection(database_url: str) -> Iterator[Connection]:
    engine = create_engine(database_url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _ADVISORY_LOCK})
                conn.commit()
            yield conn
    finally:
        engine.dispose()


def _config(database_url: str, connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_script_location()))
    config.attributes["database_url"] = database_url
    config.attributes["connection"] = connection
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    with _connection(database_url) as conn:
        command.upgrade(_config(database_url, conn), revision)
        conn.commit()


def downgrade(database_url: str, revision: str = "base") -> None:
    with _connection(database_url) as conn:
        command.downgrade(_config(database_url, conn), revision)
        conn.commit()


def current(database_url: str) -> str | None:
    with _connection(database_url) as conn:
        return MigrationContext.configure(conn).get_current_revision()
