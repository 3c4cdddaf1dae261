"""The AWS JSON 1.1 wire protocol, by raw signed HTTP requests: how the endpoint answers
requests boto3 would never send (bad JSON, unknown targets, oversized bodies, ...)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from tests.support.pipelines import codebuild, two_stage, unique
from tests.support.servers import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, Server

from stageline.aws.codebuild import HANDLERS as CODEBUILD_HANDLERS
from stageline.aws.codepipeline import HANDLERS
from stageline.aws.spec import service_model

PREFIX = "CodePipeline_20150709"
CONTENT_TYPE = "application/x-amz-json-1.1"


def signed_post(
    server: Server,
    target: str | None,
    body: bytes,
    *,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """POST / signed with SigV4 by botocore, as boto3 would send it. `target` is the whole
    X-Amz-Target (e.g. "CodePipeline_20150709.GetPipeline"); None leaves the header out."""
    request_headers = {"Content-Type": CONTENT_TYPE, **(headers or {})}
    if target is not None:
        request_headers["X-Amz-Target"] = target
    request = AWSRequest(method="POST", url=server.url + "/", data=body, headers=request_headers)
    credentials = Credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY)
    SigV4Auth(credentials, "codepipeline", REGION).add_auth(request)
    return httpx.post(
        server.url + "/", content=body, headers=dict(request.headers.items()), timeout=30
    )


def call(server: Server, operation: str, params: Mapping[str, Any]) -> httpx.Response:
    return signed_post(server, f"{PREFIX}.{operation}", json.dumps(params).encode())


def assert_error(response: httpx.Response, status: int, error_type: str) -> dict[str, Any]:
    """An AWS JSON error: status, __type and message, headers, and no leaked internals."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == CONTENT_TYPE
    assert response.headers["x-amzn-errortype"] == error_type
    assert uuid.UUID(response.headers["x-amzn-requestid"])
    assert "Traceback" not in response.text
    body: dict[str, Any] = response.json()
    assert body["__type"] == error_type
    assert isinstance(body["message"], str) and body["message"]
    return body


# --- bodies that are not the operation's input --------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b'{"name": ', b"{'name': 'x'}", b"\xff\xfe\x00", b"[]", b'["name"]', b'"text"', b"42"],
    ids=["truncated", "single-quotes", "not-utf8", "empty-array", "array", "string", "number"],
)
def test_a_body_that_is_not_a_json_object(server: Server, body: bytes) -> None:
    response = signed_post(server, f"{PREFIX}.GetPipeline", body)
    assert_error(response, 400, "SerializationException")


@pytest.mark.parametrize(
    ("operation", "params", "where"),
    [
        ("GetPipeline", {"name": 123}, "name"),
        ("GetPipeline", {"name": "p", "version": "1"}, "version"),
        ("ListPipelines", {"maxResults": True}, "maxResults"),
        ("CreatePipeline", {"pipeline": []}, "pipeline"),
        ("CreatePipeline", {"pipeline": {**two_stage(), "stages": {}}}, "pipeline.stages"),
        ("TagResource", {"resourceArn": "arn", "tags": [{"key": 1, "value": "v"}]}, "key"),
    ],
    ids=["string", "integer", "integer-not-bool", "structure", "list", "nested"],
)
def test_a_member_of_the_wrong_json_type(
    server: Server, operation: str, params: dict[str, Any], where: str
) -> None:
    body = assert_error(call(server, operation, params), 400, "SerializationException")
    assert where in body["message"]


def test_an_empty_body_is_an_empty_input(server: Server) -> None:
    response = signed_post(server, f"{PREFIX}.ListPipelines", b"")

    assert response.status_code == 200
    assert isinstance(response.json()["pipelines"], list)


def test_a_failed_create_by_wrong_type_writes_nothing(server: Server) -> None:
    declaration = two_stage()
    declaration["stages"][0]["actions"][0]["runOrder"] = "1"

    response = call(server, "CreatePipeline", {"pipeline": declaration})

    assert_error(response, 400, "SerializationException")

    missing = call(server, "GetPipeline", {"name": declaration["name"]})
    assert_error(missing, 400, "PipelineNotFoundException")


def test_a_null_member_is_an_absent_member(server: Server) -> None:
    declaration: dict[str, Any] = {**two_stage(), "pipelineType": None, "executionMode": None}
    declaration["stages"][0]["actions"][0].update(inputArtifacts=None, namespace=None)
    declaration["stages"][1]["actions"] = [
        {**codebuild("Compile", outputs=("Binary",)), "runOrder": None, "region": None},
        {**codebuild("Lint"), "runOrder": None},
    ]
    declaration["stages"][1]["onFailure"] = None

    response = call(server, "CreatePipeline", {"pipeline": declaration, "tags": None})

    assert response.status_code == 200, response.text
    got = call(server, "GetPipeline", {"name": declaration["name"]}).json()["pipeline"]
    assert (got["pipelineType"], got["executionMode"]) == ("V1", "SUPERSEDED")
    assert got["stages"][0]["actions"][0]["inputArtifacts"] == []
    assert [a["runOrder"] for a in got["stages"][1]["actions"]] == [1, 1]
    assert "onFailure" not in got["stages"][1]


