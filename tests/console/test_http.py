"""The console over plain HTTP (httpx): sign-in, the session cookie, CSRF on every POST, the
event streams' format, not-found answers, and no secret in any page."""

from __future__ import annotations

import html
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import httpx
from tests.console.conftest import ConsoleClient
from tests.executions.declarations import approval, commands, pipeline, s3_source, stage, unique
from tests.executions.stack import Stack
from tests.executions.test_codebuild_action import codebuild, pipeline_project
from tests.support.servers import ACCESS_KEY_ID, SECRET_ACCESS_KEY, running_server


def simple(stack: Stack, prefix: str, *extra: dict[str, Any]) -> tuple[str, str]:
    name, bucket = unique(prefix), unique("src")
    stack.put_source(bucket, "app.zip", {"a.txt": "a"})
    execution_id = stack.create_pipeline(pipeline(name, stage("Source", s3_source(bucket)), *extra))
    return name, execution_id


def test_the_root_and_every_page_send_strangers_to_sign_in(stack: Stack) -> None:
    with httpx.Client(base_url=stack.server.url) as http:
        root = http.get("/")
        assert root.status_code == 307 and root.headers["location"] == "/console"
        page = http.get("/console/pipelines/x/executions?status=Failed")
        assert page.status_code == 303
        assert page.headers["location"] == (
            "/console/sign-in?next=%2Fconsole%2Fpipelines%2Fx%2Fexecutions%3Fstatus%3DFailed"
        )
        stream = http.get("/console/events/changes")
        assert stream.status_code == 401
        post = http.post("/console/pipelines/x/start", data={"csrf": "x"})
        assert post.status_code == 401
        # POST / is still the AWS endpoint.
        aws = http.post("/", content=b"{}")
        assert aws.status_code in (400, 403) and "x-amzn-errortype" in aws.headers


def test_sign_in_refuses_a_wrong_secret_and_sets_a_safe_cookie(stack: Stack) -> None:
    console = ConsoleClient(stack.server.url)
    try:
        refused = console.sign_in(secret="wrong-" + SECRET_ACCESS_KEY)
        assert refused.status_code == 401
        assert "The access key id or secret is not valid." in refused.text
        assert "wrong-" not in refused.text  # the typed secret is not echoed back
        assert console.http.get("/console").status_code == 303
        assert console.sign_in(key="AKIAUNKNOWN000000000").status_code == 401

        accepted = console.sign_in()
        assert accepted.status_code == 303 and accepted.headers["location"] == "/console"
        cookie = accepted.headers["set-cookie"]
        for attribute in ("HttpOnly", "SameSite=strict", "Path=/console", "Max-Age=43200"):
            assert attribute.lower() in cookie.lower(), cookie
        assert "secure" not in cookie.lower()  # plain http here: Secure only over https
        assert SECRET_ACCESS_KEY not in cookie
        page = console.http.get("/console")
        assert page.status_code == 200 and ACCESS_KEY_ID in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]

        # Behind a TLS proxy (X-Forwarded-Proto from a trusted address), the cookie is Secure.
        with httpx.Client(base_url=stack.server.url) as proxied:
            form = proxied.get("/console/sign-in", headers={"X-Forwarded-Proto": "https"})
            assert "; secure" in form.headers["set-cookie"].lower()

        # A tampered cookie is no session.
        value = console.http.cookies["sl_session"]
        console.http.cookies.set("sl_session", value[:-2] + "xx", path="/console")
        assert console.http.get("/console").status_code == 303
    finally:
        console.close()


def test_sign_in_needs_the_sign_in_pages_token(stack: Stack) -> None:
    with httpx.Client(base_url=stack.server.url) as http:
        forged = http.post(
            "/console/sign-in",
            data={"access_key_id": ACCESS_KEY_ID, "secret": SECRET_ACCESS_KEY},
        )
        assert forged.status_code == 403
        assert "CSRF" in forged.text


