"""Webhook to run: a signed GitHub push at a connection's event URL until the execution exists
and until its source action has succeeded, against StartPipelineExecution of the same
pipeline over boto3 (the same measurement points).

    python bench/triggers.py [--runs N] [--mode embedded|production|both]

On each stack (bench/_stacks.py) it makes a bare git repository on disk (file://, through
tests/support/git_server.py), a connection to it (a GitLabSelfManaged host at the file://
endpoint, anonymous credentials), and a V2 pipeline: the CodeStarSourceConnection source with
a trigger on pushes to `main`, then a Commands action running `true`. Each round commits and
pushes a new commit (untimed), then, alternating which goes first:
- webhook: the GitHub `push` payload, signed with the connection's webhook secret
  (X-Hub-Signature-256), POSTed with httpx (a kept-alive client, as boto3's is);
- StartPipelineExecution over boto3;
and times, from just before the request: the request's answer; ListPipelineExecutions first
listing the run (polled every 5 ms); the source action Succeeded (ListActionExecutions, every
5 ms). Each run ends before the next starts. A report, not a test: exit 0.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
from _stacks import HEADER, client, poll, progress, row, stacks_from_args
from orchestration import true_action, wait
from tests.support.git_server import GitRepo
from tests.support.github_payloads import github_delivery, github_push
from tests.support.servers import ACCESS_KEY_ID, SECRET_ACCESS_KEY

ROLE = "arn:aws:iam::000000000000:role/bench"


def connection(url: str, endpoint: str) -> tuple[str, str]:
    """A completed connection to the file:// host: its ARN and webhook secret."""
    cc = client(url, "codeconnections")
    host = cc.create_host(Name="bench", ProviderType="GitLabSelfManaged", ProviderEndpoint=endpoint)
    arn = str(
        cc.create_connection(ConnectionName="bench", HostArn=host["HostArn"])["ConnectionArn"]
    )
    cid, auth = arn.rsplit("/", 1)[1], (ACCESS_KEY_ID, SECRET_ACCESS_KEY)
    base = f"{url}/api/v1/connections/{cid}"
    httpx.put(f"{base}/credentials", json={"anonymous": True}, auth=auth).raise_for_status()
    answer = httpx.get(f"{base}/webhook-secret", auth=auth)
    answer.raise_for_status()
    return arn, str(answer.json()["webhookSecret"])


def declaration(name: str, arn: str, repo: str) -> dict[str, Any]:
    source = {
        "name": "Source",
        "actionTypeId": {
            "category": "Source",
            "owner": "AWS",
            "provider": "CodeStarSourceConnection",
            "version": "1",
        },
        "configuration": {
            "ConnectionArn": arn,
            "FullRepositoryId": repo,
            "BranchName": "main",
            "DetectChanges": "false",
        },
        "outputArtifacts": [{"name": "Src"}],
    }
    build = true_action("Build", stamp=False)
    return {
        "name": name,
        "roleArn": ROLE,
        "pipelineType": "V2",
        "executionMode": "PARALLEL",
        "artifactStore": {"type": "S3", "location": "bench-artifacts"},
        "stages": [
            {"name": "Source", "actions": [source]},
            {"name": "Build", "actions": [build]},
        ],
        "triggers": [
            {
                "providerType": "CodeStarSourceConnection",
                "gitConfiguration": {
                    "sourceActionName": "Source",
                    "push": [{"branches": {"includes": ["main"]}}],
                },
            }
        ],
    }


def timed(cp: Any, name: str, begin: Callable[[], str]) -> tuple[float, float, float]:
    """Seconds from just before `begin()` to: its answer, the run listed, the source done."""
    start = time.perf_counter()
    eid = begin()
    answered = time.perf_counter()

    def listed() -> bool:
        summaries = cp.list_pipeline_executions(pipelineName=name, maxResults=10)
        return any(s["pipelineExecutionId"] == eid for s in summaries["pipelineExecutionSummaries"])

    def sourced() -> bool:
        rows = cp.list_action_executions(pipelineName=name, filter={"pipelineExecutionId": eid})
        states = {r["actionName"]: r["status"] for r in rows["actionExecutionDetails"]}
        if states.get("Source") in ("Failed", "Abandoned"):
            raise AssertionError(f"the source of {eid} failed")
        return states.get("Source") == "Succeeded"

    poll(listed)
    exists = time.perf_counter()
    poll(sourced)
    done = time.perf_counter()
    assert wait(cp, name, eid) == "Succeeded", f"{name} {eid} did not succeed"
    return answered - start, exists - start, done - start


def measure(url: str, tmp: Path, runs: int) -> dict[str, list[float]]:
    cp = client(url, "codepipeline")
    suffix = str(int(time.time()))
    repo = GitRepo(tmp, f"bench-{suffix}/app")
    base = repo.commit({"src/app.py": "v0"}, "base")
    arn, secret = connection(url, repo.file_url)
    name = f"triggered-{suffix}"
    cp.create_pipeline(pipeline=declaration(name, arn, repo.name))
    first = cp.list_pipeline_executions(pipelineName=name)["pipelineExecutionSummaries"][0]
    assert wait(cp, name, first["pipelineExecutionId"]) == "Succeeded", "CreatePipeline's run"
    hook = f"{url}/webhooks/connections/{arn.rsplit('/', 1)[1]}"
    out: dict[str, list[float]] = {f"{k}{i}": [] for k in ("hook", "start") for i in range(3)}
    with httpx.Client(timeout=60) as http:

        def by_webhook() -> tuple[float, float, float]:
            nonlocal base
            sha = repo.commit({"src/app.py": f"v{time.time_ns()}"}, "change")
            payload = github_push(
                repo.name, "refs/heads/main", base, sha, {"modified": ["src/app.py"]}
            )
            base = sha
            body, headers = github_delivery("push", payload, secret)
            return timed(cp, name, lambda: started(http.post(hook, content=body, headers=headers)))

        def by_start() -> tuple[float, float, float]:
            repo.commit({"src/app.py": f"v{time.time_ns()}"}, "change")
            return timed(
                cp, name, lambda: cp.start_pipeline_execution(name=name)["pipelineExecutionId"]
            )

        for i in range(runs + 2):
            progress(f"  round {i + 1}/{runs + 2}: signed push and StartPipelineExecution")
            ways = [("hook", by_webhook), ("start", by_start)]
            for key, way in ways if i % 2 else ways[::-1]:
                times = way()
                if i >= 2:  # the first rounds warm git caches and imports up
                    for j, seconds in enumerate(times):
                        out[f"{key}{j}"].append(seconds)
    progress("")
    return out


def started(answer: httpx.Response) -> str:
    answer.raise_for_status()
    ids = answer.json()["pipelineExecutionIds"]
    assert len(ids) == 1, answer.text
    return str(ids[0])


def report(label: str, out: dict[str, list[float]]) -> None:
    print(f"\n{label}")
    print(HEADER + "  (ratio: webhook / StartPipelineExecution)")
    points = ("answered", "listed by ListPipelineExecutions", "source action Succeeded")
    for i, point in enumerate(points):
        print(row(f"StartPipelineExecution → {point}", out[f"start{i}"]))
        print(row(f"signed push → {point}", out[f"hook{i}"], out[f"start{i}"]))


def main() -> int:
    for label, url, data, runs in stacks_from_args(__doc__, 40, "rounds of a push and a Start"):
        report(label, measure(url, data.parent / f"{data.name}-git", runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
