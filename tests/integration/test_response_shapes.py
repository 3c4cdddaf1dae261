"""Every implemented operation's raw JSON response fits botocore's output shape.

The walker here is written independently of stageline.aws.shapes (the server's own response
check), so a bug there cannot hide a bad response from this test.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

import botocore.session
import pytest
from botocore.model import ListShape, MapShape, ServiceModel, Shape, StructureShape
from tests.executions.declarations import approval, commands, s3_source, stage, unique
from tests.executions.declarations import pipeline as execution_pipeline
from tests.executions.stack import zip_bytes
from tests.integration.test_custom_action_types import (
    definition,
    integration_declaration,
    third_party,
)
from tests.integration.test_protocol_errors import signed_post
from tests.support.pipelines import codebuild, two_stage
from tests.support.servers import Server
from tests.support.shared import shared_dir

from stageline.aws.codepipeline import HANDLERS
from stageline.aws.codepipeline_jobs import HANDLERS as JOB_HANDLERS
from stageline.aws.codepipeline_webhooks import WEBHOOK_HANDLERS

PREFIX = "CodePipeline_20150709"
MODEL: ServiceModel = botocore.session.get_session().get_service_model("codepipeline")


# --- an independent walker ----------------------------------------------------------------------


def _python_regex(pattern: str) -> str:
    """Java's Unicode classes (CodeBuild's tag patterns) spelled as Python's re knows them."""
    return (
        pattern.replace("\\p{L}", "a-zA-Z\\u00c0-\\uffff")
        .replace("\\p{Z}", " ")
        .replace("\\p{N}", "0-9")
    )


def _sized(shape: Shape, size: int, path: str) -> list[str]:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    problems = []
    if low is not None and size < low:
        problems.append(f"{path}: size {size} < min {low}")
    if high is not None and size > high:
        problems.append(f"{path}: size {size} > max {high}")
    return problems


def _ranged(shape: Shape, number: float, path: str) -> list[str]:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    problems = []
    if low is not None and number < low:
        problems.append(f"{path}: {number} < min {low}")
    if high is not None and number > high:
        problems.append(f"{path}: {number} > max {high}")
    return problems


