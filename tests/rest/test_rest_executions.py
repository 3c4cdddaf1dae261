"""/api/v1/pipelines/{name}/executions, /state, /action-executions, approvals, stop, retry and
stage transitions over HTTP, with pipelines that really run on a real `stageline serve`
(SQLite and Postgres).

Creating a pipeline starts its first run (trigger CreatePipeline), as on AWS. Tests either let
that run end before starting the runs they reason about (`create_settled`), or use that run
itself as the run under test (`create` returns its id).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.running import (
    ARTIFACT_BUCKET,
    approval,
    commands,
    runnable_pipeline,
    source_bucket,
    stage,
    unique,
    wait_for_action,
    wait_for_execution,
    wait_until,
)
from tests.support.servers import ACCESS_KEY_ID, SECRET_ACCESS_KEY, Server
from tests.support.shared import shared_dir

AUTH = (ACCESS_KEY_ID, SECRET_ACCESS_KEY)
BASE = "/api/v1/pipelines"
ROOT_ARN = "arn:aws:iam::000000000000:root"


@pytest.fixture
def api(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, auth=AUTH, timeout=30) as c:
        yield c


@pytest.fixture
def anonymous(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def error_code(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    assert response.json()["error"]["message"]
    return code


def create(api: httpx.Client, declaration: dict[str, Any]) -> tuple[str, str]:
    """POST the declaration; returns the pipeline's name and the id of the run that creating it
    started. That run is stored in the create's own transaction, so it is listed at once, and
    it is the pipeline's only execution."""
    response = api.post(BASE, json={"pipeline": declaration})
    assert response.status_code == 201, response.text
    name = str(declaration["name"])
    listed = api.get(f"{BASE}/{name}/executions")
    assert listed.status_code == 200, listed.text
    [first] = listed.json()["pipelineExecutionSummaries"]
    assert first["trigger"]["triggerType"] == "CreatePipeline", first
    return name, str(first["pipelineExecutionId"])


def create_settled(
    api: httpx.Client, cp: Any, declaration: dict[str, Any], status: str = "Succeeded"
) -> tuple[str, str]:
    """create(), then wait until the run CreatePipeline started has ended in `status`."""
    name, first = create(api, declaration)
    wait_for_execution(cp, name, first, status)
    return name, first


def start(api: httpx.Client, name: str, **body: Any) -> str:
    response = api.post(f"{BASE}/{name}/executions", json=body)
    assert response.status_code == 201, response.text
    execution_id: str = response.json()["pipelineExecutionId"]
    return execution_id


def execution_ids(api: httpx.Client, name: str, **params: Any) -> list[str]:
    response = api.get(f"{BASE}/{name}/executions", params=params)
    assert response.status_code == 200, response.text
    return [s["pipelineExecutionId"] for s in response.json()["pipelineExecutionSummaries"]]


def state_of(api: httpx.Client, name: str, stage_name: str) -> dict[str, Any]:
    response = api.get(f"{BASE}/{name}/state")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = next(
        s for s in response.json()["stageStates"] if s["stageName"] == stage_name
    )
    return found


def action_state(api: httpx.Client, name: str, stage_name: str, action: str) -> dict[str, Any]:
    found: dict[str, Any] = next(
        a for a in state_of(api, name, stage_name)["actionStates"] if a["actionName"] == action
    )
    return found


def build_pipeline(server: Server, prefix: str, *lines: str, **extra: Any) -> dict[str, Any]:
    """Source, then a Build stage running `lines` (default: one echo)."""
    bucket = source_bucket(server.data_dir)
    build = stage("Build", commands("Build", list(lines) or ["echo built"]))
    return runnable_pipeline(unique(prefix), bucket, build, **extra)


