"""Values a caller controls never reach git as options, on both stacks: StartPipelineExecution
sourceRevisions and PutActionRevision on a CodeStarSourceConnection source take only full hex
commit ids (ValidationException otherwise), and a signed connection event whose `before` or
`after` is not a commit id is refused with 400. Each repro would, before the fix, have made git
run a command (`--upload-pack=...`) or write a file (`--output=...`); the tests check that
nothing was created."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from tests.executions.declarations import approval, pipeline, stage, unique
from tests.executions.stack import Stack
from tests.executions.test_git_source import connection, git_source
from tests.executions.test_triggers_v2 import deliver, runs, webhook_secret
from tests.support.git_server import GitRepo
from tests.support.github_payloads import github_delivery, github_push


def path_trigger(paths: list[str]) -> list[dict[str, Any]]:
    """A V2 trigger for pushes to main that touch `paths`."""
    push = {"branches": {"includes": ["main"]}, "filePaths": {"includes": paths}}
    git = {"sourceActionName": "Source", "push": [push]}
    return [{"providerType": "CodeStarSourceConnection", "gitConfiguration": git}]


def git_pipeline(stack: Stack, arn: str, repo: GitRepo, trigger: bool = False) -> str:
    name = unique("safe")
    source = git_source(arn, repo.name)
    source["configuration"]["DetectChanges"] = "false"
    declaration = pipeline(
        name, stage("Source", source), stage("Hold", approval()), mode="PARALLEL"
    )
    if trigger:  # a file-path filter: the receiver asks git for the changed files
        declaration["triggers"] = path_trigger(["**"])
    stack.create_pipeline(declaration)
    return name


def refused(call: object) -> str:
    assert isinstance(call, ClientError), call
    error = call.response["Error"]
    assert call.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["Code"] == "ValidationException", error
    return str(error["Message"])


def test_revisions_that_are_not_commit_ids_are_refused(stack: Stack, tmp_path: Path) -> None:
    repo = GitRepo(tmp_path, unique("team") + "/app")
    head = repo.commit({"a.txt": "1"}, "first")
    arn = connection(stack, repo.file_url, {"anonymous": True})
    name = git_pipeline(stack, arn, repo)
    trap = tmp_path / "trap"
    trap.mkdir()
    injected = f"--upload-pack=touch {trap}/PWNED;git-upload-pack"
    client = stack.client()
    for value, kind in [
        (injected, "COMMIT_ID"),
        (head[:7], "COMMIT_ID"),  # short ids are revision expressions to git
        (f"{head}^", "COMMIT_ID"),
        (head, "S3_OBJECT_VERSION_ID"),
    ]:
        revision = {"actionName": "Source", "revisionType": kind, "revisionValue": value}
        with pytest.raises(ClientError) as caught:
            client.start_pipeline_execution(name=name, sourceRevisions=[revision])
        message = refused(caught.value)
        assert "Source" in message
    for value in (injected, "--output=" + str(trap / "PWNED"), head[:12]):
        with pytest.raises(ClientError) as caught:
            client.put_action_revision(
                pipelineName=name,
                stageName="Source",
                actionName="Source",
                actionRevision={"revisionId": value, "revisionChangeId": "c1", "created": 0},
            )
        assert "not a full commit id" in refused(caught.value)
    assert runs(stack, name) == 1  # CreatePipeline's only
    assert list(trap.iterdir()) == []


def test_connection_events_with_option_shas_are_refused(stack: Stack, tmp_path: Path) -> None:
    repo = GitRepo(tmp_path, unique("team") + "/app")
    base = repo.commit({"a.txt": "1"}, "first")
    head = repo.commit({"a.txt": "2"}, "second")
    arn = connection(stack, repo.file_url, {"anonymous": True})
    secret = webhook_secret(stack, arn)
    name = git_pipeline(stack, arn, repo, trigger=True)
    trap = tmp_path / "trap"
    trap.mkdir()
    option = f"--output={trap}/PWNED"
    for before, after in [(base, option), (option, head), (base, head[:8])]:
        payload = github_push(repo.name, "refs/heads/main", before, after)
        payload["commits"] = []  # files not listed: the receiver would ask `git diff`
        answer = deliver(stack, arn, *github_delivery("push", payload, secret))
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["code"] == "ValidationException"
        assert "not a 40- or 64-digit hex id" in answer.json()["error"]["message"]
    assert runs(stack, name) == 1
    assert list(trap.iterdir()) == []
