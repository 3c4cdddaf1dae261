"""Alembic environment shared by `alembic` and `stageline db upgrade`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from stageline.persistence.models import Base
from stageline.settings import Settings

config = context.config
url = config.attributes.get("database_url") or Settings().resolved_database_url


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds tables the same way everywhere.
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