def approval_pipeline(server: Server, prefix: str) -> dict[str, Any]:
    """Source, a Gate stage waiting on a manual approval, then a Ship stage."""
    bucket = source_bucket(server.data_dir)
    return runnable_pipeline(
        unique(prefix),
        bucket,
        stage("Gate", approval("Approve", custom_data="Ship it?")),
        stage("Ship", commands("Ship", ["echo shipped"])),
    )


# -- create starts the first run ---------------------------------------------------------------


def test_create_starts_exactly_one_run_triggered_by_create_pipeline(
    server: Server, api: httpx.Client, cp: Any
) -> None:
    declaration = build_pipeline(
        server,
        "rest-exec-create",
        "test -z '#{variables.TARGET}'",
        "test '#{variables.REGION}' = eu",
        variables=[{"name": "TARGET"}, {"name": "REGION", "defaultValue": "eu"}],
    )
    name = declaration["name"]
    created = api.post(BASE, json={"pipeline": declaration})
    assert created.status_code == 201, created.text

    listed = api.get(f"{BASE}/{name}/executions")
    assert listed.status_code == 200, listed.text
    [summary] = listed.json()["pipelineExecutionSummaries"]
    trigger = {"triggerType": "CreatePipeline", "triggerDetail": ROOT_ARN}
    assert summary["trigger"] == trigger
    first = summary["pipelineExecutionId"]
    # A variable without a default is empty in this run; the others take their default.
    wait_for_execution(cp, name, first, "Succeeded")
    got = api.get(f"{BASE}/{name}/executions/{first}")
    assert got.status_code == 200, got.text
    execution = got.json()["pipelineExecution"]
    assert execution["status"] == "Succeeded"
    assert execution["pipelineVersion"] == 1
    assert execution["trigger"] == trigger
    assert sorted(execution["variables"], key=lambda v: v["name"]) == [
        {"name": "REGION", "resolvedValue": "eu"},
        {"name": "TARGET", "resolvedValue": ""},
    ]
    aws = cp.list_pipeline_executions(pipelineName=name)["pipelineExecutionSummaries"]
    assert [(s["pipelineExecutionId"], s["trigger"]["triggerType"]) for s in aws] == [
        (first, "CreatePipeline")
    ]

    # A started run still needs a value for TARGET; creates that are refused start nothing.
    no_value = api.post(f"{BASE}/{name}/executions", json={})
    assert no_value.status_code == 400, no_value.text
    assert error_code(no_value) == "ValidationException"
    assert "TARGET" in no_value.json()["error"]["message"]
    again = api.post(BASE, json={"pipeline": declaration})
    assert again.status_code == 409, again.text
    assert error_code(again) == "PipelineNameInUseException"
    invalid_name = unique("rest-exec-create-invalid")
    invalid = {**declaration, "name": invalid_name, "stages": declaration["stages"][:1]}
    refused = api.post(BASE, json={"pipeline": invalid})
    assert refused.status_code == 400, refused.text
    assert error_code(refused) == "InvalidStructureException"
    missing = api.get(f"{BASE}/{invalid_name}/executions")
    assert missing.status_code == 404, missing.text
    assert error_code(missing) == "PipelineNotFoundException"
    assert execution_ids(api, name) == [first]


# -- start, list, get ---------------------------------------------------------------------------


