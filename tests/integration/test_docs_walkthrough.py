"""The git-source walkthrough of the docs runs as written: the shell blocks of
docs/connections.md (a bare repository on disk, a host, a connection), docs/triggers.md (a V2
pipeline, a signed GitHub push, a forged one, polling, a V1 webhook, PutActionRevision) and
docs/events.md (a notification rule with a Webhook target and the receiver it shows), run by
bash with the AWS CLI, curl, git and openssl against a real `stageline serve`. Only the address
(localhost:8080, the receiver's 9999) and the poll wait are adapted."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.servers import (
    Server,
    free_port,
    running_server,
    server_env,
)

DOCS = Path(__file__).resolve().parents[2] / "docs"
WAIT_FOR_POLL = """for i in $(seq 100); do
  [ "$(aws codepipeline list-pipeline-executions --pipeline-name app --output text \\
       --query 'pipelineExecutionSummaries[0].trigger.triggerType')" = PollForSourceChanges ] && break
  sleep 0.2
done"""
WAIT_FOR_RECEIVER = """for i in $(seq 100); do
  [ "$(grep -c State receiver.log)" -ge 4 ] && break; sleep 0.2
done
cat receiver.log"""


def block(page: str, marker: str) -> str:
    """The one fenced code block of docs/`page` containing `marker`."""
    found = [
        b for b in re.findall(r"```\w*\n(.*?)```", (DOCS / page).read_text(), re.S) if marker in b
    ]
    assert len(found) == 1, f"{page}: {len(found)} blocks contain {marker!r}"
    return found[0]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def embedded(home: Path) -> Iterator[Server]:
    """`stageline serve` on its defaults for this HOME: the data dir, and the root key pair
    generated there on the first start, as README describes."""
    data_dir = home / ".local" / "share" / "stageline"
    env = server_env(data_dir, None, STAGELINE_SOURCE_POLL_INTERVAL="1")
    for generated in (
        "STAGELINE_DATA_DIR",
        "STAGELINE_ROOT_ACCESS_KEY_ID",
        "STAGELINE_ROOT_SECRET_ACCESS_KEY",
    ):
        env.pop(generated)
    env["HOME"] = str(home)
    with running_server(data_dir, env=env) as server:
        yield server


def shell_env(home: Path, server: Server) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "STAGELINE_"))}
    env.update(
        HOME=str(home),
        STAGELINE_ENDPOINT=server.url,  # `stageline connections` defaults to port 8080
        GIT_AUTHOR_NAME="Dev",
        GIT_AUTHOR_EMAIL="dev@example.com",
        GIT_COMMITTER_NAME="Dev",
        GIT_COMMITTER_EMAIL="dev@example.com",
        GIT_CONFIG_GLOBAL=str(home / ".gitconfig"),
    )
    return env


def script(server: Server, receiver_port: int) -> str:
    keys = json.loads((server.data_dir / "credentials.json").read_text())
    steps = [
        # README's first step after `stageline serve`: the `aws configure` lines it prints.
        f"aws configure set aws_access_key_id {keys['access_key_id']}",
        f"aws configure set aws_secret_access_key {keys['secret_access_key']}",
        "aws configure set region us-east-1",
        block("connections.md", "git init -q --bare"),
        "echo '=== push'",
        block("triggers.md", "cat > pipeline.json"),
        "echo '=== poll'",
        block("triggers.md", 'print("v2")').replace("sleep 65", WAIT_FOR_POLL),
        "echo '=== v1'",
        # The URL names STAGELINE_PUBLIC_URL (localhost:8080); this server listens elsewhere.
        block("triggers.md", "cat > webhook.json").replace(
            "--output text)", f"--output text | sed 's#http://localhost:80[8]0#{server.url}#')"
        ),
        "echo '=== revision'",
        block("triggers.md", "put-action-revision"),
        "echo '=== events'",
        "EP=--endpoint-url=http://localhost:8080",
        "cat > receiver.py <<'PY'\n" + block("events.md", "class Hook") + "PY",
        block("events.md", "python3 receiver.py &")
        .replace("python3 receiver.py &", "python3 receiver.py > receiver.log 2>&1 &")
        .rstrip()
        + "\n"
        + WAIT_FOR_RECEIVER,
    ]
    text = "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null' EXIT\n" + "\n".join(steps)
    return (
        text.replace("http://localhost:8080", server.url)
        .replace("127.0.0.1:9999", f"127.0.0.1:{receiver_port}")
        .replace('("127.0.0.1", 9999)', f'("127.0.0.1", {receiver_port})')
    )


@pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("aws", "git", "curl", "openssl")),
    reason="needs the AWS CLI, git, curl and openssl",
)
def test_the_documented_git_walkthrough_runs_as_written(embedded: Server, home: Path) -> None:
    done = subprocess.run(
        ["bash", "-c", script(embedded, free_port())],
        cwd=home,
        env=shell_env(home, embedded),
        capture_output=True,
        text=True,
        timeout=240,
    )
    out = done.stdout
    assert done.returncode == 0, f"{out}\n{done.stderr}\n{embedded.log()}"
    setup, rest = out.split("=== push\n")
    push, rest = rest.split("=== poll\n")
    poll, rest = rest.split("=== v1\n")
    v1, rest = rest.split("=== revision\n")
    revision, events = rest.split("=== events\n")
    assert re.search(r"connection/\S+\s+AVAILABLE\s+GitLabSelfManaged\s+file://", setup)
    assert "webhook URL: http://localhost:8080/webhooks/connections/" in setup  # PUBLIC_URL
    assert '{"started":1,"pipelineExecutionIds":["' in push
    assert "AccessDeniedException" in push
    assert re.search(r"WebhookV2\s+[0-9a-f]{40}", push)
    assert re.search(r"CreatePipeline\s+[0-9a-f]{40}", push)
    assert re.match(r"PollForSourceChanges\s+Source\s+[0-9a-f]{40}", poll.splitlines()[-1])
    assert '{"started":true,"pipelineExecutionId":"' in v1 and '"****"' in v1
    assert '"newRevision": true' in revision
    received = [line.strip() for line in events.splitlines() if "State Change" in line]
    assert received == [
        "CodePipeline Pipeline Execution State Change STARTED",
        "CodePipeline Stage Execution State Change SUCCEEDED Source",
        "CodePipeline Stage Execution State Change SUCCEEDED Build",
        "CodePipeline Pipeline Execution State Change SUCCEEDED",
    ]
    assert "Traceback" not in embedded.log()
