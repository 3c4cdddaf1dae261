"""No secret reaches a console page or log: the access key's secret, the session key, custom
actions' secret properties, build secrets from Secrets Manager."""

from __future__ import annotations

import html
import json
import re

from tests.console.conftest import ConsoleClient, read_events, simple
from tests.executions.declarations import approval, stage, unique
from tests.executions.stack import Stack
from tests.executions.test_codebuild_action import codebuild, pipeline_project
from tests.support.servers import SECRET_ACCESS_KEY


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


def test_only_web_links_are_drawn(stack: Stack, console: ConsoleClient) -> None:
    """External URLs come from job workers, third parties and configuration: an https one is
    a link, a javascript: one is not."""
    safe, safe_run = simple(
        stack, "console-link", stage("Gate", approval(link="https://example.com/release/1"))
    )
    evil, evil_run = simple(
        stack, "console-evil", stage("Gate", approval(link="javascript:alert(document.cookie)"))
    )
    for name, run in ((safe, safe_run), (evil, evil_run)):
        stack.wait_for(
            "the approval to wait",
            lambda name=name: (
                stack.state(name)["stageStates"][1]["actionStates"][0].get("latestExecution") or {}
            ).get("token"),
        )
        assert stack.execution(name, run)["status"] == "InProgress"
    assert (
        'href="https://example.com/release/1"'
        in console.http.get(f"/console/pipelines/{safe}").text
    )
    for path in (f"/console/pipelines/{evil}", f"/console/pipelines/{evil}/executions/{evil_run}"):
        assert "javascript:" not in console.http.get(path).text.lower()
