"""moto's S3-compatible server as a real subprocess, for tests that need a real S3 endpoint.

    with moto_s3_server() as url:
        env = {**os.environ, **s3_env(url)}  # for a subprocess (e.g. a Stageline server)
        s3 = boto3.client("s3", endpoint_url=url, ...)

The server keeps all state in memory and serves every AWS service moto knows on one port;
use fresh bucket names per test (or `reset_moto(url)`) when one server is shared.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from tests.support.servers import free_port

ACCESS_KEY_ID = "testing"
SECRET_ACCESS_KEY = "testing"
REGION = "us-east-1"
STARTUP_TIMEOUT = 30.0


def s3_env(url: str) -> dict[str, str]:
    """Environment that points boto3 (and the AWS CLI) at the server with dummy credentials."""
    return {
        "AWS_ENDPOINT_URL_S3": url,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        "AWS_DEFAULT_REGION": REGION,
    }


def reset_moto(url: str) -> None:
    """Forget every bucket and object the server holds."""
    httpx.post(f"{url}/moto-api/reset", timeout=10).raise_for_status()


@contextmanager
def moto_s3_server() -> Iterator[str]:
    """Start `python -m moto.server` on a free 127.0.0.1 port; yield its URL; stop it."""
    with tempfile.TemporaryDirectory(prefix="moto-") as tmp:
        log_path = Path(tmp) / "moto.log"
        for attempt in range(3):  # the free port may be taken before moto binds it
            port = free_port()
            proc = _start(port, log_path)
            try:
                url = f"http://127.0.0.1:{port}"
                if _wait_until_up(proc, url):
                    yield url
                    return
                if attempt == 2:
                    raise RuntimeError(f"moto server did not start:\n{_tail(log_path)}")
            finally:
                _stop(proc)


def _start(port: int, log_path: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
    env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET_ACCESS_KEY)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )


def _wait_until_up(proc: subprocess.Popen[bytes], url: str) -> bool:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            httpx.get(f"{url}/moto-api/data.json", timeout=2)
            return True
        except httpx.HTTPError:
            time.sleep(0.1)
    return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
