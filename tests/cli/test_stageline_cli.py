"""The `stageline` command itself: --version, db upgrade/downgrade, and serve's first start."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from alembic.script import ScriptDirectory
from botocore.config import Config
from botocore.exceptions import ClientError
from tests.support.servers import REGION, free_port

import stageline
from stageline.identity import CREDENTIALS_FILE, KeyStore
from stageline.settings import Settings

REPO = Path(__file__).resolve().parents[2]
HEAD = ScriptDirectory(str(REPO / "migrations")).get_current_head()


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any STAGELINE_* setting (so no root keys) or AWS_* variable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STAGELINE_", "AWS_"))}
    env.update(extra)
    return env


def stageline_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "stageline.cli", *args]


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> Any:
    return subprocess.run(
        stageline_cmd(*args),
        env=env if env is not None else clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@dataclass
class Served:
    url: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def serve(data_dir: Path, log_name: str, env: dict[str, str] | None = None) -> Iterator[Served]:
    port = free_port()
    log_path = data_dir.parent / log_name
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            stageline_cmd("serve", "--data-dir", str(data_dir), "--port", str(port)),
            env=env if env is not None else clean_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    served = Served(f"http://127.0.0.1:{port}", port, process, log_path)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise AssertionError(f"stageline serve exited early:\n{served.log()}")
            try:
                if httpx.get(served.url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"stageline serve never became healthy:\n{served.log()}")
            time.sleep(0.1)
        yield served
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def client(url: str, key_id: str, secret: str) -> Any:
    return boto3.client(
        "codepipeline",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}),
    )


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"stageline {stageline.__version__}"
    # The package's own version string agrees with what pip installed.
    assert stageline.__version__ == installed_version("stageline")


def test_no_command_is_a_usage_error() -> None:
    result = run()
    assert result.returncode == 2
    assert "usage: stageline" in result.stderr


def tables(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def revision(db: Path) -> str | None:
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return None if row is None else str(row[0])


def test_db_upgrade_creates_sqlite_at_head(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh" / "data"  # does not exist yet
    result = run("db", "upgrade", "--data-dir", str(data_dir))
    assert result.returncode == 0, result.stderr
    db = data_dir / "stageline.db"
    assert db.is_file()
    assert HEAD in result.stdout
    assert str(db) in result.stdout
    assert revision(db) == HEAD
    assert {"pipelines", "pipeline_versions", "tags"} <= tables(db)

    again = run("db", "upgrade", "--data-dir", str(data_dir))
    assert again.returncode == 0, again.stderr
    assert revision(db) == HEAD

    down = run("db", "downgrade", "--data-dir", str(data_dir))
    assert down.returncode == 0, down.stderr
    assert "base" in down.stdout
    assert revision(db) is None
    assert tables(db) == {"alembic_version"}

    up = run("db", "upgrade", "--data-dir", str(data_dir))
    assert up.returncode == 0, up.stderr
    assert revision(db) == HEAD


def banner_secret_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if "aws_secret_access_key" in line]


def test_serve_generates_keys_once_and_reuses_them(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with serve(data_dir, "first.log") as first:
        health = httpx.get(first.url + "/healthz", timeout=5)
        assert health.status_code == 200
        assert health.json()["database"] is True
        assert health.json()["version"] == stageline.__version__

        credentials = data_dir / CREDENTIALS_FILE
        assert credentials.is_file()
        assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
        keys = json.loads(credentials.read_text())
        key_id, secret = keys["access_key_id"], keys["secret_access_key"]
        assert re.fullmatch(r"AKIA[A-Z0-9]{16}", key_id)
        assert len(secret) >= 40

        response = client(first.url, key_id, secret).list_pipelines()
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
        with pytest.raises(ClientError) as wrong:
            client(first.url, key_id, secret[::-1]).list_pipelines()
        assert wrong.value.response["Error"]["Code"] == "InvalidSignatureException"

        log = first.log()
        endpoint = f"http://localhost:{first.port}"
        assert f"on {endpoint}" in log
        assert f"--endpoint-url {endpoint}" in log
        assert f"{endpoint}/docs" in log
        assert f"aws configure set aws_access_key_id {key_id}" in log
        assert f"aws configure set aws_secret_access_key {secret}" in log
        assert f"aws configure set region {REGION}" in log
        assert str(credentials) in log
        configure_lines = [
            line.strip() for line in log.splitlines() if line.strip().startswith("aws configure")
        ]
    first_log = first.log()
    # The secret is printed exactly once: in the banner, never again in the log.
    assert first_log.count(secret) == 1, first_log
    assert banner_secret_lines(first_log) == [f"  aws configure set aws_secret_access_key {secret}"]

    # The banner's `aws configure` lines work as printed, and the configured CLI can call.
    aws_env = clean_env(
        AWS_CONFIG_FILE=str(tmp_path / "aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "aws-credentials"),
        AWS_PAGER="",
    )
    assert len(configure_lines) == 3
    for line in configure_lines:
        done = subprocess.run(
            shlex.split(line), env=aws_env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, f"{line!r} failed: {done.stderr}"

    with serve(data_dir, "second.log") as second:
        assert json.loads((data_dir / CREDENTIALS_FILE).read_text()) == keys
        response = client(second.url, key_id, secret).list_pipelines()
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
        listed = subprocess.run(
            ["aws", "codepipeline", "list-pipelines", "--endpoint-url", second.url],
            env=aws_env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert listed.returncode == 0, listed.stderr
        assert json.loads(listed.stdout) == {"pipelines": []}
        second_log = second.log()
        assert key_id in second_log
        assert "aws configure set aws_secret_access_key" not in second_log
    second_log = second.log()
    assert secret not in second_log, second_log
    assert str(data_dir / CREDENTIALS_FILE) in second_log


def test_generated_secrets_are_usable_as_printed(tmp_path: Path) -> None:
    """Each generated secret is pasted into `aws configure set aws_secret_access_key SECRET`:
    it must need no shell quoting and must not start with '-' (the CLI would read an option)."""
    seen: set[str] = set()
    for i in range(500):
        store = KeyStore(
            Settings(
                data_dir=tmp_path / f"d{i}",
                root_access_key_id=None,
                root_secret_access_key=None,
            )
        )
        assert store.generated
        secret = store.root.secret_access_key
        assert len(secret) == 40
        assert shlex.quote(secret) == secret, secret
        assert not secret.startswith("-"), secret
        assert re.fullmatch(r"AKIA[A-Z0-9]{16}", store.root.access_key_id)
        seen.add(secret)
    assert len(seen) == 500


def test_root_keys_from_environment_are_not_written_or_printed(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    secret = "env-provided-secret-0123456789-abcdefgh"
    env = clean_env(
        STAGELINE_ROOT_ACCESS_KEY_ID="AKIAENVPROVIDED00001",
        STAGELINE_ROOT_SECRET_ACCESS_KEY=secret,
    )
    with serve(data_dir, "env.log", env) as served:
        assert not (data_dir / CREDENTIALS_FILE).exists()
        ok = client(served.url, "AKIAENVPROVIDED00001", secret).list_pipelines()
        assert ok["ResponseMetadata"]["HTTPStatusCode"] == 200
    log = served.log()
    assert "AKIAENVPROVIDED00001" in log
    assert secret not in log


@pytest.mark.parametrize("command", [["serve", "--port", "0"], ["db", "upgrade"]])
def test_unreachable_postgres_fails_fast_and_readably(tmp_path: Path, command: list[str]) -> None:
    password = "hunter2-do-not-print"
    env = clean_env(
        STAGELINE_DATABASE_URL=f"postgresql://stageline:{password}@127.0.0.1:1/stageline",
        STAGELINE_DATA_DIR=str(tmp_path / "data"),
    )
    started = time.monotonic()
    result = run(*command, env=env, timeout=60)
    elapsed = time.monotonic() - started
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert elapsed < 30, f"took {elapsed:.1f}s to give up"
    assert "Traceback" not in output, output
    assert "127.0.0.1" in output and "refused" in output.lower(), output
    assert password not in output
    assert len(output.strip().splitlines()) <= 5, output