def violations(shape: Shape, value: Any, path: str = "$") -> list[str]:
    """Everything about `value` that the output shape does not allow, as readable lines."""
    kind = shape.type_name
    if value is None:
        return [f"{path}: null (AWS leaves out absent members)"]
    if kind == "structure":
        assert isinstance(shape, StructureShape)
        if not isinstance(value, dict):
            return [f"{path}: {type(value).__name__}, not an object"]
        problems = [
            f"{path}.{m}: required, missing" for m in shape.required_members if m not in value
        ]
        for name, member in value.items():
            if name not in shape.members:
                problems.append(f"{path}.{name}: not a member of {shape.name}")
            else:
                problems += violations(shape.members[name], member, f"{path}.{name}")
        return problems
    if kind == "list":
        assert isinstance(shape, ListShape)
        if not isinstance(value, list):
            return [f"{path}: {type(value).__name__}, not a list"]
        problems = _sized(shape, len(value), path)
        for index, item in enumerate(value):
            problems += violations(shape.member, item, f"{path}[{index}]")
        return problems
    if kind == "map":
        assert isinstance(shape, MapShape)
        if not isinstance(value, dict):
            return [f"{path}: {type(value).__name__}, not a map"]
        problems = _sized(shape, len(value), path)
        for key, item in value.items():
            problems += violations(shape.key, key, f"{path}<key {key!r}>")
            problems += violations(shape.value, item, f"{path}[{key!r}]")
        return problems
    if kind == "string":
        if not isinstance(value, str):
            return [f"{path}: {type(value).__name__}, not a string"]
        problems = _sized(shape, len(value), path)
        enum = shape.enum
        if enum and value not in enum:
            problems.append(f"{path}: {value!r} not in enum {enum}")
        pattern = shape.metadata.get("pattern")
        if pattern and re.fullmatch(_python_regex(pattern), value) is None:
            problems.append(f"{path}: {value!r} does not match {pattern}")
        return problems
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            return [f"{path}: {value!r} is not an integer"]
        return _ranged(shape, value, path)
    if kind in ("double", "float"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return [f"{path}: {value!r} is not a number"]
        return _ranged(shape, value, path)
    if kind == "boolean":
        return [] if isinstance(value, bool) else [f"{path}: {value!r} is not a boolean"]
    if kind == "timestamp":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return [f"{path}: {value!r} is not epoch seconds"]
        return []
    return [f"{path}: the walker does not know shape type {kind!r}"]


def output_violations(operation: str, body: dict[str, Any]) -> list[str]:
    shape = MODEL.operation_model(operation).output_shape
    if shape is None:
        return [] if body == {} else [f"$: {operation} has no output, got {body!r}"]
    return violations(shape, body)


def test_the_walker_catches_what_it_should() -> None:
    shape = MODEL.operation_model("GetPipeline").output_shape
    good = {
        "pipeline": {
            "name": "p",
            "roleArn": "arn:aws:iam::000000000000:role/r",
            "stages": [],
            "pipelineType": "V2",
        },
        "metadata": {"created": 1700000000.5},
    }
    assert violations(shape, good) == []

    def broken(change: Callable[[dict[str, Any]], None]) -> list[str]:
        body = json.loads(json.dumps(good))
        change(body)
        return violations(shape, body)

    assert broken(lambda b: b["pipeline"].pop("roleArn")) == [
        "$.pipeline.roleArn: required, missing"
    ]
    assert broken(lambda b: b["pipeline"].update(extra=1)) == [
        "$.pipeline.extra: not a member of PipelineDeclaration"
    ]
    assert broken(lambda b: b["metadata"].update(created="2024-01-01T00:00:00Z"))
    assert broken(lambda b: b["pipeline"].update(pipelineType="V3"))
    assert broken(lambda b: b["pipeline"].update(version="1"))
    assert broken(lambda b: b["pipeline"].update(version=0))
    assert broken(lambda b: b["pipeline"].update(name="bad name"))
    assert broken(lambda b: b["pipeline"].update(name="x" * 101))
    assert broken(lambda b: b["pipeline"].update(stages={}))
    assert broken(lambda b: b["pipeline"].update(variables=None))
    assert broken(lambda b: b["metadata"].update(created=True))
    assert output_violations("DeletePipeline", {"x": 1})


# --- calls that exercise each operation ---------------------------------------------------------


def call(server: Server, operation: str, params: dict[str, Any]) -> dict[str, Any]:
    response = signed_post(server, f"{PREFIX}.{operation}", json.dumps(params).encode())
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def arn_of(name: str) -> str:
    return f"arn:aws:codepipeline:us-east-1:000000000000:{name}"


def rich_pipeline() -> dict[str, Any]:
    """A V2 pipeline using most optional members of the declaration."""
    declaration = two_stage(
        pipelineType="V2",
        executionMode="QUEUED",
        variables=[{"name": "Env", "defaultValue": "dev", "description": "where"}, {"name": "N"}],
    )
    declaration["artifactStore"]["encryptionKey"] = {"id": "alias/key", "type": "KMS"}
    source = declaration["stages"][0]["actions"][0]
    source.update(namespace="SourceVariables", roleArn="arn:aws:iam::000000000000:role/a")
    build = declaration["stages"][1]
    build["actions"] = [
        codebuild("Compile", outputs=("Binary",)),
        {**codebuild("Test", inputs=("Binary",), run_order=2), "region": "us-east-1"},
    ]
    build["onFailure"] = {"result": "FAIL"}
    return declaration


def create(server: Server, **extra: Any) -> dict[str, Any]:
    return call(server, "CreatePipeline", {"pipeline": rich_pipeline(), **extra})


def creates(server: Server) -> list[dict[str, Any]]:
    minimal = call(server, "CreatePipeline", {"pipeline": two_stage()})
    tagged = create(server, tags=[{"key": "team", "value": "core"}, {"key": "empty", "value": ""}])
    return [minimal, tagged]


def gets(server: Server) -> list[dict[str, Any]]:
    declaration = create(server)["pipeline"]
    call(server, "UpdatePipeline", {"pipeline": declaration})
    name = declaration["name"]
    return [
        call(server, "GetPipeline", {"name": name}),
        call(server, "GetPipeline", {"name": name, "version": 1}),
    ]


def updates(server: Server) -> list[dict[str, Any]]:
    declaration = create(server)["pipeline"]
    return [call(server, "UpdatePipeline", {"pipeline": declaration})]


def deletes(server: Server) -> list[dict[str, Any]]:
    name = create(server)["pipeline"]["name"]
    return [
        call(server, "DeletePipeline", {"name": name}),
        call(server, "DeletePipeline", {"name": name}),
    ]


def lists(server: Server) -> list[dict[str, Any]]:
    for _ in range(3):
        create(server)
    first = call(server, "ListPipelines", {"maxResults": 2})
    assert "nextToken" in first
    return [
        first,
        call(server, "ListPipelines", {"maxResults": 2, "nextToken": first["nextToken"]}),
        call(server, "ListPipelines", {}),
    ]


def tags(server: Server) -> list[dict[str, Any]]:
    arn = arn_of(create(server)["pipeline"]["name"])
    return [call(server, "TagResource", {"resourceArn": arn, "tags": [{"key": "a", "value": "b"}]})]


def untags(server: Server) -> list[dict[str, Any]]:
    arn = arn_of(create(server, tags=[{"key": "a", "value": "b"}])["pipeline"]["name"])
    return [call(server, "UntagResource", {"resourceArn": arn, "tagKeys": ["a", "missing"]})]


def lists_tags(server: Server) -> list[dict[str, Any]]:
    many = [{"key": f"k{i}", "value": f"v{i}"} for i in range(3)]
    arn = arn_of(create(server, tags=many)["pipeline"]["name"])
    first = call(server, "ListTagsForResource", {"resourceArn": arn, "maxResults": 2})
    assert "nextToken" in first
    rest = call(
        server, "ListTagsForResource", {"resourceArn": arn, "nextToken": first["nextToken"]}
    )
    empty = arn_of(create(server)["pipeline"]["name"])
    return [first, rest, call(server, "ListTagsForResource", {"resourceArn": empty})]


def lists_action_types(server: Server) -> list[dict[str, Any]]:
    call(server, "CreateCustomActionType", definition())
    third_party(server)
    filters: list[dict[str, Any]] = [
        {},
        *({"actionOwnerFilter": o} for o in ("AWS", "ThirdParty", "Custom")),
    ]
    return [call(server, "ListActionTypes", params) for params in filters]


def gets_action_types(server: Server) -> list[dict[str, Any]]:
    third_party(server)
    listed = call(server, "ListActionTypes", {})["actionTypes"]
    # GetActionType's owner is "AWS|ThirdParty": custom types are read through the listing.
    return [call(server, "GetActionType", t["id"]) for t in listed if t["id"]["owner"] != "Custom"]


def creates_custom_action_types(server: Server) -> list[dict[str, Any]]:
    given = definition()
    plain = {
        **{k: given[k] for k in ("category", "version")},
        "provider": given["provider"] + "x",
        "inputArtifactDetails": {"minimumCount": 0, "maximumCount": 0},
        "outputArtifactDetails": {"minimumCount": 0, "maximumCount": 5},
    }
    return [
        call(server, "CreateCustomActionType", {**given, "tags": [{"key": "a", "value": ""}]}),
        call(server, "CreateCustomActionType", given),
        call(server, "CreateCustomActionType", plain),
    ]


def deletes_custom_action_types(server: Server) -> list[dict[str, Any]]:
    given = definition()
    call(server, "CreateCustomActionType", given)
    which = {k: given[k] for k in ("category", "provider", "version")}
    return [call(server, "DeleteCustomActionType", which) for _ in range(2)]


def updates_action_types(server: Server) -> list[dict[str, Any]]:
    declaration = integration_declaration(third_party(server))
    return [call(server, "UpdateActionType", {"actionType": declaration})]


# --- executions: real runs on the server's in-process executor and folder store ----------------


def put_source(server: Server, bucket: str, key: str = "app.zip") -> None:
    """An S3 source object in the embedded object store (a bucket is a folder)."""
    path = server.data_dir / "artifacts" / bucket / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(zip_bytes({"a.txt": "a\n"}))


def run_pipeline(
    server: Server, build: Sequence[str] = ("export OUT=done",), *, gate: bool = False
) -> tuple[str, str]:
    """Create a V2 pipeline (source, optional approval, Commands build); its first run's id."""
    name, bucket = unique("shape-run"), unique("src")
    put_source(server, bucket)
    stages = [stage("Source", s3_source(bucket, namespace="SourceVariables"))]
    if gate:
        stages.append(stage("Gate", approval(summary="Check v1", link="https://example.com/v1")))
    build_action = commands(
        "Build", [*build, "echo x > out.txt"], output="BuildOutput", files=["*.txt"]
    )
    build_action["outputVariables"] = ["OUT"]
    declaration = execution_pipeline(
        name,
        *stages,
        stage("Build", build_action),
        variables=[{"name": "Env", "defaultValue": "dev"}],
    )
    call(server, "CreatePipeline", {"pipeline": declaration})
    listed = call(server, "ListPipelineExecutions", {"pipelineName": name})
    return name, listed["pipelineExecutionSummaries"][0]["pipelineExecutionId"]


def until(server: Server, name: str, execution_id: str, status: str) -> dict[str, Any]:
    params = {"pipelineName": name, "pipelineExecutionId": execution_id}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        body = call(server, "GetPipelineExecution", params)
        if body["pipelineExecution"]["status"] == status:
            return body
        time.sleep(0.1)
    raise AssertionError(f"{execution_id} of {name} did not reach {status}: {body}")


def approval_token(server: Server, name: str) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        gate = call(server, "GetPipelineState", {"name": name})["stageStates"][1]
        latest = gate["actionStates"][0].get("latestExecution") or {}
        if latest.get("status") == "InProgress" and latest.get("token"):
            return str(latest["token"])
        time.sleep(0.1)
    raise AssertionError(f"{name} never waited for an approval")


def approve(server: Server, name: str, token: str, status: str = "Approved") -> dict[str, Any]:
    return call(
        server,
        "PutApprovalResult",
        {
            "pipelineName": name,
            "stageName": "Gate",
            "actionName": "Approve",
            "result": {"status": status, "summary": f"{status} by the shape test"},
            "token": token,
        },
    )


def starts(server: Server) -> list[dict[str, Any]]:
    name, first = run_pipeline(server)
    until(server, name, first, "Succeeded")
    params = {
        "name": name,
        "variables": [{"name": "Env", "value": "prod"}],
        "clientRequestToken": "shape-token-1",
    }
    return [call(server, "StartPipelineExecution", params) for _ in range(2)]


def gets_executions(server: Server) -> list[dict[str, Any]]:
    name, succeeded = run_pipeline(server)
    failing, failed = run_pipeline(server, ("exit 4",))
    return [until(server, name, succeeded, "Succeeded"), until(server, failing, failed, "Failed")]


def lists_executions(server: Server) -> list[dict[str, Any]]:
    name, first = run_pipeline(server, gate=True)
    approval_token(server, name)
    stop = {"pipelineName": name, "pipelineExecutionId": first, "abandon": True, "reason": "no"}
    call(server, "StopPipelineExecution", stop)
    second = call(server, "StartPipelineExecution", {"name": name})["pipelineExecutionId"]
    approve(server, name, approval_token(server, name))
    until(server, name, second, "Succeeded")
    page = call(server, "ListPipelineExecutions", {"pipelineName": name, "maxResults": 1})
    assert "nextToken" in page
    rest = {"pipelineName": name, "nextToken": page["nextToken"]}
    stage_filter = {"succeededInStage": {"stageName": "Build"}}
    return [
        page,
        call(server, "ListPipelineExecutions", rest),
        call(server, "ListPipelineExecutions", {"pipelineName": name, "filter": stage_filter}),
    ]


def states(server: Server) -> list[dict[str, Any]]:
    name, first = run_pipeline(server, gate=True)
    token = approval_token(server, name)
    waiting = call(server, "GetPipelineState", {"name": name})
    transition = {"pipelineName": name, "stageName": "Build", "transitionType": "Inbound"}
    call(server, "DisableStageTransition", {**transition, "reason": "freeze"})
    approve(server, name, token)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        held = call(server, "GetPipelineState", {"name": name})
        if held["stageStates"][2].get("inboundExecutions"):
            break
        time.sleep(0.1)
    call(server, "EnableStageTransition", transition)
    until(server, name, first, "Succeeded")
    failing, failed = run_pipeline(server, ("exit 4",))
    until(server, failing, failed, "Failed")
    return [
        waiting,
        held,
        call(server, "GetPipelineState", {"name": name}),
        call(server, "GetPipelineState", {"name": failing}),
    ]


def lists_action_executions(server: Server) -> list[dict[str, Any]]:
    name, succeeded = run_pipeline(server)
    failing, failed = run_pipeline(server, ("exit 4",))
    until(server, name, succeeded, "Succeeded")
    until(server, failing, failed, "Failed")
    page = call(server, "ListActionExecutions", {"pipelineName": name, "maxResults": 1})
    assert "nextToken" in page
    by_id = {"pipelineName": name, "filter": {"pipelineExecutionId": succeeded}}
    return [
        page,
        call(
            server, "ListActionExecutions", {"pipelineName": name, "nextToken": page["nextToken"]}
        ),
        call(server, "ListActionExecutions", by_id),
        call(server, "ListActionExecutions", {"pipelineName": failing}),
    ]


def stops(server: Server) -> list[dict[str, Any]]:
    name, first = run_pipeline(server, gate=True)
    approval_token(server, name)
    params = {"pipelineName": name, "pipelineExecutionId": first}
    waited = call(server, "StopPipelineExecution", {**params, "abandon": False, "reason": "wait"})
    abandoned = call(server, "StopPipelineExecution", {**params, "abandon": True})
    until(server, name, first, "Stopped")
    return [waited, abandoned]


def retries(server: Server) -> list[dict[str, Any]]:
    marker = shared_dir() / f"{unique('marker')}.ok"
    name, first = run_pipeline(server, (f"test -f {marker}", "export OUT=done"))
    until(server, name, first, "Failed")
    marker.touch()
    params = {"pipelineName": name, "stageName": "Build", "pipelineExecutionId": first}
    body = call(server, "RetryStageExecution", {**params, "retryMode": "FAILED_ACTIONS"})
    until(server, name, first, "Succeeded")
    return [body]


def transitions(operation: str) -> Callable[[Server], list[dict[str, Any]]]:
    def scenario(server: Server) -> list[dict[str, Any]]:
        name, _ = run_pipeline(server)
        params = {"pipelineName": name, "stageName": "Build", "transitionType": "Inbound"}
        if operation == "DisableStageTransition":
            params["reason"] = "freeze"
        outbound = {**params, "transitionType": "Outbound"}
        return [call(server, operation, params), call(server, operation, outbound)]

    return scenario


def approvals(server: Server) -> list[dict[str, Any]]:
    approved, first = run_pipeline(server, gate=True)
    rejected, other = run_pipeline(server, gate=True)
    bodies = [
        approve(server, approved, approval_token(server, approved)),
        approve(server, rejected, approval_token(server, rejected), "Rejected"),
    ]
    until(server, approved, first, "Succeeded")
    until(server, rejected, other, "Failed")
    return bodies


SCENARIOS: dict[str, Callable[[Server], list[dict[str, Any]]]] = {
    "CreatePipeline": creates,
    "GetPipeline": gets,
    "UpdatePipeline": updates,
    "DeletePipeline": deletes,
    "ListPipelines": lists,
    "TagResource": tags,
    "UntagResource": untags,
    "ListTagsForResource": lists_tags,
    "ListActionTypes": lists_action_types,
    "GetActionType": gets_action_types,
    "CreateCustomActionType": creates_custom_action_types,
    "DeleteCustomActionType": deletes_custom_action_types,
    "UpdateActionType": updates_action_types,
    "StartPipelineExecution": starts,
    "GetPipelineExecution": gets_executions,
    "ListPipelineExecutions": lists_executions,
    "GetPipelineState": states,
    "ListActionExecutions": lists_action_executions,
    "StopPipelineExecution": stops,
    "RetryStageExecution": retries,
    "EnableStageTransition": transitions("EnableStageTransition"),
    "DisableStageTransition": transitions("DisableStageTransition"),
    "PutApprovalResult": approvals,
}


def test_every_implemented_operation_has_a_scenario() -> None:
    # The job protocol's scenarios live in test_response_shapes_jobs.py, which checks its own.
    assert set(SCENARIOS) == set(HANDLERS) - set(JOB_HANDLERS) - set(WEBHOOK_HANDLERS)


@pytest.mark.parametrize("operation", sorted(SCENARIOS))
def test_the_raw_response_fits_the_output_shape(server: Server, operation: str) -> None:
    bodies = SCENARIOS[operation](server)

    assert bodies
    for body in bodies:
        assert output_violations(operation, body) == []


def test_a_rich_pipeline_round_trips_unchanged(server: Server) -> None:
    declaration = rich_pipeline()
    call(server, "CreatePipeline", {"pipeline": declaration})

    got = call(server, "GetPipeline", {"name": declaration["name"]})["pipeline"]

    assert got["artifactStore"] == declaration["artifactStore"]
    assert got["stages"][0]["actions"][0]["namespace"] == "SourceVariables"
    assert got["stages"][1]["onFailure"] == {"result": "FAIL"}
    assert got["stages"][1]["actions"][1]["region"] == "us-east-1"
    assert got["variables"] == declaration["variables"]
