"""The Alembic chain on SQLite and on a fresh Postgres database, and that it matches the models."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, pool
from tests.support.servers import postgres_database

from stageline.persistence import migrate
from stageline.persistence.models import Base
from stageline.settings import Settings

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = ScriptDirectory(str(REPO / "migrations"))
HEAD = SCRIPTS.get_current_head()
MODEL_TABLES = set(Base.metadata.tables)


@pytest.fixture(params=["sqlite", "postgres"])
def raw_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL as a user writes it (postgresql://...), for an empty database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'stageline.db'}"
    else:
        with postgres_database() as url:
            yield url


@pytest.fixture
def url(raw_url: str) -> str:
    """The same URL as SQLAlchemy needs it (postgresql+psycopg://...)."""
    return Settings(database_url=raw_url).resolved_database_url


def table_names(url: str) -> set[str]:
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return set(inspect(conn).get_table_names())
    finally:
        engine.dispose()


def differences(url: str) -> list[object]:
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True}
            )
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def test_chain_has_one_head_and_one_base() -> None:
    assert HEAD is not None
    assert len(SCRIPTS.get_heads()) == 1
    assert len(SCRIPTS.get_bases()) == 1


def test_upgrade_downgrade_upgrade(url: str) -> None:
    assert migrate.current(url) is None
    migrate.upgrade(url)
    assert migrate.current(url) == HEAD
    assert table_names(url) == MODEL_TABLES | {"alembic_version"}

    migrate.upgrade(url)  # already at head: nothing to do, no error
    assert migrate.current(url) == HEAD

    migrate.downgrade(url)
    assert migrate.current(url) is None
    assert table_names(url) == {"alembic_version"}

    migrate.upgrade(url)
    assert migrate.current(url) == HEAD
    assert table_names(url) == MODEL_TABLES | {"alembic_version"}


def test_models_match_migrations(url: str) -> None:
    migrate.upgrade(url)
    assert differences(url) == []


def test_differences_are_detected(url: str) -> None:
    """The comparison above can fail: a schema one migration short differs from the models."""
    migrate.upgrade(url)
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE tags")
    finally:
        engine.dispose()
    assert any(diff[0] == "add_table" for diff in differences(url) if isinstance(diff, tuple))


def test_alembic_command_line(raw_url: str, url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAGELINE_")}
    env["STAGELINE_DATABASE_URL"] = raw_url

    def alembic(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "alembic", "-c", "alembic.ini", *args],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    up = alembic("upgrade", "head")
    assert up.returncode == 0, up.stderr
    assert migrate.current(url) == HEAD
    assert differences(url) == []

    current = alembic("current")
    assert current.returncode == 0, current.stderr
    assert f"{HEAD} (head)" in current.stdout

    down = alembic("downgrade", "base")
    assert down.returncode == 0, down.stderr
    assert table_names(url) == {"alembic_version"}


def test_concurrent_upgrades_on_postgres_take_turns() -> None:
    """API replicas starting together all migrate; the advisory lock lets exactly one work."""
    with postgres_database() as raw:
        url = Settings(database_url=raw).resolved_database_url
        with ThreadPoolExecutor(max_workers=4) as workers:
            results = [workers.submit(migrate.upgrade, url) for _ in range(4)]
            for result in results:
                result.result(timeout=120)
        assert migrate.current(url) == HEAD
        assert differences(url) == []