def test_start_runs_the_pipeline_and_get_describes_it(
    server: Server, api: httpx.Client, cp: Any
) -> None:
    bucket = source_bucket(server.data_dir, {"app.txt": "v1\n"})
    # The run creating the pipeline started has GREETING's default, so its Build fails.
    name, first = create_settled(
        api,
        cp,
        runnable_pipeline(
            unique("rest-exec-start"),
            bucket,
            stage("Build", commands("Build", ["test '#{variables.GREETING}' = hi"])),
            variables=[{"name": "GREETING", "defaultValue": "hello"}],
        ),
        "Failed",
    )
    response = api.post(
        f"{BASE}/{name}/executions", json={"variables": [{"name": "GREETING", "value": "hi"}]}
    )
    assert response.status_code == 201, response.text
    assert set(response.json()) == {"pipelineExecutionId"}
    execution_id = response.json()["pipelineExecutionId"]
    assert execution_id != first
    wait_for_execution(cp, name, execution_id, "Succeeded")

    got = api.get(f"{BASE}/{name}/executions/{execution_id}")
    assert got.status_code == 200, got.text
    execution = got.json()["pipelineExecution"]
    assert execution["pipelineName"] == name
    assert execution["pipelineExecutionId"] == execution_id
    assert execution["pipelineVersion"] == 1
    assert execution["status"] == "Succeeded"
    assert execution["executionMode"] == "PARALLEL"
    assert execution["variables"] == [{"name": "GREETING", "resolvedValue": "hi"}]
    assert execution["trigger"] == {
        "triggerType": "StartPipelineExecution",
        "triggerDetail": ROOT_ARN,
    }
    etag = hashlib.md5((server.data_dir / "artifacts" / bucket / "app.zip").read_bytes())
    [revision] = execution["artifactRevisions"]
    assert revision["name"] == "SourceOutput"
    assert revision["revisionId"] == etag.hexdigest()

    # The REST view and the AWS API's agree.
    aws = cp.get_pipeline_execution(pipelineName=name, pipelineExecutionId=execution_id)
    assert aws["pipelineExecution"]["status"] == "Succeeded"
    assert aws["pipelineExecution"]["artifactRevisions"][0]["revisionId"] == etag.hexdigest()


def test_client_request_token_makes_start_idempotent(
    server: Server, api: httpx.Client, cp: Any
) -> None:
    name, initial = create_settled(api, cp, build_pipeline(server, "rest-exec-token"))
    first = start(api, name, clientRequestToken="deploy-42")
    again = start(api, name, clientRequestToken="deploy-42")
    assert again == first
    other = start(api, name, clientRequestToken="deploy-43")
    assert other != first
    assert sorted(execution_ids(api, name)) == sorted([initial, first, other])
    for execution_id in (first, other):
        wait_for_execution(cp, name, execution_id, "Succeeded")
    # Still the same execution once it has ended.
    assert start(api, name, clientRequestToken="deploy-42") == first
    assert sorted(execution_ids(api, name)) == sorted([initial, first, other])


def test_start_refuses_bad_input_and_starts_nothing(
    server: Server, api: httpx.Client, cp: Any
) -> None:
    name, initial = create_settled(
        api,
        cp,
        build_pipeline(
            server, "rest-exec-badvar", variables=[{"name": "TARGET", "defaultValue": "dev"}]
        ),
    )
    undeclared = api.post(
        f"{BASE}/{name}/executions", json={"variables": [{"name": "NOPE", "value": "1"}]}
    )
    assert undeclared.status_code == 400
    assert error_code(undeclared) == "ValidationException"
    assert "NOPE" in undeclared.json()["error"]["message"]

    empty_list = api.post(f"{BASE}/{name}/executions", json={"variables": []})
    assert empty_list.status_code == 400
    assert error_code(empty_list) == "ValidationException"

    not_a_source = api.post(
        f"{BASE}/{name}/executions",
        json={
            "sourceRevisions": [
                {"actionName": "Build", "revisionType": "S3_OBJECT_KEY", "revisionValue": "x.zip"}
            ]
        },
    )
    assert not_a_source.status_code == 400
    assert error_code(not_a_source) == "ValidationException"
    assert execution_ids(api, name) == [initial]

    missing = unique("rest-exec-missing")
    for response in (
        api.post(f"{BASE}/{missing}/executions", json={}),
        api.get(f"{BASE}/{missing}/executions"),
        api.get(f"{BASE}/{missing}/state"),
    ):
        assert response.status_code == 404, response.text
        assert error_code(response) == "PipelineNotFoundException"
        assert missing in response.json()["error"]["message"]

    unknown = api.get(f"{BASE}/{name}/executions/00000000-0000-0000-0000-000000000000")
    assert unknown.status_code == 404
    assert error_code(unknown) == "PipelineExecutionNotFoundException"


