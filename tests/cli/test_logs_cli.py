"""`stageline logs PIPELINE [--execution ID] [--action NAME] [--follow]` as a user runs it: a
subprocess talking to a real `stageline serve` (SQLite and Postgres) over the REST API."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.running import (
    commands,
    runnable_pipeline,
    source_bucket,
    stage,
    unique,
    wait_for_action,
    wait_for_execution,
    wait_until,
)
from tests.support.servers import ACCESS_KEY_ID, SECRET_ACCESS_KEY, Server

AUTH = (ACCESS_KEY_ID, SECRET_ACCESS_KEY)
BASE = "/api/v1/pipelines"
HEADER = re.compile(r"^==> (\S+)/(\S+) \((\w+)\) <==$", re.M)


def cli_env(**extra: str) -> dict[str, str]:
    """The environment without STAGELINE_* or AWS_* settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STAGELINE_", "AWS_"))}
    env.update(extra)
    return env


def with_keys(**extra: str) -> dict[str, str]:
    return cli_env(
        AWS_ACCESS_KEY_ID=ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET_ACCESS_KEY, **extra
    )


def logs_cmd(server: Server, *args: str) -> list[str]:
    return [sys.executable, "-m", "stageline.cli", "logs", *args, "--endpoint-url", server.url]


