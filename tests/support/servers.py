"""Start real Stageline processes for integration tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

ACCESS_KEY_ID = "AKIATESTSTAGELINE001"
SECRET_ACCESS_KEY = "test-secret-key-for-stageline-0000000000"
REGION = "us-east-1"
POSTGRES_ADMIN_URL = os.environ.get(
    "STAGELINE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    data_dir: Path
    database_url: str | None
    process: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh, empty Postgres database, dropped afterwards."""
    name = f"stageline_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise RuntimeError(
            f"Postgres is not reachable at {POSTGRES_ADMIN_URL} ({exc}). The test command "
            "(scripts/test) starts it; set STAGELINE_TEST_POSTGRES to use another server."
        ) from exc
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def server_env(data_dir: Path, database_url: str | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAGELINE_")}
    env.update(
        STAGELINE_DATA_DIR=str(data_dir),
        STAGELINE_ROOT_ACCESS_KEY_ID=ACCESS_KEY_ID,
        STAGELINE_ROOT_SECRET_ACCESS_KEY=SECRET_ACCESS_KEY,
        STAGELINE_VALIDATE_RESPONSES="1",
        STAGELINE_LOG_LEVEL="warning",
    )
    if database_url:
        env["STAGELINE_DATABASE_URL"] = database_url
    env.update(extra)
    return env


@contextmanager
def running_server(
    data_dir: Path, database_url: str | None = None, *, env: dict[str, str] | None = None
) -> Iterator[Server]:
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = data_dir / "server.log"
    full_env = env if env is not None else server_env(data_dir, database_url)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "stageline.cli", "serve", "--port", str(port)],
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", data_dir, database_url, process, log_path, full_env)
    try:
        wait_healthy(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_healthy(server: Server, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"stageline serve exited early:\n{server.log()}")
        try:
            if httpx.get(server.url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"stageline serve did not become healthy:\n{server.log()}")
