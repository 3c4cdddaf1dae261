"""The running Stageline a test drives, in one of its two shapes.

- embedded: one `stageline serve` on SQLite, in-process executor, artifacts in a folder
  (a bucket is the directory DATA_DIR/artifacts/<bucket>).
- production: `stageline serve` + two `stageline worker` processes on Celery/Redis, Postgres,
  and moto's S3 server as the object store.

Tests talk to it through boto3 (codepipeline) and through the helpers here for the object
store, so the same test body runs on both.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest
import redis
from botocore.config import Config
from botocore.exceptions import ClientError
from cryptography.fernet import Fernet
from tests.support.moto_server import ACCESS_KEY_ID as MOTO_KEY
from tests.support.moto_server import SECRET_ACCESS_KEY as MOTO_SECRET
from tests.support.moto_server import moto_s3_server, s3_env
from tests.support.servers import (
    ACCESS_KEY_ID,
    REGION,
    SECRET_ACCESS_KEY,
    Server,
    free_port,
    postgres_database,
    running_server,
    server_env,
)

LEASE_SECONDS = "3"
JOB_ACK_TIMEOUT_SECONDS = "8"
TERMINAL = frozenset({"Succeeded", "Failed", "Stopped", "Superseded", "Cancelled"})
LOG_TAIL_LINES = 120


def zip_bytes(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def unzip(data: bytes) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {n: archive.read(n).decode() for n in archive.namelist() if not n.endswith("/")}


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --- processes ----------------------------------------------------------------------------------


class RedisServer:
    """A dedicated, throw-away redis-server: no persistence, so a restart starts empty."""

    def __init__(self, root: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail(
                "redis-server is not installed (or not on PATH): the production stack needs it "
                "for its own broker. Install it (e.g. `apt-get install redis-server`).",
                pytrace=False,
            )
        self.binary = binary
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log_path = root / "redis.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [
                    self.binary,
                    "--port",
                    str(self.port),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--bind",
                    "127.0.0.1",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited:\n{tail(self.log_path)}")
            with suppress(redis.RedisError):
                if client.ping():
                    return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not answer on {self.port}:\n{tail(self.log_path)}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def queue_length(self, queue: str = "stageline") -> int:
        return int(redis.Redis(port=self.port).llen(queue))


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log_path: Path
    data_dir: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None


def _stop(process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


# --- the stack ----------------------------------------------------------------------------------


@dataclass
class Stack:
    mode: str
    root: Path  # scratch space of the tests (marker files and the like)
    server: Server
    s3_url: str | None = None  # the object store (production only)
    aws_url: str | None = None  # moto: SSM and Secrets Manager for builds (both shapes)
    database_url: str | None = None
    broker: RedisServer | None = None
    worker_env: dict[str, str] = field(default_factory=dict)
    workers: list[Worker] = field(default_factory=list)

    # -- clients ---------------------------------------------------------------------------
    def client(self) -> Any:
        return boto3.client(
            "codepipeline",
            endpoint_url=self.server.url,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
            config=Config(retries={"max_attempts": 1}, read_timeout=30),
        )

    def codebuild(self) -> Any:
        return boto3.client(
            "codebuild",
            endpoint_url=self.server.url,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
            config=Config(retries={"max_attempts": 1}, read_timeout=30),
        )

    def aws(self, service: str) -> Any:
        """A client of moto's SSM or Secrets Manager, as the builds resolve them."""
        assert self.aws_url is not None
        return boto3.client(
            service,
            endpoint_url=self.aws_url,
            region_name=REGION,
            aws_access_key_id=MOTO_KEY,
            aws_secret_access_key=MOTO_SECRET,
        )

    def s3(self) -> Any:
        assert self.s3_url is not None
        return boto3.client(
            "s3",
            endpoint_url=self.s3_url,
            region_name=REGION,
            aws_access_key_id=MOTO_KEY,
            aws_secret_access_key=MOTO_SECRET,
        )

    # -- the object store ------------------------------------------------------------------
    def _folder(self, bucket: str) -> Path:
        return self.server.data_dir / "artifacts" / bucket

    def create_bucket(self, bucket: str, *, versioned: bool = True) -> None:
        if self.s3_url is None:
            self._folder(bucket).mkdir(parents=True, exist_ok=True)
            return
        s3 = self.s3()
        with suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(Bucket=bucket)
        if versioned:
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})

    def put_object(self, bucket: str, key: str, data: bytes) -> str:
        """Store an object; its revision as the S3 source action sees it (version or etag)."""
        self.create_bucket(bucket)
        if self.s3_url is None:
            path = self._folder(bucket).joinpath(*key.split("/"))
            path.parent.mkdir(parents=True, exist_ok=True)
            part = path.with_name(f".{path.name}.part")
            part.write_bytes(data)
            os.replace(part, path)
            return hashlib.md5(data, usedforsecurity=False).hexdigest()
        response = self.s3().put_object(Bucket=bucket, Key=key, Body=data)
        return str(response.get("VersionId") or response["ETag"].strip('"'))

    def put_source(self, bucket: str, key: str, files: dict[str, str]) -> str:
        """Zip `files` and put the zip at bucket/key; returns its revision."""
        return self.put_object(bucket, key, zip_bytes(files))

    def read_object(self, bucket: str, key: str) -> bytes:
        if self.s3_url is None:
            return self._folder(bucket).joinpath(*key.split("/")).read_bytes()
        body: bytes = self.s3().get_object(Bucket=bucket, Key=key)["Body"].read()
        return body

    def read_zip(self, bucket: str, key: str) -> dict[str, str]:
        return unzip(self.read_object(bucket, key))

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        if self.s3_url is None:
            root = self._folder(bucket)
            if not root.is_dir():
                return []
            keys = (p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
            return sorted(k for k in keys if k.startswith(prefix))
        try:
            pages = (
                self.s3().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            )
            return sorted(item["Key"] for page in pages for item in page.get("Contents", []))
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "NoSuchBucket":
                return []
            raise

    # -- executions ------------------------------------------------------------------------
    def create_pipeline(self, declaration: dict[str, Any]) -> str:
        """CreatePipeline; returns the id of the run it started (AWS starts one at once)."""
        client = self.client()
        client.create_pipeline(pipeline=declaration)
        summaries = client.list_pipeline_executions(pipelineName=declaration["name"])[
            "pipelineExecutionSummaries"
        ]
        assert len(summaries) == 1, summaries
        return str(summaries[0]["pipelineExecutionId"])

    def start(self, pipeline: str, **params: Any) -> str:
        response = self.client().start_pipeline_execution(name=pipeline, **params)
        return str(response["pipelineExecutionId"])

    def execution(self, pipeline: str, execution_id: str) -> dict[str, Any]:
        response = self.client().get_pipeline_execution(
            pipelineName=pipeline, pipelineExecutionId=execution_id
        )
        result: dict[str, Any] = response["pipelineExecution"]
        return result

    def wait(
        self,
        pipeline: str,
        execution_id: str,
        statuses: str | Collection[str] = "Succeeded",
        timeout: float = 60,
    ) -> dict[str, Any]:
        """Poll GetPipelineExecution until the status is one of `statuses`. Reaching another
        final status, or the timeout, fails with the actions' details and the logs."""
        wanted = {statuses} if isinstance(statuses, str) else set(statuses)
        client = self.client()
        deadline = time.monotonic() + timeout
        status = None
        while True:
            execution = client.get_pipeline_execution(
                pipelineName=pipeline, pipelineExecutionId=execution_id
            )["pipelineExecution"]
            status = execution["status"]
            if status in wanted:
                result: dict[str, Any] = execution
                return result
            if status in TERMINAL or time.monotonic() > deadline:
                why = "ended" if status in TERMINAL else f"is still after {timeout:g} s"
                raise AssertionError(
                    f"execution {execution_id} of {pipeline} {why} {status}, not "
                    f"{sorted(wanted)}\n{execution.get('statusSummary', '')}\n"
                    f"{self.describe(pipeline, execution_id)}\n{self.logs()}"
                )
            time.sleep(0.15)

    def wait_for(
        self, what: str, check: Callable[[], Any], timeout: float = 60, interval: float = 0.15
    ) -> Any:
        """Poll `check` until it returns something truthy; fail with the logs otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            time.sleep(interval)
        raise AssertionError(f"timed out after {timeout:g} s waiting for {what}\n{self.logs()}")

    def action_executions(
        self, pipeline: str, execution_id: str | None = None
    ) -> list[dict[str, Any]]:
        """ListActionExecutions, every page, oldest first."""
        params: dict[str, Any] = {"pipelineName": pipeline}
        if execution_id:
            params["filter"] = {"pipelineExecutionId": execution_id}
        pages = self.client().get_paginator("list_action_executions").paginate(**params)
        rows = [row for page in pages for row in page["actionExecutionDetails"]]
        return sorted(rows, key=lambda r: r["startTime"])

    def describe(self, pipeline: str, execution_id: str) -> str:
        try:
            rows = self.action_executions(pipeline, execution_id)
        except Exception as exc:  # a report must not hide the real failure
            return f"(ListActionExecutions failed: {exc})"
        lines = []
        for row in rows:
            result = row.get("output", {}).get("executionResult", {})
            error = result.get("errorDetails") or {}
            lines.append(
                f"  {row['stageName']}.{row['actionName']}: {row['status']} "
                f"{error.get('code', '')} {error.get('message', '')[:400]}"
            )
        return "actions:\n" + ("\n".join(lines) or "  (none)")

    def state(self, pipeline: str) -> dict[str, Any]:
        result: dict[str, Any] = self.client().get_pipeline_state(name=pipeline)
        return result

    # -- production only -------------------------------------------------------------------
    def start_worker(self) -> int:
        """Start one more `stageline worker`; returns its index in self.workers."""
        assert self.mode == "production", "workers exist in the production stack only"
        index = len(self.workers)
        data_dir = self.root / f"worker-{index}"
        data_dir.mkdir(parents=True, exist_ok=True)
        log_path = data_dir / "worker.log"
        env = {**self.worker_env, "STAGELINE_DATA_DIR": str(data_dir)}
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "stageline.cli", "worker"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        worker = Worker(process, log_path, data_dir)
        self.workers.append(worker)
        self._wait_ready(worker)
        return index

    def _wait_ready(self, worker: Worker, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not worker.alive():
                raise RuntimeError(f"stageline worker exited:\n{tail(worker.log_path)}")
            if " ready." in worker.log_path.read_text(errors="replace"):
                return
            time.sleep(0.1)
        raise RuntimeError(f"stageline worker did not become ready:\n{tail(worker.log_path)}")

    def kill_worker(self, index: int) -> None:
        worker = self.workers[index]
        if worker.alive():
            worker.process.send_signal(signal.SIGKILL)
            worker.process.wait(timeout=10)

    def live_workers(self) -> list[int]:
        return [i for i, w in enumerate(self.workers) if w.alive()]

    def worker_of(self, action_execution_id: str) -> int | None:
        """The index of the worker process holding an action attempt (from its lease row)."""
        assert self.database_url is not None
        with psycopg.connect(self.database_url) as conn:
            row = conn.execute(
                "SELECT worker_id FROM action_executions WHERE action_execution_id = %s",
                (action_execution_id,),
            ).fetchone()
        if row is None or row[0] is None:
            return None
        pid = int(str(row[0]).rsplit(":", 1)[1])
        return next((i for i, w in enumerate(self.workers) if w.pid == pid), None)

    def restart_broker(self) -> None:
        """Kill the dedicated redis-server and start a fresh, empty one on the same port."""
        assert self.broker is not None, "the embedded stack has no broker"
        self.broker.kill()
        self.broker.start()

    # -- diagnostics -----------------------------------------------------------------------
    def log_files(self) -> Iterable[tuple[str, Path]]:
        yield "serve", self.server.log_path
        for index, worker in enumerate(self.workers):
            state = "alive" if worker.alive() else f"exited {worker.process.returncode}"
            yield f"worker {index} (pid {worker.pid}, {state})", worker.log_path
        if self.broker is not None:
            yield "redis", self.broker.log_path

    def logs(self) -> str:
        parts = [
            f"===== {name} log (last lines) =====\n{tail(path)}" for name, path in self.log_files()
        ]
        return "\n".join(parts)


# --- building the two shapes --------------------------------------------------------------------


def _tuned(env: dict[str, str]) -> dict[str, str]:
    env.update(
        STAGELINE_LEASE_SECONDS=LEASE_SECONDS,
        STAGELINE_RECONCILE_INTERVAL="0.5",
        STAGELINE_JOB_ACK_TIMEOUT_SECONDS=JOB_ACK_TIMEOUT_SECONDS,
    )
    # No polling unless a test asks (extra_env): new object versions must not start runs.
    env.setdefault("STAGELINE_SOURCE_POLL_INTERVAL", "3600")
    return env


@functools.cache
def lambda_socket() -> socket.socket:
    """The port of the Lambda-compatible endpoint that test_lambda_action.py serves, listening
    from the first stack on and held for the whole session: no other process can take it, and
    the test module serves this very socket when it runs."""
    return socket.create_server(("127.0.0.1", 0))


def secret_stores_env(url: str) -> dict[str, str]:
    """Point builds' parameter-store and secrets-manager lookups at moto, and the Lambda invoke
    action at the tests' Lambda endpoint."""
    return {
        "AWS_ENDPOINT_URL_SSM": url,
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": url,
        "AWS_ENDPOINT_URL_SNS": url,  # notification targets and approval topics
        "AWS_ENDPOINT_URL_LAMBDA": f"http://127.0.0.1:{lambda_socket().getsockname()[1]}",
        "AWS_ACCESS_KEY_ID": MOTO_KEY,
        "AWS_SECRET_ACCESS_KEY": MOTO_SECRET,
        "AWS_DEFAULT_REGION": REGION,
    }


@contextmanager
def embedded_stack(root: Path, extra_env: dict[str, str] | None = None) -> Iterator[Stack]:
    data_dir = root / "data"
    with moto_s3_server() as aws_url:
        env = _tuned(
            server_env(
                data_dir,
                None,
                STAGELINE_WORKERS="8",
                **secret_stores_env(aws_url),
                **(extra_env or {}),
            )
        )
        with running_server(data_dir, env=env) as server:
            yield Stack("embedded", root, server, aws_url=aws_url)


@contextmanager
def production_stack(root: Path, extra_env: dict[str, str] | None = None) -> Iterator[Stack]:
    with ExitStack() as cleanup:
        broker = RedisServer(root)
        broker.start()
        cleanup.callback(broker.kill)
        database_url = cleanup.enter_context(postgres_database())
        s3_url = cleanup.enter_context(moto_s3_server())
        shared = {
            "STAGELINE_BROKER_URL": broker.url,
            "STAGELINE_ARTIFACT_STORE": "s3",
            # The API and the workers decrypt the same connection credentials.
            "STAGELINE_SECRET_KEY": Fernet.generate_key().decode(),
            **s3_env(s3_url),
            **secret_stores_env(s3_url),
            **(extra_env or {}),
        }
        data_dir = root / "serve"
        serve_env = _tuned(server_env(data_dir, database_url, **shared))
        server = cleanup.enter_context(running_server(data_dir, database_url, env=serve_env))
        worker_env = _tuned(
            server_env(
                data_dir, database_url, **shared, STAGELINE_WORKERS="4", STAGELINE_LOG_LEVEL="info"
            )
        )
        stack = Stack("production", root, server, s3_url, s3_url, database_url, broker, worker_env)

        def stop_workers() -> None:
            for worker in stack.workers:
                _stop(worker.process)

        cleanup.callback(stop_workers)
        stack.start_worker()
        stack.start_worker()
        yield stack