def test_a_post_without_the_csrf_token_is_refused(stack: Stack, console: ConsoleClient) -> None:
    name, execution_id = simple(stack, "console-csrf", stage("Gate", approval()))
    before = len(
        stack.client().list_pipeline_executions(pipelineName=name)["pipelineExecutionSummaries"]
    )
    for token in (None, "", "not-the-token", csrf_of_other_session(stack)):
        data = {"csrf": token} if token is not None else {}
        refused = console.http.post(f"/console/pipelines/{name}/start", data=data)
        assert refused.status_code == 403, token
        assert "security token" in refused.text
    # JSON bodies carry no form token either.
    as_json = console.http.post(f"/console/pipelines/{name}/start", json={"csrf": console.csrf})
    assert as_json.status_code == 403
    stop = console.http.post(
        f"/console/pipelines/{name}/executions/{execution_id}/stop", data={"mode": "abandon"}
    )
    assert stop.status_code == 403
    summaries = stack.client().list_pipeline_executions(pipelineName=name)[
        "pipelineExecutionSummaries"
    ]
    assert len(summaries) == before  # nothing started
    assert stack.execution(name, execution_id)["status"] == "InProgress"  # nothing stopped

    # With the token, the same request goes through the service.
    started = console.http.post(f"/console/pipelines/{name}/start", data={"csrf": console.csrf})
    assert started.status_code == 303
    assert re.search(r"/executions/[0-9a-f-]{36}$", started.headers["location"])


def csrf_of_other_session(stack: Stack) -> str:
    other = ConsoleClient(stack.server.url)
    try:
        other.sign_in()
        return other.csrf
    finally:
        other.close()


def test_refusals_show_the_services_message(stack: Stack, console: ConsoleClient) -> None:
    name, execution_id = simple(stack, "console-refuse", stage("Build", commands("B", ["true"])))
    stack.wait(name, execution_id)
    back = f"/console/pipelines/{name}"
    retried = console.http.post(
        f"/console/pipelines/{name}/executions/{execution_id}/retry",
        data={"csrf": console.csrf, "stage": "Build", "mode": "FAILED_ACTIONS", "back": back},
    )
    assert retried.status_code == 303 and retried.headers["location"] == back
    shown = console.http.get(back).text
    assert "StageNotRetryableException" in shown
    # The flash is shown once.
    assert "StageNotRetryableException" not in console.http.get(back).text

    bad_variable = console.http.post(
        f"/console/pipelines/{name}/start",
        data={"csrf": console.csrf, "var_name": "NOT_DECLARED", "var_value": "x"},
    )
    assert bad_variable.status_code == 400
    assert "NOT_DECLARED" in bad_variable.text

    bad_json = console.http.post(
        f"/console/pipelines/{name}/edit", data={"csrf": console.csrf, "pipeline_json": "{"}
    )
    assert bad_json.status_code == 400 and "Not valid JSON" in bad_json.text
    offsite = console.http.post(
        f"/console/pipelines/{name}/stages/Build/transition",
        data={"csrf": console.csrf, "change": "enable", "back": "https://evil.example/"},
    )
    assert offsite.headers["location"] == back  # never an open redirect


def read_events(lines: Iterator[str], until: str, timeout: float = 30) -> list[dict[str, str]]:
    """Parse SSE events off a stream's lines until one of kind `until` arrives."""
    events: list[dict[str, str]] = []
    current: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    for line in lines:
        if time.monotonic() > deadline:
            raise AssertionError(f"no {until} event in {timeout} s: {events}")
        if line == "":
            if current:
                events.append(current)
                if current.get("event") == until:
                    return events
            current = {}
            continue
        field, _, value = line.partition(": ")
        if field == "data" and "data" in current:
            current["data"] += "\n" + value
        else:
            current[field] = value
    raise AssertionError(f"stream ended before {until}: {events}")


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