def run_logs(server: Server, *args: str, env: dict[str, str] | None = None) -> Any:
    return subprocess.run(
        logs_cmd(server, *args),
        env=env if env is not None else with_keys(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def sections(stdout: str) -> list[tuple[str, str, str, str]]:
    """(stage, action, status, log) per `==> Stage/Action (Status) <==` header, in order."""
    headers = list(HEADER.finditer(stdout))
    found = []
    for i, match in enumerate(headers):
        end = headers[i + 1].start() if i + 1 < len(headers) else len(stdout)
        found.append((match[1], match[2], match[3], stdout[match.end() : end]))
    return found


def create_and_start(
    server: Server, prefix: str, *stages: dict[str, Any], **extra: Any
) -> tuple[str, str]:
    bucket = source_bucket(server.data_dir, {"notes.txt": "from the source zip\n"})
    name = unique(prefix)
    with httpx.Client(base_url=server.url, auth=AUTH, timeout=30) as api:
        created = api.post(
            BASE, json={"pipeline": runnable_pipeline(name, bucket, *stages, **extra)}
        )
        assert created.status_code == 201, created.text
        return name, start(server, name)


def start(server: Server, name: str, **body: Any) -> str:
    with httpx.Client(base_url=server.url, auth=AUTH, timeout=30) as api:
        started = api.post(f"{BASE}/{name}/executions", json=body)
    assert started.status_code == 201, started.text
    execution_id: str = started.json()["pipelineExecutionId"]
    return execution_id


def two_build_stages(server: Server, prefix: str) -> tuple[str, str]:
    return create_and_start(
        server,
        prefix,
        stage("Build", commands("Build", ["echo compiling", "cat notes.txt"])),
        stage("Test", commands("Test", ["echo all-tests-pass"])),
    )


def test_prints_every_action_with_a_header(server: Server, cp: Any) -> None:
    name, execution_id = two_build_stages(server, "cli-logs-all")
    wait_for_execution(cp, name, execution_id, "Succeeded")

    result = run_logs(server, name)
    assert result.returncode == 0, result.stderr
    found = sections(result.stdout)
    assert [(s, a, status) for s, a, status, _ in found] == [
        ("Source", "Source", "Succeeded"),
        ("Build", "Build", "Succeeded"),
        ("Test", "Test", "Succeeded"),
    ], result.stdout
    logs = {action: log for _, action, _, log in found}
    assert "to output artifact SourceOutput" in logs["Source"]
    assert "Running command echo compiling\ncompiling\n" in logs["Build"]
    assert "Running command cat notes.txt\nfrom the source zip\n" in logs["Build"]
    assert "all-tests-pass" not in logs["Build"]
    assert "Running command echo all-tests-pass\nall-tests-pass\n" in logs["Test"]


def test_action_option_filters(server: Server, cp: Any) -> None:
    name, execution_id = two_build_stages(server, "cli-logs-action")
    wait_for_execution(cp, name, execution_id, "Succeeded")

    result = run_logs(server, name, "--action", "Test")
    assert result.returncode == 0, result.stderr
    [(stage_name, action, status, log)] = sections(result.stdout)
    assert (stage_name, action, status) == ("Test", "Test", "Succeeded")
    assert "all-tests-pass" in log
    assert "compiling" not in result.stdout

    nothing = run_logs(server, name, "--action", "NoSuchAction")
    assert nothing.returncode == 0, nothing.stderr
    assert sections(nothing.stdout) == []


def test_execution_option_picks_an_older_run(server: Server, cp: Any) -> None:
    name, older = create_and_start(
        server,
        "cli-logs-older",
        stage("Build", commands("Build", ["echo 'run=#{variables.RUN}'"])),
        variables=[{"name": "RUN", "defaultValue": "first-run"}],
    )
    wait_for_execution(cp, name, older, "Succeeded")
    newer = start(server, name, variables=[{"name": "RUN", "value": "second-run"}])
    wait_for_execution(cp, name, newer, "Succeeded")

    latest = run_logs(server, name, "--action", "Build")
    assert latest.returncode == 0, latest.stderr
    assert "run=second-run" in latest.stdout
    assert "run=first-run" not in latest.stdout

    chosen = run_logs(server, name, "--action", "Build", "--execution", older)
    assert chosen.returncode == 0, chosen.stderr
    assert "run=first-run" in chosen.stdout
    assert "run=second-run" not in chosen.stdout

    unknown = run_logs(server, name, "--execution", "00000000-0000-0000-0000-000000000000")
    assert unknown.returncode != 0
    assert "PipelineExecutionNotFoundException" in unknown.stderr
    assert "Traceback" not in unknown.stderr


def test_follow_prints_lines_as_they_come_and_exits_when_the_run_ends(
    server: Server, cp: Any
) -> None:
    name, execution_id = create_and_start(
        server,
        "cli-logs-follow",
        stage("Build", commands("Build", ["echo first; sleep 3; echo second"])),
        stage("Test", commands("Test", ["echo after-build"])),
    )
    wait_for_action(cp, name, execution_id, "Build", "InProgress")

    lines: list[tuple[float, str]] = []
    process = subprocess.Popen(
        logs_cmd(server, name, "--follow"),
        env=with_keys(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append((time.monotonic(), line.rstrip("\n")))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        wait_until(
            lambda: any(line == "first" for _, line in lines),
            timeout=30,
            message=lambda: f"'first' from stageline logs --follow; got {lines}",
        )
        # Printed while the run was still going: the execution has not ended yet.
        running = cp.get_pipeline_execution(pipelineName=name, pipelineExecutionId=execution_id)
        assert running["pipelineExecution"]["status"] == "InProgress"
        returncode = process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    reader.join(timeout=10)
    assert process.stderr is not None
    stderr = process.stderr.read()
    assert returncode == 0, stderr

    wait_for_execution(cp, name, execution_id, "Succeeded", timeout=5)
    text = [line for _, line in lines]
    first_at = next(t for t, line in lines if line == "first")
    second_at = next(t for t, line in lines if line == "second")
    assert second_at - first_at > 1.5, lines
    headers = [line for line in text if HEADER.match(line)]
    assert [h.split(" (")[0] for h in headers] == [
        "==> Source/Source",
        "==> Build/Build",
        "==> Test/Test",
    ], text
    assert text.index("second") < text.index("after-build")


def test_missing_pipeline_is_a_readable_error(server: Server) -> None:
    missing = unique("cli-logs-missing")
    result = run_logs(server, missing)
    assert result.returncode != 0
    assert "PipelineNotFoundException" in result.stderr
    assert missing in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_without_credentials_it_says_so(server: Server, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    # Nothing but a PATH and an empty home: no keys in the environment, no data dir with keys.
    bare = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)}
    result = run_logs(server, unique("cli-logs-nokeys"), env=bare)
    assert result.returncode != 0
    assert "no credentials" in result.stderr
    assert "AWS_ACCESS_KEY_ID" in result.stderr
    assert "Traceback" not in result.stderr


def test_wrong_credentials_are_a_readable_error(server: Server) -> None:
    env = cli_env(AWS_ACCESS_KEY_ID=ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY="wrong-secret")
    result = run_logs(server, unique("cli-logs-badkeys"), env=env)
    assert result.returncode != 0
    assert "UnrecognizedClientException" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("source", ["data-dir", "root-env"])
def test_credentials_from_data_dir_or_root_env(
    server: Server, cp: Any, tmp_path: Path, source: str
) -> None:
    name, execution_id = create_and_start(
        server, "cli-logs-keys", stage("Build", commands("Build", ["echo keyed"]))
    )
    wait_for_execution(cp, name, execution_id, "Succeeded")
    if source == "data-dir":
        data_dir = tmp_path / "data"
        data_dir.mkdir()
        (data_dir / "credentials.json").write_text(
            f'{{"access_key_id": "{ACCESS_KEY_ID}", "secret_access_key": "{SECRET_ACCESS_KEY}"}}'
        )
        result = run_logs(server, name, "--data-dir", str(data_dir), env=cli_env())
    else:
        env = cli_env(
            STAGELINE_ROOT_ACCESS_KEY_ID=ACCESS_KEY_ID,
            STAGELINE_ROOT_SECRET_ACCESS_KEY=SECRET_ACCESS_KEY,
        )
        result = run_logs(server, name, env=env)
    assert result.returncode == 0, result.stderr
    assert "\nkeyed\n" in result.stdout
