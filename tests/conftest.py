"""Shared fixtures: real `stageline serve` processes on SQLite and on Postgres."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from tests.support.servers import (
    ACCESS_KEY_ID,
    REGION,
    SECRET_ACCESS_KEY,
    Server,
    postgres_database,
    running_server,
)


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """One real server per database backend; every integration test runs on both."""
    data_dir = tmp_path_factory.mktemp(f"stageline-{request.param}")
    if request.param == "sqlite":
        with running_server(data_dir) as srv:
            yield srv
    else:
        with postgres_database() as url, running_server(data_dir, url) as srv:
            yield srv


def make_client(url: str, service: str = "codepipeline", **overrides: Any) -> Any:
    return boto3.client(
        service,
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id=overrides.pop("key", ACCESS_KEY_ID),
        aws_secret_access_key=overrides.pop("secret", SECRET_ACCESS_KEY),
        config=Config(retries={"max_attempts": 1}, **overrides),
    )


@pytest.fixture
def cp(server: Server) -> Any:
    """A boto3 CodePipeline client pointed at the server."""
    return make_client(server.url)


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout) if self.stdout.strip() else None


@pytest.fixture
def aws(server: Server, tmp_path: Path) -> Any:
    """Run `aws codepipeline ...` against the server; returns a CliResult."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY=SECRET_ACCESS_KEY,
        AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE=str(tmp_path / "aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "aws-credentials"),
        AWS_MAX_ATTEMPTS="1",
        AWS_PAGER="",
    )

    def run(*args: str) -> CliResult:
        proc = subprocess.run(
            ["aws", *args, "--endpoint-url", server.url, "--output", "json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    return run
