"""Git events at a connection's URL on both stacks: GitHub and GitLab webhook deliveries (the
hosts' own payloads and signatures) for commits really pushed to a repository served over
file:// or git's smart HTTP. A run starts only when a V2 trigger's filters match (branches,
tags, file paths, pull-request events) or, without a trigger, on a push to BranchName; it is
pinned to the event's commit and records the trigger as AWS does. Forged deliveries are
refused and start nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from tests.executions.declarations import approval, pipeline, stage, unique
from tests.executions.stack import Stack
from tests.executions.test_git_source import TOKEN, connection, git_source
from tests.support.git_server import GitHttpServer, GitRepo
from tests.support.github_payloads import (
    ZERO,
    github_delivery,
    github_pull_request,
    github_push,
    gitlab_delivery,
    gitlab_merge_request,
    gitlab_push,
)
from tests.support.servers import ACCESS_KEY_ID, SECRET_ACCESS_KEY


def webhook_secret(stack: Stack, arn: str) -> str:
    cid = arn.rsplit("/", 1)[1]
    answer = httpx.get(
        f"{stack.server.url}/api/v1/connections/{cid}/webhook-secret",
        auth=(ACCESS_KEY_ID, SECRET_ACCESS_KEY),
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["webhookSecret"])


def deliver(stack: Stack, arn: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    cid = arn.rsplit("/", 1)[1]
    return httpx.post(
        f"{stack.server.url}/webhooks/connections/{cid}", content=body, headers=headers, timeout=60
    )


def started(answer: httpx.Response) -> list[str]:
    assert answer.status_code == 200, answer.text
    ids: list[str] = answer.json()["pipelineExecutionIds"]
    return ids


def triggered(
    stack: Stack, arn: str, repo: GitRepo, trigger: dict[str, Any] | None, detect: bool = True
) -> str:
    """A V2 PARALLEL pipeline: the git source (with `trigger`), then a manual approval that
    holds each run once its source has run. CreatePipeline's own run is left alone."""
    name = unique("trig")
    source = git_source(arn, repo.name)
    source["configuration"]["DetectChanges"] = "true" if detect else "false"
    declaration = pipeline(
        name, stage("Source", source), stage("Hold", approval()), mode="PARALLEL"
    )
    if trigger is not None:
        declaration["triggers"] = [
            {
                "providerType": "CodeStarSourceConnection",
                "gitConfiguration": {"sourceActionName": "Source", **trigger},
            }
        ]
    stack.create_pipeline(declaration)
    return name


def ran(stack: Stack, name: str, execution_id: str) -> dict[str, Any]:
    """The execution once its source action has run (its revision is known)."""

    def check() -> dict[str, Any] | None:
        run = stack.execution(name, execution_id)
        if run["status"] in ("Failed", "Stopped"):
            raise AssertionError(
                f"{execution_id} {run['status']}\n{stack.describe(name, execution_id)}"
            )
        return run if run.get("artifactRevisions") else None

    result: dict[str, Any] = stack.wait_for(f"the source of {execution_id}", check)
    return result


def runs(stack: Stack, name: str) -> int:
    summaries = stack.client().list_pipeline_executions(pipelineName=name)
    return len(summaries["pipelineExecutionSummaries"])


def test_github_push_filters_on_branches_and_file_paths(stack: Stack, tmp_path: Path) -> None:
    repo = GitRepo(tmp_path, unique("team") + "/app")
    base = repo.commit({"src/app.py": "v1", "docs/readme.md": "r"}, "base")
    arn = connection(stack, repo.file_url, {"anonymous": True})
    secret = webhook_secret(stack, arn)
    trigger = {
        "push": [
            {
                "branches": {"includes": ["main", "release/**"], "excludes": ["release/old*"]},
                "filePaths": {"includes": ["src/**"], "excludes": ["**/*.md"]},
            }
        ]
    }
    name = triggered(stack, arn, repo, trigger, detect=False)

    def push(branch: str, files: dict[str, str]) -> httpx.Response:
        sha = repo.commit(files, f"change on {branch}", branch=branch)
        changed = {"modified": sorted(files)}
        payload = github_push(repo.name, f"refs/heads/{branch}", base, sha, changed)
        return deliver(stack, arn, *github_delivery("push", payload, secret))

    assert started(push("release/old1", {"src/app.py": "old"})) == []
    assert started(push("release/2", {"docs/readme.md": "docs only"})) == []
    assert started(push("feature/x", {"src/app.py": "feature"})) == []
    assert runs(stack, name) == 1  # CreatePipeline's

    # A forged signature: refused, nothing started.
    sha = repo.commit({"src/app.py": "v3"}, "forged", branch="release/2")
    payload = github_push(
        repo.name, "refs/heads/release/2", base, sha, {"modified": ["src/app.py"]}
    )
    body, headers = github_delivery("push", payload, "not-the-secret")
    assert deliver(stack, arn, body, headers).status_code == 403
    unsigned = {k: v for k, v in headers.items() if not k.startswith("X-Hub-Signature")}
    assert deliver(stack, arn, body, unsigned).status_code == 403
    assert runs(stack, name) == 1

    ids = started(deliver(stack, arn, *github_delivery("push", payload, secret)))
    assert len(ids) == 1
    run = ran(stack, name, ids[0])
    assert run["trigger"] == {"triggerType": "WebhookV2", "triggerDetail": arn}
    assert run["artifactRevisions"][0]["revisionId"] == sha  # pinned to the pushed commit


