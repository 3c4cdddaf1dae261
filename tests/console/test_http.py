"""The console over plain HTTP (httpx): sign-in, the session cookie, CSRF on every POST,
refusals with the service's message, filters, not-found answers. Streams: test_streams.py;
secrets: test_secrets.py."""

from __future__ import annotations

import re

import httpx
from tests.console.conftest import ConsoleClient, simple
from tests.executions.declarations import approval, commands, stage
from tests.executions.stack import Stack
from tests.support.servers import ACCESS_KEY_ID, SECRET_ACCESS_KEY


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
        assert post.status_code == 303 and post.headers["location"] == "/console/sign-in"
        assert "session ended" in http.get("/console/sign-in").text
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


def test_guessing_a_secret_is_slowed_down(stack: Stack) -> None:
    guesser = ConsoleClient(stack.server.url)
    try:
        key = "AKIAGUESSED000000001"
        codes = [guesser.sign_in(key=key, secret=f"guess-{i}").status_code for i in range(11)]
        assert codes == [401] * 10 + [429], codes
        assert "Too many failed sign-ins" in guesser.sign_in(key=key).text
        # Other keys are not locked out by it.
        assert guesser.sign_in().status_code == 303
    finally:
        guesser.close()
