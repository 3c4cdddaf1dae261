"""The baseline of bench/orchestration.py: a bare Celery task that runs `true` in a
subprocess, on the same broker, with the same acks_late / prefetch 1 settings."""

from __future__ import annotations

import os
import subprocess

from celery import Celery

broker = os.environ["BENCH_BROKER_URL"]
app = Celery("bare", broker=broker, backend=broker)
app.conf.update(
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    task_default_queue="bare",
    worker_hijack_root_logger=False,
)


@app.task(name="bare.run_true")
def run_true() -> int:
    return subprocess.run(["true"], check=False).returncode
