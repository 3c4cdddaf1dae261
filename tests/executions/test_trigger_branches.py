"""A V2 trigger's event from another branch than the source's BranchName, on both stacks: the
run builds that branch's commit, checks that branch out (CODEBUILD_CLONE_REF) and reports it as
the source's BranchName variable, as AWS does; a pull request reports its source branch; a
branch deleted before the run still gives its pinned commit."""

from __future__ import annotations

from pathlib import Path

from tests.executions.declarations import commands, pipeline, stage, unique
from tests.executions.stack import Stack
from tests.executions.test_git_source import connection, git_source, outputs
from tests.executions.test_triggers_v2 import deliver, started, webhook_secret
from tests.support.git_server import GitRepo
from tests.support.github_payloads import github_delivery, github_pull_request, github_push

WHERE = commands(
    "Where",
    [
        "export CHECKED_OUT=$(git rev-parse --abbrev-ref HEAD)",
        "export HEAD_SHA=$(git rev-parse HEAD)",
        "export SEEN=#{SourceVariables.BranchName}@#{SourceVariables.CommitId}",
    ],
    variables=["CHECKED_OUT", "HEAD_SHA", "SEEN"],
)


def test_runs_read_and_report_the_events_branch(stack: Stack, tmp_path: Path) -> None:
    repo = GitRepo(tmp_path, unique("team") + "/app")
    base = repo.commit({"app.txt": "main"}, "base")
    arn = connection(stack, repo.file_url, {"anonymous": True})
    secret = webhook_secret(stack, arn)
    name = unique("branches")
    declaration = pipeline(
        name,
        stage("Source", git_source(arn, repo.name, fmt="CODEBUILD_CLONE_REF")),
        stage("Build", WHERE),
        mode="QUEUED",
    )
    declaration["triggers"] = [
        {
            "providerType": "CodeStarSourceConnection",
            "gitConfiguration": {
                "sourceActionName": "Source",
                "push": [{"branches": {"includes": ["release/**"]}}],
                "pullRequest": [{"events": ["OPEN"], "branches": {"includes": ["main"]}}],
            },
        }
    ]
    created = stack.wait(name, stack.create_pipeline(declaration))
    assert outputs(stack, name, created["pipelineExecutionId"], "Where") == {
        "CHECKED_OUT": "main",
        "HEAD_SHA": base,
        "SEEN": f"main@{base}",
    }

    def built(execution_id: str) -> dict[str, str]:
        assert stack.wait(name, execution_id)["status"] == "Succeeded"
        return outputs(stack, name, execution_id, "Where")

    def push(branch: str, sha: str) -> str:
        payload = github_push(repo.name, f"refs/heads/{branch}", base, sha, {"added": ["r.txt"]})
        ids = started(deliver(stack, arn, *github_delivery("push", payload, secret)))
        assert len(ids) == 1
        return ids[0]

    release = repo.commit({"r.txt": "release"}, "on release", branch="release/2")
    execution_id = push("release/2", release)
    assert built(execution_id) == {
        "CHECKED_OUT": "release/2",
        "HEAD_SHA": release,
        "SEEN": f"release/2@{release}",
    }
    variables = outputs(stack, name, execution_id, "Source")
    assert (variables["BranchName"], variables["CommitId"]) == ("release/2", release)

    # A pull request from `feature` into main: its source branch.
    feature = repo.commit({"f.txt": "feature"}, "on feature", branch="feature")
    payload = github_pull_request(
        repo.name,
        "opened",
        number=7,
        head_ref="feature",
        head_sha=feature,
        base_ref="main",
        base_sha=base,
    )
    ids = started(deliver(stack, arn, *github_delivery("pull_request", payload, secret)))
    assert len(ids) == 1
    assert built(ids[0])["SEEN"] == f"feature@{feature}"

    # The pushed branch is deleted before the run: the pinned commit is still built.
    gone = repo.commit({"r.txt": "short-lived"}, "on a short-lived branch", branch="release/3")
    repo.delete_branch("release/3")
    assert built(push("release/3", gone)) == {
        "CHECKED_OUT": "release/3",
        "HEAD_SHA": gone,
        "SEEN": f"release/3@{gone}",
    }