def test_unknown_things_are_404s(stack: Stack, console: ConsoleClient) -> None:
    name, execution_id = simple(stack, "console-404", stage("Gate", approval()))
    for path, words in (
        ("/console/pipelines/no-such-pipeline", "PipelineNotFoundException"),
        ("/console/pipelines/no-such-pipeline/executions", "PipelineNotFoundException"),
        (f"/console/pipelines/{name}/executions/{'0' * 36}", "PipelineExecutionNotFound"),
        (f"/console/pipelines/{name}/versions?a=1&b=9", "PipelineVersionNotFound"),
        (f"/console/pipelines/{name}/executions/{execution_id}/actions/Nope/log", "Nope"),
        ("/console/static/%2e%2e/session.py", "Not found"),
        ("/console/static/..%2fsession.py", "Not found"),
        ("/console/static/nothing.css", "Not found"),
    ):
        response = console.http.get(path)
        assert response.status_code == 404, (path, response.status_code)
        assert words in response.text, path
        assert "Signer" not in response.text  # no source file served
    assert console.http.get("/console/static/console.js").status_code == 200


def test_no_secret_appears_in_any_page(stack: Stack, console: ConsoleClient) -> None:
    """The access key's secret, the session key and custom actions' secret properties are
    never rendered; the editor shows secret properties as ****."""
    client = stack.client()
    category, provider = "Deploy", unique("Vault")[:25]
    client.create_custom_action_type(
        category=category,
        provider=provider,
        version="1",
        settings={},
        configurationProperties=[
            {"name": "Token", "required": True, "key": False, "secret": True},
            {"name": "Target", "required": True, "key": True, "secret": False},
        ],
        inputArtifactDetails={"minimumCount": 0, "maximumCount": 1},
        outputArtifactDetails={"minimumCount": 0, "maximumCount": 1},
    )
    hidden = "hunter2-very-secret-value"
    deploy = {
        "name": "Ship",
        "actionTypeId": {
            "category": category,
            "owner": "Custom",
            "provider": provider,
            "version": "1",
        },
        "configuration": {"Token": hidden, "Target": "prod"},
        "inputArtifacts": [{"name": "SourceOutput"}],
    }
    name, execution_id = simple(stack, "console-secret", stage("Ship", deploy))
    stack.wait_for(
        "the custom action to start",
        lambda: any(a["actionName"] == "Ship" for a in stack.action_executions(name)),
    )
    session_key = (stack.server.data_dir / "session_secret").read_text().strip()
    base = f"/console/pipelines/{name}"
    pages = [
        "/console",
        base,
        f"{base}/executions",
        f"{base}/executions/{execution_id}",
        f"{base}/edit",
        f"{base}/start",
        f"{base}/versions",
    ]
    for path in pages:
        text = console.http.get(path).text
        for secret in (hidden, SECRET_ACCESS_KEY, session_key):
            assert secret not in text, f"{path} shows a secret"
    editor = console.http.get(f"{base}/edit").text
    assert "&#34;Token&#34;: &#34;****&#34;" in editor or '"Token": "****"' in editor

    # Saving the masked JSON keeps the secret (the service unmasks it), as UpdatePipeline does.
    text = re.search(r"<textarea[^>]*>(.*?)</textarea>", editor, re.S)
    assert text is not None
    saved = console.http.post(
        f"{base}/edit",
        data={"csrf": console.csrf, "pipeline_json": html.unescape(text.group(1))},
    )
    assert saved.status_code == 303, saved.text[:2000]
    assert client.get_pipeline(name=name)["pipeline"]["version"] == 2


