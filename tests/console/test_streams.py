"""The console's server-sent event streams over plain HTTP: their format, a change reported
as a pipeline moves, an action's log with resumable ids, and no stream holding up a stop."""

from __future__ import annotations

import json
import threading
import time
from contextlib import suppress
from pathlib import Path

import httpx
from tests.console.conftest import ConsoleClient, read_events, simple
from tests.executions.declarations import approval, commands, pipeline, s3_source, stage, unique
from tests.executions.stack import Stack
from tests.support.servers import running_server


def test_the_change_stream_reports_a_pipeline_moving(stack: Stack, console: ConsoleClient) -> None:
    name, bucket = unique("console-sse"), unique("src")
    stack.put_source(bucket, "app.zip", {"a.txt": "a"})
    with console.http.stream(
        "GET", f"/console/events/changes?pipeline={name}", timeout=30
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines()
        assert next(lines) == "retry: 2000"
        assert next(lines) == ""
        hello = read_events(lines, "hello")[-1]
        assert json.loads(hello["data"]) == {"mark": "gone"}
        threading.Thread(
            target=stack.create_pipeline,
            args=(pipeline(name, stage("Source", s3_source(bucket)), stage("Gate", approval())),),
        ).start()
        change = read_events(lines, "change")[-1]
        assert json.loads(change["data"])["mark"] != "gone"


def test_the_log_stream_sends_the_log_then_the_end(stack: Stack, console: ConsoleClient) -> None:
    name, execution_id = simple(
        stack, "console-logs", stage("Build", commands("Build", ["echo first", "echo second"]))
    )
    stack.wait(name, execution_id)
    url = f"/console/events/logs/{name}/{execution_id}/Build"
    with console.http.stream("GET", url) as response:
        events = read_events(response.iter_lines(), "end")
    logs = [e for e in events if e.get("event") == "log"]
    text = "\n".join(e["data"] for e in logs)
    assert "first" in text and "second" in text
    assert all(e["id"].isdigit() for e in logs)
    assert json.loads(events[-1]["data"]) == {"status": "Succeeded"}
    # Resuming after the last id sends nothing again.
    headers = {"Last-Event-ID": logs[-1]["id"]}
    with console.http.stream("GET", url, headers=headers) as response:
        again = read_events(response.iter_lines(), "end")
    assert [e for e in again if e.get("event") == "log"] == []
    plain = console.http.get(
        f"/console/pipelines/{name}/executions/{execution_id}/actions/Build/log"
    )
    assert plain.headers["content-type"].startswith("text/plain") and "second" in plain.text


def test_open_event_streams_do_not_hold_a_stop(tmp_path: Path) -> None:
    """Browsers keep event streams open; `stageline serve` still stops within seconds."""
    with running_server(tmp_path / "data") as server:
        console = ConsoleClient(server.url)
        assert console.sign_in().status_code == 303
        opened = threading.Event()

        def hold() -> None:
            with (
                suppress(httpx.HTTPError),
                console.http.stream("GET", "/console/events/changes", timeout=60) as response,
            ):
                for _line in response.iter_lines():
                    opened.set()

        threading.Thread(target=hold, daemon=True).start()
        assert opened.wait(10)
        began = time.monotonic()
        server.process.terminate()
        server.process.wait(timeout=20)
        assert time.monotonic() - began < 10
        console.close()
