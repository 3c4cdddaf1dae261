"""GET /api/v1/pipelines/{name}/executions/{id}/actions/{action}/logs over HTTP against a real
`stageline serve` (SQLite and Postgres): whole logs, and logs followed while an action runs."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
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
)
from tests.support.servers import ACCESS_KEY_ID, SECRET_ACCESS_KEY, Server

AUTH = (ACCESS_KEY_ID, SECRET_ACCESS_KEY)
BASE = "/api/v1/pipelines"
RUNNING = re.compile(
    r"^\[Container\] \d{4}/\d\d/\d\d \d\d:\d\d:\d\d(?:\.\d+)? Running command (.*)$", re.M
)


@pytest.fixture
def api(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, auth=AUTH, timeout=30) as c:
        yield c


def error_code(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    assert response.json()["error"]["message"]
    return code


def run_pipeline(server: Server, api: httpx.Client, prefix: str, *lines: str) -> tuple[str, str]:
    """Create a Source → Build pipeline running `lines` and start it: (name, execution id)."""
    bucket = source_bucket(server.data_dir, {"hello.txt": "hello from the source\n"})
    name = unique(prefix)
    declaration = runnable_pipeline(name, bucket, stage("Build", commands("Build", list(lines))))
    created = api.post(BASE, json={"pipeline": declaration})
    assert created.status_code == 201, created.text
    started = api.post(f"{BASE}/{name}/executions", json={})
    assert started.status_code == 201, started.text
    return name, started.json()["pipelineExecutionId"]


def logs_url(name: str, execution_id: str, action: str) -> str:
    return f"{BASE}/{name}/executions/{execution_id}/actions/{action}/logs"


def test_log_of_an_ended_action(server: Server, api: httpx.Client, cp: Any) -> None:
    name, execution_id = run_pipeline(
        server, api, "rest-logs-whole", "echo build-says-hi", "cat hello.txt", "echo to-stderr >&2"
    )
    wait_for_execution(cp, name, execution_id, "Succeeded")

    response = api.get(logs_url(name, execution_id, "Build"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert RUNNING.findall(text) == ["echo build-says-hi", "cat hello.txt", "echo to-stderr >&2"]
    lines = text.splitlines()
    # Each command's announcement, then its output (stdout and stderr alike).
    for announced, output in (
        ("echo build-says-hi", "build-says-hi"),
        ("cat hello.txt", "hello from the source"),
        ("echo to-stderr >&2", "to-stderr"),
    ):
        at = next(
            i for i, line in enumerate(lines) if line.endswith(f"Running command {announced}")
        )
        assert lines[at + 1] == output, text

    # follow=true on an ended action returns the same log at once.
    followed = api.get(logs_url(name, execution_id, "Build"), params={"follow": "true"})
    assert followed.status_code == 200
    assert followed.text == text

    source = api.get(logs_url(name, execution_id, "Source"))
    assert source.status_code == 200
    assert "Copying s3://" in source.text and "to output artifact SourceOutput" in source.text


def test_follow_streams_a_running_action_until_it_ends(
    server: Server, api: httpx.Client, cp: Any
) -> None:
    name, execution_id = run_pipeline(
        server, api, "rest-logs-follow", "echo first; sleep 2; echo second"
    )
    wait_for_action(cp, name, execution_id, "Build", "InProgress")

    # (arrival time, everything received so far), per chunk of the response
    received: list[tuple[float, str]] = []
    status_when_first_seen: str | None = None
    timeout = httpx.Timeout(30, read=20)
    with (
        httpx.Client(base_url=server.url, auth=AUTH, timeout=timeout) as streaming,
        streaming.stream(
            "GET", logs_url(name, execution_id, "Build"), params={"follow": "true"}
        ) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        for chunk in response.iter_text():
            so_far = (received[-1][1] if received else "") + chunk
            received.append((time.monotonic(), so_far))
            if status_when_first_seen is None and "\nfirst\n" in so_far:
                status_when_first_seen = wait_for_action(
                    cp, name, execution_id, "Build", ("InProgress", "Succeeded", "Failed")
                )["status"]
    ended = time.monotonic()

    text = received[-1][1]
    assert "Running command echo first; sleep 2; echo second" in text
    lines = text.splitlines()
    assert lines.index("first") < lines.index("second"), text
    assert lines[-1].startswith("[Container]") and "POST_BUILD" in text  # the phases' ends
    # "first" came while the action was still running, well before "second" ...
    assert status_when_first_seen == "InProgress", received
    first_at, with_first = next((t, s) for t, s in received if "\nfirst\n" in s)
    second_at = next(t for t, s in received if "\nsecond\n" in s)
    assert "second\n" not in with_first.split("\nfirst\n", 1)[1]
    assert second_at - first_at > 1.0, received
    # ... and the response ended once the action had: nothing was left to follow.
    assert ended - second_at < 5.0
    build = wait_for_action(cp, name, execution_id, "Build", "Succeeded", timeout=5)
    assert build["status"] == "Succeeded"
    assert api.get(logs_url(name, execution_id, "Build")).text == text


def test_unknown_action_execution_or_pipeline_is_404(
    server: Server, api: httpx.Client, cp: Any
) -> None:
    name, execution_id = run_pipeline(server, api, "rest-logs-404", "echo hi")
    wait_for_execution(cp, name, execution_id, "Succeeded")

    for follow in ("false", "true"):
        action = api.get(logs_url(name, execution_id, "NoSuchAction"), params={"follow": follow})
        assert action.status_code == 404, action.text
        assert error_code(action) == "ActionExecutionNotFoundException"
        assert "NoSuchAction" in action.json()["error"]["message"]

    execution = api.get(logs_url(name, "00000000-0000-0000-0000-000000000000", "Build"))
    assert execution.status_code == 404
    assert error_code(execution) == "PipelineExecutionNotFoundException"

    pipeline = api.get(logs_url(unique("rest-logs-missing"), execution_id, "Build"))
    assert pipeline.status_code == 404
    assert error_code(pipeline) == "PipelineNotFoundException"


def test_logs_need_authentication(server: Server, api: httpx.Client, cp: Any) -> None:
    name, execution_id = run_pipeline(server, api, "rest-logs-anon", "echo secret-output")
    wait_for_execution(cp, name, execution_id, "Succeeded")
    url = logs_url(name, execution_id, "Build")
    wrong = (ACCESS_KEY_ID, "wrong-" + SECRET_ACCESS_KEY)
    for auth in (None, wrong):
        for follow in ("false", "true"):
            response = httpx.get(server.url + url, params={"follow": follow}, auth=auth, timeout=30)
            assert response.status_code == 401, response.text
            assert error_code(response) == "UnrecognizedClientException"
            assert "secret-output" not in response.text
    assert "secret-output" in api.get(url).text