def test_github_tag_pushes_and_the_v1_default(stack: Stack, tmp_path: Path) -> None:
    repo = GitRepo(tmp_path, unique("team") + "/app")
    first = repo.commit({"a.txt": "1"}, "first")
    arn = connection(stack, repo.file_url, {"anonymous": True})
    secret = webhook_secret(stack, arn)
    tags = triggered(
        stack, arn, repo, {"push": [{"tags": {"includes": ["v*"], "excludes": ["v*-rc*"]}}]}
    )
    default = triggered(stack, arn, repo, None)  # no trigger, DetectChanges: pushes to main

    tagged = repo.commit({"a.txt": "2"}, "release", branch="main")
    for tag in ("v1.0-rc1", "v1.0"):
        repo.tag(tag, tagged)
    rc = github_push(repo.name, "refs/tags/v1.0-rc1", ZERO, tagged)
    assert started(deliver(stack, arn, *github_delivery("push", rc, secret))) == []

    release = github_push(repo.name, "refs/tags/v1.0", ZERO, tagged)
    ids = started(deliver(stack, arn, *github_delivery("push", release, secret)))
    assert len(ids) == 1  # the tag pipeline only: the default one ignores tags
    run = ran(stack, tags, ids[0])
    assert run["trigger"] == {"triggerType": "WebhookV2", "triggerDetail": arn}
    assert run["artifactRevisions"][0]["revisionId"] == tagged

    # A branch push starts the default pipeline (trigger Webhook), not the tag one; the same
    # delivery again starts nothing more.
    main = github_push(repo.name, "refs/heads/main", first, tagged, {"modified": ["a.txt"]})
    delivery = github_delivery("push", main, secret)
    ids = started(deliver(stack, arn, *delivery))
    assert len(ids) == 1
    run = ran(stack, default, ids[0])
    assert run["trigger"] == {"triggerType": "Webhook", "triggerDetail": arn}
    assert run["artifactRevisions"][0]["revisionId"] == tagged
    assert started(deliver(stack, arn, *delivery)) == []
    other = repo.commit({"b.txt": "x"}, "elsewhere", branch="dev")
    dev = github_push(repo.name, "refs/heads/dev", first, other, {"added": ["b.txt"]})
    assert started(deliver(stack, arn, *github_delivery("push", dev, secret))) == []
    assert (runs(stack, tags), runs(stack, default)) == (2, 2)


def test_github_pull_requests_over_smart_http(stack: Stack, tmp_path: Path) -> None:
    """Pull-request payloads carry no file list: the changed files come from the repository,
    fetched over smart HTTP with the connection's token."""
    repo = GitRepo(tmp_path, unique("team") + "/app")
    base = repo.commit({"app/main.py": "1", "docs/a.md": "a"}, "base")
    with GitHttpServer(tmp_path, token=TOKEN) as http:
        arn = connection(stack, http.url, {"token": TOKEN})
        secret = webhook_secret(stack, arn)
        trigger = {
            "pullRequest": [
                {
                    "events": ["OPEN", "UPDATED"],
                    "branches": {"includes": ["main"]},
                    "filePaths": {"includes": ["app/**"]},
                }
            ]
        }
        name = triggered(stack, arn, repo, trigger, detect=False)

        def pr(action: str, head: str, sha: str, into: str = "main", number: int = 1) -> list[str]:
            payload = github_pull_request(
                repo.name,
                action,
                number=number,
                head_ref=head,
                head_sha=sha,
                base_ref=into,
                base_sha=base,
            )
            return started(deliver(stack, arn, *github_delivery("pull_request", payload, secret)))

        docs = repo.commit({"docs/a.md": "b"}, "docs only", branch="docs-change")
        assert pr("opened", "docs-change", docs, number=2) == []
        code = repo.commit({"app/main.py": "2"}, "code", branch="feature")
        assert pr("opened", "feature", code, into="dev") == []
        assert pr("closed", "feature", code) == []
        assert pr("labeled", "feature", code) == []
        assert runs(stack, name) == 1

        ids = pr("opened", "feature", code)
        assert len(ids) == 1
        run = ran(stack, name, ids[0])
        assert run["trigger"] == {"triggerType": "WebhookV2", "triggerDetail": arn}
        assert run["artifactRevisions"][0]["revisionId"] == code  # the pull request's head

        update = repo.commit({"app/main.py": "3"}, "more", branch="feature")
        ids = pr("synchronize", "feature", update)
        assert len(ids) == 1
        assert ran(stack, name, ids[0])["artifactRevisions"][0]["revisionId"] == update
    assert TOKEN not in stack.logs()


