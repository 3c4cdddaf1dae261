"""Orchestration overhead: Stageline's executions on Celery against a bare Celery round trip.

    python bench/orchestration.py [--runs N] [--mode celery|embedded|both]

Celery mode starts a fresh Postgres database, a dedicated redis-server, `stageline serve` with
the broker and two `stageline worker` processes; embedded mode one `stageline serve` on SQLite.
In the same run it times a bare Celery task that runs the same `true` subprocess on the same
broker (bench/_bare_celery.py, its own worker). It prints p50/p99 of:
- action → next action: one action's recorded end to the next action running (`date` inside
  the next action's command), across stages (stage transitions) and across runOrders;
- StartPipelineExecution → Succeeded for a two-stage pipeline of `true` actions;
- actions per second sustained over parallel executions of a 20-action stage;
and the ratio of per-action overhead to the bare round trip. A report, not a test: exit 0.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from itertools import pairwise
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from tests.support.servers import (  # noqa: E402
    ACCESS_KEY_ID,
    REGION,
    SECRET_ACCESS_KEY,
    free_port,
    postgres_database,
    running_server,
    server_env,
)

ROLE = "arn:aws:iam::000000000000:role/bench"
TRUE = {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"}
STAMP = "export T=$(date +%s.%N)"  # when the action began running, read back as a variable


def progress(text: str) -> None:
    sys.stderr.write(f"\r\033[K{text}")
    sys.stderr.flush()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# -- processes ------------------------------------------------------------------------------
@contextmanager
def redis_server() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.3)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.kill()
        proc.wait()


@contextmanager
def process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def celery_stack(tmp: Path) -> Iterator[tuple[str, Path, str]]:
    with ExitStack() as stack:
        broker = stack.enter_context(redis_server())
        db = stack.enter_context(postgres_database())
        data = tmp / "celery"
        env = server_env(data, db, STAGELINE_BROKER_URL=broker, STAGELINE_WORKERS="4")
        env.pop("STAGELINE_VALIDATE_RESPONSES", None)
        server = stack.enter_context(running_server(data, db, env=env))
        for i in range(2):
            stack.enter_context(
                process([sys.executable, "-m", "stageline.cli", "worker"], env, data / f"w{i}.log")
            )
        bare_env = {**os.environ, "BENCH_BROKER_URL": broker, "PYTHONPATH": str(ROOT / "bench")}
        stack.enter_context(
            process(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "_bare_celery",
                    "worker",
                    "-Q",
                    "bare",
                    "--pool=threads",
                    "--concurrency=4",
                    "--loglevel=WARNING",
                ],
                bare_env,
                data / "bare.log",
            )
        )
        time.sleep(3)  # workers connect
        yield server.url, data, broker


@contextmanager
def embedded_stack(tmp: Path) -> Iterator[tuple[str, Path, str]]:
    data = tmp / "embedded"
    env = server_env(data, None, STAGELINE_WORKERS="8")
    env.pop("STAGELINE_VALIDATE_RESPONSES", None)
    with running_server(data, env=env) as server:
        yield server.url, data, ""


# -- pipelines ------------------------------------------------------------------------------
def source_zip(data: Path) -> None:
    bucket = data / "artifacts" / "bench-source"
    bucket.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("README", "bench\n")
    (bucket / "src.zip").write_bytes(buf.getvalue())


def pipeline(
    name: str, stages: list[list[dict[str, Any]]], mode: str = "PARALLEL"
) -> dict[str, Any]:
    source = {
        "name": "Src",
        "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
        "configuration": {"S3Bucket": "bench-source", "S3ObjectKey": "src.zip"},
        "outputArtifacts": [{"name": "Src"}],
    }
    return {
        "name": name,
        "roleArn": ROLE,
        "pipelineType": "V2",
        "executionMode": mode,
        "artifactStore": {"type": "S3", "location": "bench-artifacts"},
        "stages": [{"name": "Source", "actions": [source]}]
        + [{"name": f"S{i}", "actions": actions} for i, actions in enumerate(stages)],
    }


def true_action(name: str, run_order: int = 1, stamp: bool = True) -> dict[str, Any]:
    action: dict[str, Any] = {
        "name": name,
        "actionTypeId": TRUE,
        "runOrder": run_order,
        "inputArtifacts": [{"name": "Src"}],
        "commands": [STAMP if stamp else "true"],
    }
    if stamp:
        action["outputVariables"] = ["T"]
    return action


def wait(cp: Any, name: str, execution_id: str, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = cp.get_pipeline_execution(pipelineName=name, pipelineExecutionId=execution_id)[
            "pipelineExecution"
        ]["status"]
        if status != "InProgress":
            return str(status)
        time.sleep(0.005)
    raise TimeoutError(f"{name} {execution_id} still running after {timeout}s")


def hops(cp: Any, name: str, execution_id: str) -> list[float]:
    """Seconds from each action's recorded end to the next action's own start stamp."""
    rows = cp.list_action_executions(
        pipelineName=name, filter={"pipelineExecutionId": execution_id}
    )["actionExecutionDetails"]
    timed = sorted(
        (float(r["output"]["outputVariables"]["T"]), r["lastUpdateTime"].timestamp())
        for r in rows
        if (r["output"].get("outputVariables") or {}).get("T")
    )
    return [nxt[0] - prev[1] for prev, nxt in pairwise(timed)]


def measure(url: str, data: Path, runs: int) -> dict[str, list[float] | float]:
    cp = boto3.client(
        "codepipeline",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
        config=Config(retries={"max_attempts": 1}),
    )
    source_zip(data)
    suffix = str(int(time.time()))
    stages10, chain10, two = f"ten-stages-{suffix}", f"run-orders-{suffix}", f"two-{suffix}"
    fan = f"fan-out-{suffix}"
    cp.create_pipeline(pipeline=pipeline(stages10, [[true_action("A")] for _ in range(10)]))
    cp.create_pipeline(
        pipeline=pipeline(chain10, [[true_action(f"A{i}", i + 1) for i in range(10)]])
    )
    cp.create_pipeline(pipeline=pipeline(two, [[true_action("A", stamp=False)]]))
    cp.create_pipeline(
        pipeline=pipeline(fan, [[true_action(f"P{i}", stamp=False) for i in range(20)]])
    )
    time.sleep(2)  # let the CreatePipeline runs finish
    result: dict[str, list[float] | float] = {"stage": [], "runorder": [], "e2e": []}
    for i in range(runs):
        progress(f"  run {i + 1}/{runs}: 10 stages, 10 runOrders, two-stage")
        for name, key in ((stages10, "stage"), (chain10, "runorder")):
            eid = cp.start_pipeline_execution(name=name)["pipelineExecutionId"]
            assert wait(cp, name, eid) == "Succeeded", f"{name} did not succeed"
            result[key].extend(hops(cp, name, eid))  # type: ignore[union-attr]
        start = time.perf_counter()
        eid = cp.start_pipeline_execution(name=two)["pipelineExecutionId"]
        assert wait(cp, two, eid) == "Succeeded"
        result["e2e"].append(time.perf_counter() - start)  # type: ignore[union-attr]
    progress("  throughput: 10 parallel executions of 20 parallel actions")
    start = time.perf_counter()
    ids = [cp.start_pipeline_execution(name=fan)["pipelineExecutionId"] for _ in range(10)]
    for eid in ids:
        assert wait(cp, fan, eid, timeout=300) == "Succeeded"
    result["throughput"] = 10 * 21 / (time.perf_counter() - start)
    progress("")
    return result


def bare_round_trips(broker: str, runs: int) -> list[float]:
    os.environ["BENCH_BROKER_URL"] = broker
    sys.path.insert(0, str(ROOT / "bench"))
    from _bare_celery import run_true

    for _ in range(20):
        run_true.delay().get(timeout=30)
    times = []
    for i in range(runs):
        if i % 20 == 0:
            progress(f"  bare Celery round trip {i}/{runs}")
        start = time.perf_counter()
        run_true.delay().get(timeout=30)
        times.append(time.perf_counter() - start)
    progress("")
    return times


def report(label: str, result: dict[str, Any], bare: list[float] | None) -> None:
    ms = 1000.0
    print(f"\n{label}")
    print(f"  {'measure':<42}{'p50 ms':>9}{'p99 ms':>9}  target")
    rows = [
        ("action → next action (across runOrders)", result["runorder"], "p50 ≤ 20, p99 ≤ 100"),
        ("stage transition (action → next stage)", result["stage"], "p50 ≤ 20, p99 ≤ 100"),
        ("StartPipelineExecution → Succeeded, 2 stages", result["e2e"], "p50 ≤ 1000"),
    ]
    if bare:
        rows.append(("bare Celery task running `true` (baseline)", bare, ""))
    for name, values, target in rows:
        print(f"  {name:<42}{pct(values, 0.5) * ms:>9.1f}{pct(values, 0.99) * ms:>9.1f}  {target}")
    print(
        f"  {'actions per second (20-wide stage, 10 runs)':<42}{result['throughput']:>9.0f}"
        f"{'':>9}  ≥ 500"
    )
    if bare:
        ratio = statistics.median(result["runorder"]) / statistics.median(bare)
        print(f"  per-action overhead / bare round trip (p50): {ratio:.1f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--mode", choices=["celery", "embedded", "both"], default="both")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="stageline-bench-") as tmp:
        if args.mode in ("celery", "both"):
            progress("starting Postgres database, redis-server, serve and 2 workers")
            with celery_stack(Path(tmp)) as (url, data, broker):
                result = measure(url, data, args.runs)
                bare = bare_round_trips(broker, max(100, args.runs * 10))
            report(
                "Celery: Postgres + Redis + 2 `stageline worker` processes (4 threads each)",
                result,
                bare,
            )
        if args.mode in ("embedded", "both"):
            progress("starting embedded stageline serve (SQLite, in-process executor)")
            with embedded_stack(Path(tmp)) as (url, data, _):
                result = measure(url, data, args.runs)
            report("Embedded: SQLite + in-process executor (8 threads)", result, None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