def test_list_is_newest_first_pages_and_filters_by_stage(
    server: Server, api: httpx.Client, cp: Any
) -> None:
    name, initial = create_settled(
        api,
        cp,
        build_pipeline(
            server,
            "rest-exec-list",
            "test '#{variables.OUTCOME}' = pass",
            variables=[{"name": "OUTCOME", "defaultValue": "pass"}],
        ),
    )
    passed = start(api, name)
    wait_for_execution(cp, name, passed, "Succeeded")
    failed = start(api, name, variables=[{"name": "OUTCOME", "value": "fail"}])
    wait_for_execution(cp, name, failed, "Failed")
    latest = start(api, name)
    wait_for_execution(cp, name, latest, "Succeeded")

    listed = api.get(f"{BASE}/{name}/executions")
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["nextToken"] is None
    summaries = body["pipelineExecutionSummaries"]
    assert [s["pipelineExecutionId"] for s in summaries] == [latest, failed, passed, initial]
    assert [s["status"] for s in summaries] == ["Succeeded", "Failed", "Succeeded", "Succeeded"]
    assert summaries[0]["trigger"]["triggerType"] == "StartPipelineExecution"
    assert summaries[-1]["trigger"]["triggerType"] == "CreatePipeline"
    assert summaries[0]["sourceRevisions"][0]["actionName"] == "Source"
    assert summaries[0]["startTime"] <= summaries[0]["lastUpdateTime"]

    first_page = api.get(f"{BASE}/{name}/executions", params={"maxResults": 3}).json()
    assert [s["pipelineExecutionId"] for s in first_page["pipelineExecutionSummaries"]] == [
        latest,
        failed,
        passed,
    ]
    assert first_page["nextToken"]
    second_page = api.get(
        f"{BASE}/{name}/executions", params={"maxResults": 3, "nextToken": first_page["nextToken"]}
    ).json()
    assert [s["pipelineExecutionId"] for s in second_page["pipelineExecutionSummaries"]] == [
        initial
    ]
    assert second_page["nextToken"] is None

    assert execution_ids(api, name, succeededInStage="Build") == [latest, passed, initial]
    assert execution_ids(api, name, succeededInStage="Source") == [
        latest,
        failed,
        passed,
        initial,
    ]
    assert execution_ids(api, name, succeededInStage="NoSuchStage") == []

    forged = api.get(f"{BASE}/{name}/executions", params={"nextToken": "bm90LWEtdG9rZW4"})
    assert forged.status_code == 400
    assert error_code(forged) == "InvalidNextTokenException"
    for bad in (0, 101, "many"):
        response = api.get(f"{BASE}/{name}/executions", params={"maxResults": bad})
        assert response.status_code == 400, (bad, response.text)
        assert error_code(response) == "ValidationException"


# -- state and action executions ------------------------------------------------------------