def test_a_null_required_member_is_missing(server: Server) -> None:
    declaration = {**two_stage(), "roleArn": None}

    body = assert_error(
        call(server, "CreatePipeline", {"pipeline": declaration}), 400, "ValidationException"
    )

    assert body["message"] == (
        "1 validation error detected: Value null at 'pipeline.roleArn' failed to satisfy "
        "constraint: Member must not be null"
    )


@pytest.mark.parametrize("where", ["stages", "tags", "inputArtifacts"])
def test_a_null_list_element_cannot_be_read_and_writes_nothing(server: Server, where: str) -> None:
    declaration = two_stage()
    params: dict[str, Any] = {"pipeline": declaration}
    if where == "stages":
        declaration["stages"].append(None)
    elif where == "tags":
        params["tags"] = [{"key": "a", "value": "b"}, None]
    else:
        declaration["stages"][1]["actions"][0]["inputArtifacts"].append(None)

    assert_error(call(server, "CreatePipeline", params), 400, "SerializationException")

    missing = call(server, "GetPipeline", {"name": declaration["name"]})
    assert_error(missing, 400, "PipelineNotFoundException")


# --- targets ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [f"{PREFIX}.Nope", "Other_1.X", f"{PREFIX}.", PREFIX, "", f"{PREFIX}.getPipeline"],
    ids=["unknown-operation", "unknown-service", "no-operation", "no-dot", "empty", "lower-case"],
)
def test_an_unknown_target(server: Server, target: str) -> None:
    body = assert_error(signed_post(server, target, b"{}"), 400, "UnknownOperationException")
    assert target in body["message"]


def test_a_missing_target(server: Server) -> None:
    assert_error(signed_post(server, None, b"{}"), 400, "UnknownOperationException")


NOT_IMPLEMENTED = sorted(set(service_model("codepipeline").operation_names) - set(HANDLERS))


NOT_IMPLEMENTED_CODEBUILD = sorted(
    set(service_model("codebuild").operation_names) - set(CODEBUILD_HANDLERS)
)


@pytest.mark.parametrize(
    "target",
    [f"{PREFIX}.{op}" for op in NOT_IMPLEMENTED]
    + [f"CodeBuild_20161006.{op}" for op in NOT_IMPLEMENTED_CODEBUILD],
)
def test_an_operation_not_implemented_yet(server: Server, target: str) -> None:
    operation = target.split(".", 1)[1]
    response = signed_post(server, target, b"{}")

    body = assert_error(response, 501, "NotImplemented")
    assert operation in body["message"]
    assert "not implement" in body["message"]


# --- size ---------------------------------------------------------------------------------------

ONE_MIB = 1024 * 1024


def padded_body(size: int) -> bytes:
    """A valid ListPipelines input of exactly `size` bytes (JSON whitespace as padding)."""
    head = b'{"maxResults": 1'
    return head + b" " * (size - len(head) - 1) + b"}"


def test_a_body_over_one_mib_is_refused(server: Server) -> None:
    response = signed_post(server, f"{PREFIX}.ListPipelines", padded_body(ONE_MIB + 1))
    assert_error(response, 413, "RequestEntityTooLargeException")


def test_a_body_of_exactly_one_mib_is_read(server: Server) -> None:
    response = signed_post(server, f"{PREFIX}.ListPipelines", padded_body(ONE_MIB))
    assert response.status_code == 200, response.text


def test_an_oversized_chunked_body_without_content_length_is_refused(server: Server) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(17):
            yield b" " * 65536

    response = httpx.post(
        server.url + "/",
        content=chunks(),
        headers={"X-Amz-Target": f"{PREFIX}.ListPipelines", "Content-Type": CONTENT_TYPE},
        timeout=30,
    )

    assert "content-length" not in response.request.headers
    assert_error(response, 413, "RequestEntityTooLargeException")


# --- every response -----------------------------------------------------------------------------


def test_successful_responses_carry_a_request_id_and_the_json_content_type(
    server: Server,
) -> None:
    responses = [call(server, "ListPipelines", {}) for _ in range(3)]

    ids = set()
    for response in responses:
        assert response.status_code == 200
        assert response.headers["content-type"] == CONTENT_TYPE
        ids.add(str(uuid.UUID(response.headers["x-amzn-requestid"])))
    assert len(ids) == 3


def test_service_errors_have_the_same_envelope(server: Server) -> None:
    body = assert_error(
        call(server, "GetPipeline", {"name": unique("missing")}), 400, "PipelineNotFoundException"
    )
    assert set(body) == {"__type", "message"}


def test_get_pipeline_timestamps_are_epoch_seconds(server: Server) -> None:
    declaration = two_stage()
    assert call(server, "CreatePipeline", {"pipeline": declaration}).status_code == 200

    response = call(server, "GetPipeline", {"name": declaration["name"]})

    assert response.status_code == 200
    metadata = response.json()["metadata"]
    for field in ("created", "updated"):
        value = metadata[field]
        assert isinstance(value, int | float) and not isinstance(value, bool), metadata
        assert 1.5e9 < value < 4e9
    summary = next(
        p
        for p in call(server, "ListPipelines", {"maxResults": 1000}).json()["pipelines"]
        if p["name"] == declaration["name"]
    )
    assert isinstance(summary["created"], int | float)
    assert summary["created"] == metadata["created"]
