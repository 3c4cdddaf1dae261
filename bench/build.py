"""Build overhead: a CodeBuild action (and a StartBuild build) whose buildspec runs `true`,
against running `true` directly in a subprocess, in the same run.

    python bench/build.py [--runs N] [--mode embedded|celery|both]

Embedded mode starts one `stageline serve` on SQLite; Celery mode Postgres, a dedicated
redis-server, `stageline serve` and two `stageline worker` processes (bench/orchestration.py's
stacks). For each it times, from the server's own timestamps:
- CodeBuild action: the action's startTime (attempt scheduled) to lastUpdateTime (result
  recorded) — dispatch, claim, build row, workspace, phases, phase records, result;
- Commands action running `true`, the same way (what the build machinery adds over it);
- StartBuild build: the build's startTime to endTime;
and prints p50/p99 and the overhead over the baseline's p50. Target: under 100 ms per build
(AWS's queue and provisioning add tens of seconds to minutes). A report, not a test: exit 0.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from orchestration import (  # noqa: E402
    celery_stack,
    embedded_stack,
    pct,
    pipeline,
    progress,
    source_zip,
    wait,
)
from tests.support.servers import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY  # noqa: E402

TRUE_SPEC = "version: 0.2\nphases:\n  build:\n    commands:\n      - true\n"
ENVIRONMENT = {
    "type": "LINUX_CONTAINER",
    "image": "aws/codebuild/standard:7.0",
    "computeType": "BUILD_GENERAL1_SMALL",
}


def client(url: str, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
        config=Config(retries={"max_attempts": 1}),
    )


def baseline(runs: int) -> list[float]:
    """`true` in a subprocess, as the bench process itself runs it."""
    for _ in range(20):
        subprocess.run(["true"], check=True)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(["true"], check=True)
        times.append(time.perf_counter() - start)
    return times


def make_project(url: str, name: str, source: str, artifacts: str) -> str:
    """A project whose buildspec runs `true`."""
    client(url, "codebuild").create_project(
        name=name,
        source={"type": source, "buildspec": TRUE_SPEC},
        artifacts={"type": artifacts},
        environment=ENVIRONMENT,
        serviceRole="arn:aws:iam::000000000000:role/bench",
    )
    return name


def action_durations(url: str, data: Path, runs: int, suffix: str) -> dict[str, list[float]]:
    cp = client(url, "codepipeline")
    project = make_project(url, f"bench-true-{suffix}", "CODEPIPELINE", "CODEPIPELINE")
    build = {
        "name": "Build",
        "actionTypeId": {
            "category": "Build",
            "owner": "AWS",
            "provider": "CodeBuild",
            "version": "1",
        },
        "configuration": {"ProjectName": project},
        "inputArtifacts": [{"name": "Src"}],
    }
    commands = {
        "name": "Commands",
        "actionTypeId": {
            "category": "Compute",
            "owner": "AWS",
            "provider": "Commands",
            "version": "1",
        },
        "inputArtifacts": [{"name": "Src"}],
        "commands": ["true"],
    }
    source_zip(data)
    name = f"bench-build-{suffix}"
    # One stage each, so the two actions never run at the same time.
    cp.create_pipeline(pipeline=pipeline(name, [[build], [commands]], mode="QUEUED"))
    first = cp.list_pipeline_executions(pipelineName=name)["pipelineExecutionSummaries"][0]
    wait(cp, name, first["pipelineExecutionId"])
    result: dict[str, list[float]] = {"Build": [], "Commands": []}
    for i in range(runs):
        progress(f"  pipeline run {i + 1}/{runs}")
        execution_id = cp.start_pipeline_execution(name=name)["pipelineExecutionId"]
        assert wait(cp, name, execution_id) == "Succeeded"
        rows = cp.list_action_executions(
            pipelineName=name, filter={"pipelineExecutionId": execution_id}
        )["actionExecutionDetails"]
        for row in rows:
            if row["actionName"] in result:
                spent = row["lastUpdateTime"] - row["startTime"]
                result[row["actionName"]].append(spent.total_seconds())
    return result


def standalone(url: str, runs: int, suffix: str) -> list[float]:
    cb = client(url, "codebuild")
    project = make_project(url, f"bench-start-{suffix}", "NO_SOURCE", "NO_ARTIFACTS")
    times = []
    for i in range(runs + 3):
        progress(f"  StartBuild {i + 1}/{runs + 3}")
        build_id = cb.start_build(projectName=project)["build"]["id"]
        while not (build := cb.batch_get_builds(ids=[build_id])["builds"][0])["buildComplete"]:
            time.sleep(0.005)
        assert build["buildStatus"] == "SUCCEEDED", build
        if i >= 3:  # the first builds warm imports and caches up
            times.append((build["endTime"] - build["startTime"]).total_seconds())
    return times


def report(label: str, result: dict[str, list[float]], base: list[float]) -> None:
    ms, floor = 1000.0, statistics.median(base)
    print(f"\n{label}")
    print(f"  {'measure':<46}{'p50 ms':>9}{'p99 ms':>9}{'overhead p50':>14}")
    rows = [
        ("`true` in a subprocess (baseline)", base),
        ("CodeBuild action running `true`", result["Build"]),
        ("Commands action running `true`", result["Commands"]),
        ("StartBuild build running `true`", result["StartBuild"]),
    ]
    for name, values in rows:
        over = (pct(values, 0.5) - floor) * ms
        print(
            f"  {name:<46}{pct(values, 0.5) * ms:>9.1f}{pct(values, 0.99) * ms:>9.1f}{over:>12.1f}ms"
        )
    over = (pct(result["Build"], 0.5) - floor) * ms
    verdict = "meets" if over < 100 else "misses"
    print(f"  CodeBuild action overhead {over:.1f} ms per build: {verdict} the 100 ms target")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--mode", choices=["celery", "embedded", "both"], default="both")
    args = parser.parse_args()
    suffix = str(int(time.time()))
    with tempfile.TemporaryDirectory(prefix="stageline-bench-") as tmp:
        stacks = []
        if args.mode in ("embedded", "both"):
            stacks.append(("Embedded: SQLite + in-process executor", embedded_stack))
        if args.mode in ("celery", "both"):
            stacks.append(
                ("Celery: Postgres + Redis + 2 `stageline worker` processes", celery_stack)
            )
        for label, make in stacks:
            progress(f"starting {label}")
            with make(Path(tmp)) as (url, data, _broker):
                result = action_durations(url, data, args.runs, suffix)
                result["StartBuild"] = standalone(url, args.runs, suffix)
                base = baseline(max(100, args.runs * 5))
            progress("")
            report(label, result, base)
    return 0


if __name__ == "__main__":
    sys.exit(main())
