"""Change detection by polling, on both stacks with a one-second interval (the shared stacks
poll hourly, so that other tests' object versions start nothing): a new S3 object version or
a new commit on the branch starts exactly one run (in production two worker processes poll
at once), an unchanged source starts nothing, PollForSourceChanges / DetectChanges "false"
opt out, a commit a git event already started is not started again, and a V2 trigger's
filters apply to polled changes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.executions.declarations import approval, pipeline, s3_source, stage, unique
from tests.executions.stack import Stack, embedded_stack, production_stack
from tests.executions.test_git_source import connection, git_source
from tests.executions.test_triggers_v2 import deliver, ran, started, webhook_secret
from tests.support.git_server import GitRepo
from tests.support.github_payloads import github_delivery, github_push

INTERVAL = 1.0


@pytest.fixture(scope="module", params=["embedded", "production"])
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """A stack of its own that polls every second (overrides the shared one)."""
    root = tmp_path_factory.mktemp(f"polling-{request.param}")
    shape = embedded_stack if request.param == "embedded" else production_stack
    with shape(root, {"STAGELINE_SOURCE_POLL_INTERVAL": str(INTERVAL)}) as running:
        yield running


def held(name: str, source: dict[str, Any]) -> dict[str, Any]:
    return pipeline(name, stage("Source", source), stage("Hold", approval()), mode="PARALLEL")


def summaries(stack: Stack, name: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = stack.client().list_pipeline_executions(pipelineName=name)[
        "pipelineExecutionSummaries"
    ]
    return found


def settle() -> None:
    """Long enough for several polling passes of every process."""
    time.sleep(INTERVAL * 3.5)


def polled_run(stack: Stack, name: str, count: int) -> dict[str, Any]:
    """Wait for the pipeline's `count`-th run; it is the newest."""
    stack.wait_for(f"run {count} of {name}", lambda: len(summaries(stack, name)) >= count)
    newest = summaries(stack, name)[0]
    return ran(stack, name, newest["pipelineExecutionId"])


def test_s3_sources_poll_once_per_new_version(stack: Stack) -> None:
    bucket = unique("poll")
    first = stack.put_source(bucket, "app.zip", {"a.txt": "1"})
    explicit, default, off = unique("poll-on"), unique("poll-default"), unique("poll-off")
    for name, value in ((explicit, "true"), (default, None), (off, "false")):
        source = s3_source(bucket)
        if value is None:
            del source["configuration"]["PollForSourceChanges"]  # AWS's default: true
        else:
            source["configuration"]["PollForSourceChanges"] = value
        stack.create_pipeline(held(name, source))
    settle()  # the first observation only records the version CreatePipeline's run covers
    for name in (explicit, default, off):
        assert len(summaries(stack, name)) == 1
        assert (
            ran(stack, name, summaries(stack, name)[0]["pipelineExecutionId"])["artifactRevisions"][
                0
            ]["revisionId"]
            == first
        )

    second = stack.put_source(bucket, "app.zip", {"a.txt": "2"})
    for name in (explicit, default):
        run = polled_run(stack, name, 2)
        assert run["trigger"] == {"triggerType": "PollForSourceChanges", "triggerDetail": "Source"}
        assert run["artifactRevisions"][0]["revisionId"] == second
    settle()  # unchanged since: nothing more, from any process
    assert [len(summaries(stack, n)) for n in (explicit, default, off)] == [2, 2, 1]


def test_git_sources_poll_their_branch(stack: Stack, tmp_path: Path) -> None:
    repo = GitRepo(tmp_path, unique("team") + "/app")
    repo.commit({"src/a.py": "1", "docs/a.md": "1"}, "first")
    arn = connection(stack, repo.file_url, {"anonymous": True})
    plain, filtered = unique("git-poll"), unique("git-poll-paths")
    detecting = git_source(arn, repo.name)
    del detecting["configuration"]["DetectChanges"]  # AWS's default: true
    stack.create_pipeline(held(plain, detecting))
    declaration = held(filtered, git_source(arn, repo.name))
    declaration["triggers"] = [
        {
            "providerType": "CodeStarSourceConnection",
            "gitConfiguration": {
                "sourceActionName": "Source",
                "push": [
                    {"branches": {"includes": ["main"]}, "filePaths": {"includes": ["src/**"]}}
                ],
            },
        }
    ]
    stack.create_pipeline(declaration)
    settle()

    repo.commit({"x.txt": "elsewhere"}, "another branch", branch="dev")
    docs = repo.commit({"docs/a.md": "2"}, "docs only")
    run = polled_run(stack, plain, 2)
    assert run["trigger"] == {"triggerType": "PollForSourceChanges", "triggerDetail": "Source"}
    assert run["artifactRevisions"][0]["revisionId"] == docs
    code = repo.commit({"src/a.py": "2"}, "code")
    assert polled_run(stack, plain, 3)["artifactRevisions"][0]["revisionId"] == code
    run = polled_run(stack, filtered, 2)  # the docs-only commit did not pass its filter
    assert run["artifactRevisions"][0]["revisionId"] == code
    settle()
    assert (len(summaries(stack, plain)), len(summaries(stack, filtered))) == (3, 2)

    # A commit a git event started first is not started again by polling.
    secret = webhook_secret(stack, arn)
    pushed = repo.commit({"src/a.py": "3"}, "pushed")
    payload = github_push(repo.name, "refs/heads/main", code, pushed, {"modified": ["src/a.py"]})
    answer = deliver(stack, arn, *github_delivery("push", payload, secret))
    assert len(started(answer)) <= 2  # none where polling saw the commit first
    settle()
    assert (len(summaries(stack, plain)), len(summaries(stack, filtered))) == (4, 3)
    for name in (plain, filtered):
        newest = ran(stack, name, summaries(stack, name)[0]["pipelineExecutionId"])
        assert newest["artifactRevisions"][0]["revisionId"] == pushed
