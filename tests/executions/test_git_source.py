"""The CodeStarSourceConnection source on both stacks: a repository over file:// and over git's
smart HTTP server demanding a token, CODE_ZIP and CODEBUILD_CLONE_REF (history and submodules
for a later action's `git log`), output variables, a pinned COMMIT_ID, and the failures
(PENDING connection, missing branch, missing repository, refused token) — the token never shown anywhere."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import httpx
from botocore.config import Config
from tests.executions.builds import buildspec
from tests.executions.declarations import commands, pipeline, stage, unique
from tests.executions.stack import Stack
from tests.executions.test_codebuild_action import codebuild, pipeline_project
from tests.support.git_server import GitHttpServer, GitRepo, git
from tests.support.servers import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY

TOKEN = "glpat-e2eSECRET-0123456789"
GIT_LOG_BUILDSPEC = buildspec(
    """
version: 0.2
env:
  exported-variables: [COUNT, LAST]
phases:
  build:
    commands:
      - export COUNT=$(git rev-list --count HEAD)
      - export LAST=$(git log -1 --format=%s)
"""
)


def connections(stack: Stack) -> Any:
    return boto3.client(
        "codeconnections",
        endpoint_url=stack.server.url,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
        config=Config(retries={"max_attempts": 1}),
    )


def connection(stack: Stack, endpoint: str, credentials: dict[str, Any] | None) -> str:
    """A connection to a host at `endpoint`, completed with `credentials` (None: PENDING)."""
    client = connections(stack)
    host = client.create_host(
        Name=unique("host"), ProviderType="GitLabSelfManaged", ProviderEndpoint=endpoint
    )["HostArn"]
    arn = str(client.create_connection(ConnectionName="e2e", HostArn=host)["ConnectionArn"])
    if credentials is not None:
        cid = arn.rsplit("/", 1)[1]
        done = httpx.put(
            f"{stack.server.url}/api/v1/connections/{cid}/credentials",
            json=credentials,
            auth=(ACCESS_KEY_ID, SECRET_ACCESS_KEY),
        )
        assert done.status_code == 200, done.text
    return arn


def git_source(arn: str, repo: str, branch: str = "main", fmt: str = "CODE_ZIP") -> dict[str, Any]:
    return {
        "name": "Source",
        "namespace": "SourceVariables",
        "actionTypeId": {
            "category": "Source",
            "owner": "AWS",
            "provider": "CodeStarSourceConnection",
            "version": "1",
        },
        "configuration": {
            "ConnectionArn": arn,
            "FullRepositoryId": repo,
            "BranchName": branch,
            "OutputArtifactFormat": fmt,
            "DetectChanges": "false",
        },
        "outputArtifacts": [{"name": "SourceOutput"}],
    }


def outputs(stack: Stack, name: str, execution_id: str, action: str) -> dict[str, str]:
    rows = stack.action_executions(name, execution_id)
    row = next(r for r in rows if r["actionName"] == action)
    return dict(row["output"].get("outputVariables", {}))


def test_code_zip_from_a_file_remote_variables_and_a_pinned_commit(
    stack: Stack, tmp_path: Path
) -> None:
    repo = GitRepo(tmp_path, unique("team") + "/app")
    # Symlinks: one inside the tree (packed as its target's content), one leaving it (left out).
    (repo.work / "inside").symlink_to("app.txt")
    (repo.work / "outside").symlink_to("/etc/hostname")
    git("add", "inside", "outside", cwd=repo.work)
    first = repo.commit({"app.txt": "v1", "lib/util.txt": "u"}, "first commit")
    second = repo.commit({"app.txt": "v2"}, "second commit\n\nwith a body")
    arn = connection(stack, repo.file_url, {"anonymous": True})
    read = commands(
        "Read",
        [
            'test ! -e .git && test ! -e outside && test "$(cat inside)" = "$(cat app.txt)"',
            "export CONTENT=$(cat app.txt)$(cat lib/util.txt)",
            "export SEEN=#{SourceVariables.CommitId}@#{SourceVariables.BranchName}",
        ],
        variables=["CONTENT", "SEEN"],
    )
    name = unique("git-zip")
    declaration = pipeline(
        name, stage("Source", git_source(arn, repo.name)), stage("Build", read), mode="QUEUED"
    )
    execution = stack.wait(name, stack.create_pipeline(declaration))
    revision = execution["artifactRevisions"][0]
    assert revision["revisionId"] == second
    assert json.loads(revision["revisionSummary"]) == {
        "ProviderType": "GitLabSelfManaged",
        "CommitMessage": "second commit\n\nwith a body",
    }
    variables = outputs(stack, name, execution["pipelineExecutionId"], "Source")
    assert variables["CommitId"] == second
    assert variables["CommitMessage"] == "second commit\n\nwith a body"
    assert variables["BranchName"] == "main"
    assert variables["FullRepositoryId"] == repo.name
    assert variables["ConnectionArn"] == arn
    assert variables["AuthorDate"].startswith("20")
    built = outputs(stack, name, execution["pipelineExecutionId"], "Read")
    assert built == {"CONTENT": "v2u", "SEEN": f"{second}@main"}

    pinned = stack.start(
        name,
        sourceRevisions=[
            {"actionName": "Source", "revisionType": "COMMIT_ID", "revisionValue": first}
        ],
    )
    assert stack.wait(name, pinned)["artifactRevisions"][0]["revisionId"] == first
    assert outputs(stack, name, pinned, "Read")["CONTENT"] == "v1u"


def test_clone_ref_over_smart_http_with_a_token(stack: Stack, tmp_path: Path) -> None:
    owner = unique("team")
    lib = GitRepo(tmp_path, f"{owner}/lib")
    lib.commit({"lib.txt": "from the submodule"}, "lib")
    repo = GitRepo(tmp_path, f"{owner}/app")
    repo.commit({"app.txt": "one"}, "one")
    # A submodule by relative URL (committed with "two"): it resolves against the clone's
    # origin, the HTTP remote.
    git(
        "-c",
        "protocol.file.allow=always",
        "submodule",
        "add",
        "-q",
        "../lib.git",
        "lib",
        cwd=repo.work,
    )
    head = repo.commit({"app.txt": "two"}, "two")
    with GitHttpServer(tmp_path, token=TOKEN) as http:
        arn = connection(stack, http.url, {"token": TOKEN})
        history = commands(
            "History",
            [
                "export LOG=$(git log --format=%s | tr '\\n' ' ')",
                "export HEAD_SHA=$(git rev-parse HEAD)",
                "export BRANCH=$(git rev-parse --abbrev-ref HEAD)",
                "export SUB=$(cat lib/lib.txt)",
            ],
            variables=["LOG", "HEAD_SHA", "BRANCH", "SUB"],
        )
        # The same clone as a CodeBuild action's source: its buildspec reads the history too.
        project = pipeline_project(stack, GIT_LOG_BUILDSPEC)
        name = unique("git-clone")
        source = git_source(arn, repo.name, fmt="CODEBUILD_CLONE_REF")
        build = stage("Build", history, codebuild("GitLog", project))
        declaration = pipeline(name, stage("Source", source), build)
        execution = stack.wait(name, stack.create_pipeline(declaration))
        built_by_codebuild = outputs(stack, name, execution["pipelineExecutionId"], "GitLog")
        assert built_by_codebuild == {"COUNT": "2", "LAST": "two"}
        built = outputs(stack, name, execution["pipelineExecutionId"], "History")
        assert built == {
            "LOG": "two one ",
            "HEAD_SHA": head,
            "BRANCH": "main",
            "SUB": "from the submodule",
        }
        details = json.dumps(stack.action_executions(name), default=str)
    assert TOKEN not in details
    assert TOKEN not in stack.logs()


def test_failures_say_why_and_never_show_the_token(stack: Stack, tmp_path: Path) -> None:
    repo = GitRepo(tmp_path, unique("team") + "/app")
    repo.commit({"a": "1"}, "a")
    with GitHttpServer(tmp_path, token=TOKEN) as http:
        cases = {
            "pending": (connection(stack, repo.file_url, None), "main", "PENDING"),
            "branch": (connection(stack, repo.file_url, {"anonymous": True}), "nope", "nope"),
            "token": (connection(stack, http.url, {"token": "wrong-token-42"}), "main", "refused"),
            "repository": (
                connection(stack, repo.file_url, {"anonymous": True}),
                "main",
                "Cannot read repository",
            ),
        }
        started = {}
        for case, (arn, branch, _) in cases.items():
            name = unique(f"git-{case}")
            repository = f"{repo.name}-missing" if case == "repository" else repo.name
            declaration = pipeline(
                name,
                stage("Source", git_source(arn, repository, branch)),
                stage("Build", commands("Never", ["true"])),
            )
            started[case] = (name, stack.create_pipeline(declaration))
        for case, (name, execution_id) in started.items():
            failed = stack.wait(name, execution_id, "Failed")
            source = next(
                r
                for r in stack.action_executions(name, execution_id)
                if r["actionName"] == "Source"
            )
            message = json.dumps(source, default=str) + failed.get("statusSummary", "")
            assert cases[case][2] in message, message
            assert "wrong-token-42" not in json.dumps(source, default=str)
        assert http.refused >= 1
    assert "wrong-token-42" not in stack.logs()