def test_state_and_action_executions(server: Server, api: httpx.Client, cp: Any) -> None:
    declaration = build_pipeline(server, "rest-exec-state")
    name, initial = create_settled(api, cp, declaration)
    bucket = declaration["stages"][0]["actions"][0]["configuration"]["S3Bucket"]
    first = start(api, name)
    wait_for_execution(cp, name, first, "Succeeded")
    second = start(api, name)
    wait_for_execution(cp, name, second, "Succeeded")

    response = api.get(f"{BASE}/{name}/state")
    assert response.status_code == 200, response.text
    state = response.json()
    assert state["pipelineName"] == name
    assert state["pipelineVersion"] == 1
    assert [s["stageName"] for s in state["stageStates"]] == ["Source", "Build"]
    etag = hashlib.md5((server.data_dir / "artifacts" / bucket / "app.zip").read_bytes())
    for stage_state in state["stageStates"]:
        assert stage_state["latestExecution"] == {
            "pipelineExecutionId": second,
            "status": "Succeeded",
            "type": "STANDARD",
        }
        assert stage_state["inboundTransitionState"]["enabled"] is True
        assert not stage_state.get("inboundExecutions")
        [action] = stage_state["actionStates"]
        assert action["actionName"] == stage_state["stageName"]
        assert action["latestExecution"]["status"] == "Succeeded"
        assert action["latestExecution"]["token"] is None
    source = state["stageStates"][0]["actionStates"][0]
    assert source["currentRevision"]["revisionId"] == etag.hexdigest()
    assert state["stageStates"][1]["actionStates"][0]["latestExecution"]["summary"] == (
        "Commands succeeded"
    )

    everything = api.get(f"{BASE}/{name}/action-executions")
    assert everything.status_code == 200, everything.text
    # Source and Build of each of the three runs: the one creating the pipeline started, and two.
    assert len(everything.json()["actionExecutionDetails"]) == 6
    for execution_id in (initial, first, second):
        filtered = api.get(
            f"{BASE}/{name}/action-executions", params={"pipelineExecutionId": execution_id}
        )
        assert filtered.status_code == 200, filtered.text
        details = filtered.json()["actionExecutionDetails"]
        assert {d["pipelineExecutionId"] for d in details} == {execution_id}
        by_action = {d["actionName"]: d for d in details}
        assert set(by_action) == {"Source", "Build"}
        assert {d["status"] for d in details} == {"Succeeded"}
        assert by_action["Source"]["stageName"] == "Source"
        assert by_action["Build"]["input"]["actionTypeId"]["provider"] == "Commands"
        [output] = by_action["Source"]["output"]["outputArtifacts"]
        assert output["name"] == "SourceOutput"
        assert output["s3location"]["bucket"] == ARTIFACT_BUCKET
        [consumed] = by_action["Build"]["input"]["inputArtifacts"]
        assert consumed["s3location"] == output["s3location"]

    collected: list[str] = []
    token: str | None = None
    for _ in range(10):
        params: dict[str, Any] = {"maxResults": 1, "pipelineExecutionId": first}
        if token:
            params["nextToken"] = token
        page = api.get(f"{BASE}/{name}/action-executions", params=params).json()
        collected += [d["actionExecutionId"] for d in page["actionExecutionDetails"]]
        token = page["nextToken"]
        if not token:
            break
    assert len(collected) == len(set(collected)) == 2

    unknown = api.get(
        f"{BASE}/{name}/action-executions",
        params={"pipelineExecutionId": "00000000-0000-0000-0000-000000000000"},
    )
    assert unknown.status_code == 404
    assert error_code(unknown) == "PipelineExecutionNotFoundException"


# -- approvals ----------------------------------------------------------------------------------


def test_approval_flow(server: Server, api: httpx.Client, cp: Any) -> None:
    # The run creating the pipeline started waits at the approval: it is the run under test.
    name, execution_id = create(api, approval_pipeline(server, "rest-exec-approve"))
    wait_for_action(cp, name, execution_id, "Approve", "InProgress")

    waiting = action_state(api, name, "Gate", "Approve")["latestExecution"]
    assert waiting["status"] == "InProgress"
    assert waiting["summary"] == "Ship it?"
    token = waiting["token"]
    assert token
    assert api.get(f"{BASE}/{name}/executions/{execution_id}").json()["pipelineExecution"][
        "status"
    ] == ("InProgress")

    url = f"{BASE}/{name}/stages/Gate/approval"
    decision = {"actionName": "Approve", "status": "Approved", "summary": "Looks good"}
    wrong = api.post(url, json={**decision, "token": "00000000-0000-0000-0000-000000000000"})
    assert wrong.status_code == 400
    assert error_code(wrong) == "InvalidApprovalTokenException"
    assert action_state(api, name, "Gate", "Approve")["latestExecution"]["status"] == "InProgress"

    no_action = api.post(url, json={**decision, "actionName": "Nope", "token": token})
    assert no_action.status_code == 404
    assert error_code(no_action) == "ActionNotFoundException"
    no_stage = api.post(f"{BASE}/{name}/stages/Nope/approval", json={**decision, "token": token})
    assert no_stage.status_code == 404
    assert error_code(no_stage) == "StageNotFoundException"

    approved = api.post(url, json={**decision, "token": token})
    assert approved.status_code == 200, approved.text
    assert approved.json()["approvedAt"]
    wait_for_execution(cp, name, execution_id, "Succeeded")

    done = action_state(api, name, "Gate", "Approve")["latestExecution"]
    assert done["status"] == "Succeeded"
    assert done["summary"] == "Looks good"
    assert done["lastUpdatedBy"] == ROOT_ARN
    assert done["token"] is None

    again = api.post(url, json={**decision, "token": token})
    assert again.status_code == 400
    assert error_code(again) == "ApprovalAlreadyCompletedException"


