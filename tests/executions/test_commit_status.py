"""Commit status on both stacks: a pipeline tagged `stageline:commit-status` = `true` reports
its executions on the source commit through the git host's API — GitHub's format on a
GitHub Enterprise Server connection, GitLab's on a self-managed GitLab — with the
connection's token; an untagged pipeline reports nothing. The host is a local stand-in that
records the API calls and relays clones to git's own smart HTTP server."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
from tests.executions.declarations import commands, pipeline, stage, unique
from tests.executions.stack import Stack
from tests.executions.test_git_source import connections, git_source
from tests.support.git_server import GitHttpServer, GitRepo
from tests.support.receivers import FakeGitHost, Received
from tests.support.servers import ACCESS_KEY_ID, SECRET_ACCESS_KEY

TOKEN = "ghp-e2eSTATUS-0123456789"
TAG = [{"key": "stageline:commit-status", "value": "true"}]


def connection(stack: Stack, endpoint: str, provider: str) -> str:
    client = connections(stack)
    host = client.create_host(Name=unique("host"), ProviderType=provider, ProviderEndpoint=endpoint)
    arn = str(
        client.create_connection(ConnectionName="status", HostArn=host["HostArn"])["ConnectionArn"]
    )
    done = httpx.put(
        f"{stack.server.url}/api/v1/connections/{arn.rsplit('/', 1)[1]}/credentials",
        json={"token": TOKEN},
        auth=(ACCESS_KEY_ID, SECRET_ACCESS_KEY),
    )
    assert done.status_code == 200, done.text
    return arn


def run(stack: Stack, declaration: dict[str, Any], tags: list[dict[str, str]]) -> str:
    client = stack.client()
    client.create_pipeline(pipeline=declaration, **({"tags": tags} if tags else {}))
    runs = client.list_pipeline_executions(pipelineName=declaration["name"])
    return str(runs["pipelineExecutionSummaries"][0]["pipelineExecutionId"])


def statuses(host: FakeGitHost, count: int, timeout: float = 60) -> list[Received]:
    deadline = time.monotonic() + timeout
    while len(host.statuses) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(host.statuses) >= count, f"{len(host.statuses)} of {count} statuses"
    return host.statuses


def test_github_and_gitlab_commit_statuses(stack: Stack, tmp_path: Path) -> None:
    owner = unique("team")
    repo = GitRepo(tmp_path, f"{owner}/app")
    sha = repo.commit({"app.txt": "v1"}, "first")
    with GitHttpServer(tmp_path, token=TOKEN) as git, FakeGitHost(git.url) as host:
        github = connection(stack, host.url, "GitHubEnterpriseServer")
        gitlab = connection(stack, host.url, "GitLabSelfManaged")

        # Untagged: runs, reports nothing.
        quiet = unique("quiet")
        quiet_decl = pipeline(
            quiet,
            stage("Source", git_source(github, repo.name)),
            stage("Build", commands("Build", ["true"])),
        )
        stack.wait(quiet, run(stack, quiet_decl, []))

        # GitHub's format: pending once the source has its commit, then success.
        name = unique("status-gh")
        declaration = pipeline(
            name,
            stage("Source", git_source(github, repo.name)),
            stage("Build", commands("Build", ["true"])),
        )
        execution_id = run(stack, declaration, TAG)
        stack.wait(name, execution_id)
        sent = statuses(host, 2)
        assert [s.path for s in sent] == [f"/api/v3/repos/{owner}/app/statuses/{sha}"] * 2
        bodies = [s.json() for s in sent]
        assert [b["state"] for b in bodies] == ["pending", "success"]
        assert {b["context"] for b in bodies} == {f"stageline/{name}"}
        assert bodies[1]["target_url"].endswith(f"/pipelines/{name}/executions/{execution_id}")
        assert all(s.headers["authorization"] == f"Bearer {TOKEN}" for s in sent)

        # GitLab's format on a failing run: running, then failed.
        failing = unique("status-gl")
        declaration = pipeline(
            failing,
            stage("Source", git_source(gitlab, repo.name)),
            stage("Build", commands("Build", ["false"])),
        )
        failed_id = run(stack, declaration, TAG)
        stack.wait(failing, failed_id, "Failed")
        sent = statuses(host, 4)[2:]
        project = f"{owner}%2Fapp"
        assert [s.path for s in sent] == [f"/api/v4/projects/{project}/statuses/{sha}"] * 2
        bodies = [json.loads(s.body) for s in sent]
        assert [b["state"] for b in bodies] == ["running", "failed"]
        assert {b["name"] for b in bodies} == {f"stageline/{failing}"}
        assert all(s.headers["private-token"] == TOKEN for s in sent)
        assert len(host.statuses) == 4  # nothing from the untagged pipeline

        # The token is in no delivery row anyone can read.
        rows = httpx.get(
            f"{stack.server.url}/api/v1/deliveries",
            params={"limit": 1000},
            auth=(ACCESS_KEY_ID, SECRET_ACCESS_KEY),
        ).json()["deliveries"]
        mine = [r for r in rows if r["kind"] == "commit_status" and sha in r["address"]]
        assert len(mine) == 4 and all(r["status"] == "delivered" for r in mine)
        assert TOKEN not in json.dumps(rows)
