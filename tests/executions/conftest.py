"""End-to-end execution tests: every test runs against both shapes of Stageline.

`stack` is session-scoped and parametrized: "embedded" (one `stageline serve`, SQLite,
in-process executor, folder artifacts) and "production" (`stageline serve` + two
`stageline worker` processes, Postgres, a dedicated redis-server, moto's S3 server). When a
test fails, the tail of every process's log is attached to its report.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any

import pytest
from tests.executions.stack import Stack, embedded_stack, production_stack


@pytest.fixture(scope="session", params=["embedded", "production"])
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp(f"executions-{request.param}")
    shape = embedded_stack if request.param == "embedded" else production_stack
    with shape(root) as running:
        yield running


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "production_only: run with the production stack only (workers, broker)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out the embedded variant of production-only tests (deselected, not skipped)."""
    dropped = [
        item
        for item in items
        if item.get_closest_marker("production_only") is not None
        and getattr(item, "callspec", None) is not None
        and item.callspec.params.get("stack") == "embedded"  # type: ignore[attr-defined]
    ]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item not in dropped]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Generator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.failed and report.when in ("setup", "call"):
        running = getattr(item, "funcargs", {}).get("stack")
        if isinstance(running, Stack):
            report.sections.append((f"stageline logs ({running.mode})", running.logs()))