def test_rejection_fails_the_execution(server: Server, api: httpx.Client, cp: Any) -> None:
    name, execution_id = create(api, approval_pipeline(server, "rest-exec-reject"))
    wait_for_action(cp, name, execution_id, "Approve", "InProgress")
    token = action_state(api, name, "Gate", "Approve")["latestExecution"]["token"]
    rejected = api.post(
        f"{BASE}/{name}/stages/Gate/approval",
        json={"actionName": "Approve", "token": token, "status": "Rejected", "summary": "No"},
    )
    assert rejected.status_code == 200, rejected.text
    wait_for_execution(cp, name, execution_id, "Failed")
    assert action_state(api, name, "Gate", "Approve")["latestExecution"]["status"] == "Failed"
    assert state_of(api, name, "Ship")["latestExecution"] is None


# -- stop and retry -----------------------------------------------------------------------------


def test_stop_and_abandon_a_running_action(server: Server, api: httpx.Client, cp: Any) -> None:
    # The run creating the pipeline started is the one stopped.
    name, execution_id = create(api, build_pipeline(server, "rest-exec-stop", "sleep 30"))
    wait_for_action(cp, name, execution_id, "Build", "InProgress")

    stopped = api.post(
        f"{BASE}/{name}/executions/{execution_id}/stop",
        json={"abandon": True, "reason": "enough waiting"},
    )
    assert stopped.status_code == 200, stopped.text
    assert stopped.json() == {"pipelineExecutionId": execution_id}
    execution = wait_for_execution(cp, name, execution_id, "Stopped", timeout=20)
    assert "enough waiting" in (execution.get("statusSummary") or "")

    build = action_state(api, name, "Build", "Build")["latestExecution"]
    assert build["status"] == "Abandoned"
    assert state_of(api, name, "Build")["latestExecution"]["status"] == "Stopped"
    [summary] = api.get(f"{BASE}/{name}/executions").json()["pipelineExecutionSummaries"]
    assert summary["status"] == "Stopped"
    assert summary["stopTrigger"] == {"reason": "enough waiting"}

    again = api.post(f"{BASE}/{name}/executions/{execution_id}/stop", json={"abandon": True})
    assert again.status_code == 400
    assert error_code(again) == "PipelineExecutionNotStoppableException"
    unknown = api.post(
        f"{BASE}/{name}/executions/00000000-0000-0000-0000-000000000000/stop", json={}
    )
    assert unknown.status_code == 404
    assert error_code(unknown) == "PipelineExecutionNotFoundException"