def test_build_secrets_are_masked_in_every_page_and_log(
    stack: Stack, console: ConsoleClient
) -> None:
    """A CodeBuild action whose buildspec takes a Secrets Manager value and echoes it: the
    value shows nowhere in the console, not in its pages, its log stream or its plain log."""
    secret_name, value = unique("console-db"), "pw-console-5772156"
    stack.aws("secretsmanager").create_secret(
        Name=secret_name, SecretString=json.dumps({"password": value})
    )
    spec = (
        "version: 0.2\n"
        "env:\n"
        "  secrets-manager:\n"
        f"    DB_PASSWORD: {secret_name}:password\n"
        "phases:\n"
        "  build:\n"
        "    commands:\n"
        '      - echo "password is $DB_PASSWORD"\n'
    )
    project = pipeline_project(stack, spec)
    name, execution_id = simple(
        stack, "console-build-secret", stage("Build", codebuild("Build", project))
    )
    stack.wait(name, execution_id, timeout=120)
    base = f"/console/pipelines/{name}"
    texts = [
        console.http.get(path).text
        for path in (
            base,
            f"{base}/executions/{execution_id}",
            f"{base}/executions/{execution_id}/actions/Build/log",
            f"{base}/edit",
        )
    ]
    with console.http.stream("GET", f"/console/events/logs/{name}/{execution_id}/Build") as r:
        texts.append("\n".join(e.get("data", "") for e in read_events(r.iter_lines(), "end")))
    assert "password is ***" in texts[2] + texts[-1]
    for text in texts:
        assert value not in text


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


def test_every_console_post_route_checks_the_csrf_token(
    stack: Stack, console: ConsoleClient
) -> None:
    """Enumerated from the routers, so a POST route added later is covered too."""
    from fastapi.routing import APIRoute

    from stageline.console import actions, auth, live, pages

    posts = [
        route.path
        for router in (actions.router, auth.router, live.router, pages.router)
        for route in router.routes
        if isinstance(route, APIRoute) and "POST" in route.methods
    ]
    assert len(posts) >= 8, posts
    for path in posts:
        url = re.sub(r"\{[^}]+\}", "x", path)
        refused = console.http.post(url, data={"csrf": "forged"})
        assert refused.status_code == 403, (path, refused.status_code)


def test_filters_rejection_and_sign_out(stack: Stack, console: ConsoleClient) -> None:
    good, good_run = simple(stack, "console-filter-ok", stage("B", commands("B", ["true"])))
    bad, bad_run = simple(stack, "console-filter-bad", stage("B", commands("B", ["false"])))
    gate, gate_run = simple(stack, "console-filter-gate", stage("Gate", approval()))
    stack.wait(good, good_run)
    stack.wait(bad, bad_run, "Failed")

    failed = console.http.get("/console", params={"status": "Failed"}).text
    assert f'data-pipeline-row="{bad}"' in failed and f'data-pipeline-row="{good}"' not in failed
    found = console.http.get("/console", params={"q": good[-10:]}).text
    assert f'data-pipeline-row="{good}"' in found and f'data-pipeline-row="{bad}"' not in found
    stack.start(good)
    history = console.http.get(f"/console/pipelines/{good}/executions").text
    assert history.count("data-execution=") == 2
    only = console.http.get(
        f"/console/pipelines/{good}/executions", params={"status": "Succeeded"}
    ).text
    assert f'data-execution="{good_run}"' in only

    # Reject from the page: the run fails with the reviewer's words.
    token = stack.wait_for(
        "the approval to wait",
        lambda: (
            stack.state(gate)["stageStates"][1]["actionStates"][0].get("latestExecution") or {}
        ).get("token"),
    )
    rejected = console.http.post(
        f"/console/pipelines/{gate}/stages/Gate/approval",
        data={
            "csrf": console.csrf,
            "action": "Approve",
            "token": token,
            "decision": "Rejected",
            "summary": "Not this week",
        },
    )
    assert rejected.status_code == 303
    stack.wait(gate, gate_run, "Failed")
    assert "Approve rejected." in console.http.get(f"/console/pipelines/{gate}").text

    out = console.http.post("/console/sign-out", data={"csrf": console.csrf})
    assert out.status_code == 303 and out.headers["location"] == "/console/sign-in"
    assert 'sl_session=""' in out.headers["set-cookie"] or "Max-Age=0" in out.headers["set-cookie"]
    assert console.http.get("/console").status_code == 303
