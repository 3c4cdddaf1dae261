"""Polling on an embedded stack of its own that polls every second: a recorded commit the
repository does not hold (a push event's `after` that was never pushed) neither stops polling
nor fills the log with tracebacks (the changed files count as unknown, so a file-path filter
lets the next commit through), and PutActionRevision of an older commit neither makes polling
run the branch head again nor counts as new twice."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.executions.declarations import unique
from tests.executions.stack import Stack, embedded_stack
from tests.executions.test_git_input_safety import path_trigger
from tests.executions.test_git_source import connection, git_source
from tests.executions.test_polling import INTERVAL, held, polled_run, settle, summaries
from tests.executions.test_triggers_v2 import deliver, ran, started, webhook_secret
from tests.support.git_server import GitRepo
from tests.support.github_payloads import github_delivery, github_push

NEVER_PUSHED = "f" * 40


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("polling-recovery")
    with embedded_stack(root, {"STAGELINE_SOURCE_POLL_INTERVAL": str(INTERVAL)}) as running:
        yield running


def full_logs(stack: Stack) -> str:
    return "\n".join(path.read_text(errors="replace") for _, path in stack.log_files())


def test_a_missing_recorded_commit_does_not_stop_polling(stack: Stack, tmp_path: Path) -> None:
    repo = GitRepo(tmp_path, unique("team") + "/app")
    base = repo.commit({"src/a.py": "1"}, "first")
    arn = connection(stack, repo.file_url, {"anonymous": True})
    name = unique("stuck")
    declaration = held(name, git_source(arn, repo.name))
    declaration["triggers"] = path_trigger(["src/**"])
    stack.create_pipeline(declaration)
    settle()  # the first look records the head
    # A signed push whose commit never reached the repository: its run fails at the source,
    # and the poll record now names a commit git cannot diff from.
    payload = github_push(
        repo.name, "refs/heads/main", base, NEVER_PUSHED, {"modified": ["src/a.py"]}
    )
    assert (
        len(
            started(
                deliver(stack, arn, *github_delivery("push", payload, webhook_secret(stack, arn)))
            )
        )
        == 1
    )
    code = repo.commit({"src/a.py": "2"}, "code")

    def polled_code() -> dict[str, object] | None:
        for summary in summaries(stack, name):
            revisions = summary.get("sourceRevisions") or [{}]
            if revisions[0].get("revisionId") == code:
                return summary
        return None

    # (The branch head `first` may run once more: the record moved off it to the bad commit.)
    run = stack.wait_for("the polled run of the new commit", polled_code)
    assert run["trigger"] == {"triggerType": "PollForSourceChanges", "triggerDetail": "Source"}
    count = len(summaries(stack, name))
    settle()
    assert len(summaries(stack, name)) == count <= 4
    logs = full_logs(stack)
    assert "Traceback" not in logs
    assert f"changed files since {NEVER_PUSHED} unknown" in logs


def test_put_action_revision_of_an_older_commit(stack: Stack, tmp_path: Path) -> None:
    repo = GitRepo(tmp_path, unique("team") + "/app")
    older = repo.commit({"a.txt": "1"}, "older")
    head = repo.commit({"a.txt": "2"}, "head")
    arn = connection(stack, repo.file_url, {"anonymous": True})
    name = unique("par")
    source = git_source(arn, repo.name)
    del source["configuration"]["DetectChanges"]  # AWS's default: true
    stack.create_pipeline(held(name, source))
    first = summaries(stack, name)[0]["pipelineExecutionId"]
    assert ran(stack, name, first)["artifactRevisions"][0]["revisionId"] == head
    settle()
    client = stack.client()

    def put(revision: str) -> dict[str, object]:
        answer: dict[str, object] = client.put_action_revision(
            pipelineName=name,
            stageName="Source",
            actionName="Source",
            actionRevision={"revisionId": revision, "revisionChangeId": revision, "created": 0},
        )
        return answer

    answer = put(older)
    assert answer["newRevision"] is True
    run = ran(stack, name, str(answer["pipelineExecutionId"]))
    assert run["artifactRevisions"][0]["revisionId"] == older
    again = put(older)
    assert again == {
        **again,
        "newRevision": False,
        "pipelineExecutionId": answer["pipelineExecutionId"],
    }
    settle()
    assert len(summaries(stack, name)) == 2  # the head, which ran already, is not run again
    newer = repo.commit({"a.txt": "3"}, "newer")
    assert polled_run(stack, name, 3)["artifactRevisions"][0]["revisionId"] == newer
    assert put(newer)["newRevision"] is False
    settle()
    assert len(summaries(stack, name)) == 3