def test_retry_a_failed_stage(server: Server, api: httpx.Client, cp: Any, tmp_path: Path) -> None:
    marker = shared_dir() / f"let-it-pass-{tmp_path.name}"
    # The run creating the pipeline started fails (no marker yet); that run is retried.
    name, execution_id = create(
        api, build_pipeline(server, "rest-exec-retry", f"test -f '{marker}' || exit 3")
    )
    failed = wait_for_execution(cp, name, execution_id, "Failed")
    assert "exit status 3" in failed["statusSummary"]
    error = action_state(api, name, "Build", "Build")["latestExecution"]["errorDetails"]
    assert "exit status 3" in error["message"]

    retry_url = f"{BASE}/{name}/executions/{execution_id}/retry"
    unknown_stage = api.post(retry_url, json={"stageName": "Nope", "retryMode": "FAILED_ACTIONS"})
    assert unknown_stage.status_code == 404
    assert error_code(unknown_stage) == "StageNotFoundException"
    not_failed = api.post(retry_url, json={"stageName": "Source", "retryMode": "FAILED_ACTIONS"})
    assert not_failed.status_code == 400
    assert error_code(not_failed) == "StageNotRetryableException"

    marker.write_text("ok\n")
    retried = api.post(retry_url, json={"stageName": "Build", "retryMode": "FAILED_ACTIONS"})
    assert retried.status_code == 200, retried.text
    assert retried.json() == {"pipelineExecutionId": execution_id}
    wait_for_execution(cp, name, execution_id, "Succeeded")

    details = api.get(
        f"{BASE}/{name}/action-executions", params={"pipelineExecutionId": execution_id}
    ).json()["actionExecutionDetails"]
    builds = sorted(
        (d for d in details if d["actionName"] == "Build"), key=lambda d: d["startTime"]
    )
    assert [d["status"] for d in builds] == ["Failed", "Succeeded"]
    # FAILED_ACTIONS re-ran only the failed action: Source ran once.
    assert len([d for d in details if d["actionName"] == "Source"]) == 1

    done = api.post(retry_url, json={"stageName": "Build", "retryMode": "ALL_ACTIONS"})
    assert done.status_code == 400
    assert error_code(done) == "StageNotRetryableException"


# -- stage transitions ----------------------------------------------------------------------


def test_disabled_inbound_transition_holds_a_run_until_enabled(
    server: Server, api: httpx.Client, cp: Any
) -> None:
    # The run creating the pipeline started has gone through Build before the transition closes.
    name, initial = create_settled(api, cp, build_pipeline(server, "rest-exec-transition"))
    transitions = f"{BASE}/{name}/stages/Build/transitions/Inbound"
    disabled = api.post(f"{transitions}/disable", json={"reason": "Freeze until Monday"})
    assert disabled.status_code == 204, disabled.text
    assert disabled.content == b""

    execution_id = start(api, name)

    def held() -> dict[str, Any] | None:
        build = state_of(api, name, "Build")
        inbound = build.get("inboundExecutions") or []
        return build if execution_id in [e["pipelineExecutionId"] for e in inbound] else None

    build = wait_until(held, timeout=30, message="the run to wait at Build's inbound transition")
    assert build["inboundExecution"]["pipelineExecutionId"] == execution_id
    assert build["inboundExecution"]["status"] == "InProgress"
    transition = build["inboundTransitionState"]
    assert transition["enabled"] is False
    assert transition["disabledReason"] == "Freeze until Monday"
    assert transition["lastChangedBy"] == ROOT_ARN
    assert transition["lastChangedAt"]
    source = state_of(api, name, "Source")["latestExecution"]
    assert source["pipelineExecutionId"] == execution_id
    assert source["status"] == "Succeeded"
    # The held run has not entered Build: its latest run there is still the first one.
    assert build["latestExecution"]["pipelineExecutionId"] == initial
    execution = api.get(f"{BASE}/{name}/executions/{execution_id}").json()["pipelineExecution"]
    assert execution["status"] == "InProgress"

    enabled = api.post(f"{transitions}/enable", json={})
    assert enabled.status_code == 204, enabled.text
    wait_for_execution(cp, name, execution_id, "Succeeded")
    build = state_of(api, name, "Build")
    assert build["inboundTransitionState"]["enabled"] is True
    assert not build.get("inboundExecutions")
    assert build["latestExecution"]["pipelineExecutionId"] == execution_id


