"""Stacks and helpers shared by bench/events.py and bench/triggers.py.

Embedded: one `stageline serve` on SQLite with 8 executor threads. Production: a fresh
Postgres database, a dedicated redis-server, `stageline serve` with the broker and two
`stageline worker` processes (4 threads each), sharing a STAGELINE_SECRET_KEY as API replicas
and workers must (connection credentials, webhook secrets). Both poll sources hourly only, so
no poll pass starts runs or loads the machine during a measurement.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from build import client  # noqa: E402
from cryptography.fernet import Fernet  # noqa: E402
from orchestration import pct, process, progress, redis_server  # noqa: E402
from tests.support.servers import postgres_database, running_server, server_env  # noqa: E402

STACKS = {
    "embedded": "Embedded: SQLite + in-process executor (8 threads)",
    "production": "Production: Postgres + Redis + 2 `stageline worker` processes (4 threads each)",
}
QUIET = {"STAGELINE_SOURCE_POLL_INTERVAL": "3600"}
# Receiver arrival times are time.monotonic(); server timestamps are wall-clock time.
WALL_OFFSET = time.time() - time.monotonic()


@contextmanager
def bench_stack(kind: str, tmp: Path) -> Iterator[tuple[str, Path]]:
    """The server URL and its data directory (local artifact store) of a running stack."""
    data = tmp / kind
    if kind == "embedded":
        env = server_env(data, None, STAGELINE_WORKERS="8", **QUIET)
        env.pop("STAGELINE_VALIDATE_RESPONSES", None)  # a test aid, off in production
        with running_server(data, env=env) as server:
            yield server.url, data
        return
    with ExitStack() as stack:
        broker = stack.enter_context(redis_server())
        db = stack.enter_context(postgres_database())
        env = server_env(
            data,
            db,
            STAGELINE_BROKER_URL=broker,
            STAGELINE_WORKERS="4",
            STAGELINE_SECRET_KEY=Fernet.generate_key().decode(),
            **QUIET,
        )
        env.pop("STAGELINE_VALIDATE_RESPONSES", None)
        server = stack.enter_context(running_server(data, db, env=env))
        for i in range(2):
            stack.enter_context(
                process([sys.executable, "-m", "stageline.cli", "worker"], env, data / f"w{i}.log")
            )
        time.sleep(3)  # workers connect
        yield server.url, data


def stacks_from_args(
    doc: str | None, runs: int, runs_help: str
) -> Iterator[tuple[str, str, Path, int]]:
    """Parse `--runs` and `--mode`; start each chosen stack in turn and yield its label, URL,
    data directory and the run count while it is up."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=runs, help=runs_help)
    parser.add_argument("--mode", choices=[*STACKS, "both"], default="both")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="stageline-bench-") as tmp:
        for kind in list(STACKS) if args.mode == "both" else [args.mode]:
            progress(f"starting {STACKS[kind]}")
            with bench_stack(kind, Path(tmp)) as (url, data):
                yield STACKS[kind], url, data, args.runs


def row(name: str, values: list[float], baseline: list[float] | None = None) -> str:
    """One table line: p50/p99 in ms, and the p50 ratio to the baseline's p50."""
    ms = 1000.0
    line = (
        f"  {name:<58}{len(values):>5}{pct(values, 0.5) * ms:>9.1f}{pct(values, 0.99) * ms:>9.1f}"
    )
    if baseline:
        line += f"{pct(values, 0.5) / pct(baseline, 0.5):>9.1f}x"
    return line


HEADER = f"  {'measure':<58}{'n':>5}{'p50 ms':>9}{'p99 ms':>9}{'ratio':>10}"


def poll(check: Any, timeout: float = 60, interval: float = 0.005) -> Any:
    """`check()`'s first truthy answer, polled every `interval` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if answer := check():
            return answer
        time.sleep(interval)
    raise TimeoutError(f"nothing after {timeout}s")


__all__ = [
    "HEADER",
    "STACKS",
    "WALL_OFFSET",
    "bench_stack",
    "client",
    "pct",
    "poll",
    "progress",
    "row",
    "stacks_from_args",
]