def test_gitlab_push_and_merge_request_events(stack: Stack, tmp_path: Path) -> None:
    repo = GitRepo(tmp_path, unique("group") + "/app")
    first = repo.commit({"a.txt": "1"}, "first")
    arn = connection(stack, repo.file_url, {"anonymous": True})
    secret = webhook_secret(stack, arn)
    default = triggered(stack, arn, repo, None)
    merges = triggered(
        stack,
        arn,
        repo,
        {"pullRequest": [{"events": ["OPEN"], "branches": {"includes": ["main"]}}]},
    )

    second = repo.commit({"a.txt": "2"}, "second")
    push = gitlab_push(repo.name, "refs/heads/main", first, second, {"modified": ["a.txt"]})
    body, headers = gitlab_delivery("Push Hook", push, "wrong-token")
    assert deliver(stack, arn, body, headers).status_code == 403
    assert deliver(stack, arn, *gitlab_delivery("Push Hook", push, None)).status_code == 403
    assert runs(stack, default) == 1

    ids = started(deliver(stack, arn, *gitlab_delivery("Push Hook", push, secret)))
    assert len(ids) == 1
    run = ran(stack, default, ids[0])
    assert run["trigger"] == {"triggerType": "Webhook", "triggerDetail": arn}
    assert run["artifactRevisions"][0]["revisionId"] == second

    feature = repo.commit({"b.txt": "b"}, "feature", branch="feat")

    def merge_request(action: str, oldrev: str | None = None) -> list[str]:
        payload = gitlab_merge_request(
            repo.name,
            action,
            iid=4,
            source_branch="feat",
            target_branch="main",
            last_commit=feature,
            oldrev=oldrev,
        )
        return started(deliver(stack, arn, *gitlab_delivery("Merge Request Hook", payload, secret)))

    assert merge_request("update", oldrev=first) == []  # UPDATED is not among the events
    assert merge_request("merge") == []
    ids = merge_request("open")
    assert len(ids) == 1
    run = ran(stack, merges, ids[0])
    assert run["trigger"] == {"triggerType": "WebhookV2", "triggerDetail": arn}
    assert run["artifactRevisions"][0]["revisionId"] == feature
    assert runs(stack, default) == 2  # merge requests do not start the default pipeline


def test_deliveries_that_are_not_events(stack: Stack, tmp_path: Path) -> None:
    repo = GitRepo(tmp_path, unique("team") + "/app")
    repo.commit({"a.txt": "1"}, "first")
    arn = connection(stack, repo.file_url, {"anonymous": True})
    secret = webhook_secret(stack, arn)
    ping = {"zen": "Design for failure.", "hook_id": 1, "repository": {"full_name": repo.name}}
    assert started(deliver(stack, arn, *github_delivery("ping", ping, secret))) == []
    body, headers = github_delivery("ping", ping, secret)
    plain = {k: v for k, v in headers.items() if k != "X-GitHub-Event"}
    assert deliver(stack, arn, body, plain).status_code == 400
    unknown = f"{stack.server.url}/webhooks/connections/00000000-0000-0000-0000-000000000000"
    assert httpx.post(unknown, content=body, headers=headers).status_code == 404


def test_a_pipeline_that_cannot_start_spares_the_others(stack: Stack, tmp_path: Path) -> None:
    """A run needing a variable value nobody gives is refused; the event still starts the
    other pipelines on the repository, and the refused one can start on a later push."""
    repo = GitRepo(tmp_path, unique("team") + "/app")
    first = repo.commit({"a.txt": "1"}, "first")
    arn = connection(stack, repo.file_url, {"anonymous": True})
    secret = webhook_secret(stack, arn)
    fine = triggered(stack, arn, repo, None)
    needy = unique("needy")
    source = git_source(arn, repo.name)
    source["configuration"]["DetectChanges"] = "true"
    declaration = pipeline(
        needy,
        stage("Source", source),
        stage("Hold", approval()),
        mode="PARALLEL",
        variables=[{"name": "Region"}],
    )
    stack.create_pipeline(declaration)

    second = repo.commit({"a.txt": "2"}, "second")
    push = github_push(repo.name, "refs/heads/main", first, second, {"modified": ["a.txt"]})
    ids = started(deliver(stack, arn, *github_delivery("push", push, secret)))
    assert len(ids) == 1
    assert ran(stack, fine, ids[0])["artifactRevisions"][0]["revisionId"] == second
    assert runs(stack, needy) == 1