def test_transition_errors(server: Server, api: httpx.Client, cp: Any) -> None:
    name, _ = create_settled(api, cp, build_pipeline(server, "rest-exec-transition-bad"))
    unknown_stage = api.post(
        f"{BASE}/{name}/stages/Nope/transitions/Inbound/disable", json={"reason": "x"}
    )
    assert unknown_stage.status_code == 404
    assert error_code(unknown_stage) == "StageNotFoundException"
    no_reason = api.post(f"{BASE}/{name}/stages/Build/transitions/Inbound/disable", json={})
    assert no_reason.status_code == 400
    assert error_code(no_reason) == "ValidationException"
    bad_direction = api.post(
        f"{BASE}/{name}/stages/Build/transitions/Sideways/disable", json={"reason": "x"}
    )
    assert bad_direction.status_code == 400
    assert error_code(bad_direction) == "ValidationException"
    assert state_of(api, name, "Build")["inboundTransitionState"]["enabled"] is True


# -- authentication -----------------------------------------------------------------------------


def test_every_route_refuses_unauthenticated_requests(
    server: Server, api: httpx.Client, anonymous: httpx.Client, cp: Any
) -> None:
    # The run creating the pipeline started waits at the approval: it is the run under test.
    name, execution_id = create(api, approval_pipeline(server, "rest-exec-anon"))
    wait_for_action(cp, name, execution_id, "Approve", "InProgress")
    token = action_state(api, name, "Gate", "Approve")["latestExecution"]["token"]
    pipeline = f"{BASE}/{name}"
    execution = f"{pipeline}/executions/{execution_id}"
    requests: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", f"{pipeline}/executions", None),
        ("POST", f"{pipeline}/executions", {"clientRequestToken": "anonymous"}),
        ("GET", execution, None),
        ("POST", f"{execution}/stop", {"abandon": True}),
        ("POST", f"{execution}/retry", {"stageName": "Gate", "retryMode": "FAILED_ACTIONS"}),
        ("GET", f"{pipeline}/state", None),
        ("GET", f"{pipeline}/action-executions", None),
        (
            "POST",
            f"{pipeline}/stages/Gate/approval",
            {"actionName": "Approve", "token": token, "status": "Approved", "summary": "me"},
        ),
        ("POST", f"{pipeline}/stages/Ship/transitions/Inbound/disable", {"reason": "anon"}),
        ("POST", f"{pipeline}/stages/Ship/transitions/Inbound/enable", {}),
        ("GET", f"{execution}/actions/Approve/logs", None),
    ]
    bad_secret = httpx.Client(
        base_url=server.url, auth=(ACCESS_KEY_ID, "wrong-" + SECRET_ACCESS_KEY), timeout=30
    )
    with bad_secret:
        for client in (anonymous, bad_secret):
            for method, url, body in requests:
                response = client.request(method, url, json=body)
                assert response.status_code == 401, (method, url, response.text)
                assert error_code(response) == "UnrecognizedClientException"

    # Nothing happened: one execution, still waiting on the same approval, transitions open.
    assert execution_ids(api, name) == [execution_id]
    got = api.get(execution).json()["pipelineExecution"]
    assert got["status"] == "InProgress"
    waiting = action_state(api, name, "Gate", "Approve")["latestExecution"]
    assert waiting["status"] == "InProgress"
    assert waiting["token"] == token
    assert state_of(api, name, "Ship")["inboundTransitionState"] == {"enabled": True}

    # The approval still works for an authenticated caller.
    approved = api.post(
        f"{pipeline}/stages/Gate/approval",
        json={"actionName": "Approve", "token": token, "status": "Approved", "summary": "ok"},
    )
    assert approved.status_code == 200, approved.text
    wait_for_execution(cp, name, execution_id, "Succeeded")
