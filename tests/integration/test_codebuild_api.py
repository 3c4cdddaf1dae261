"""CodeBuild's project API on the real server, through boto3 and the AWS CLI, on SQLite and
Postgres: create/read/update/delete/list, CodeBuild's errors for bad input, and responses that
fit botocore's codebuild model (checked by an independent walker)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ClientError
from tests.conftest import make_client
from tests.integration.test_response_shapes import violations
from tests.support.servers import Server

MODEL = botocore.session.get_session().get_service_model("codebuild")
ARN = "arn:aws:codebuild:us-east-1:000000000000"


@pytest.fixture
def cb(server: Server) -> Any:
    return make_client(server.url, "codebuild")


def unique(prefix: str = "proj") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def project(name: str, **extra: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "name": name,
        "source": {
            "type": "NO_SOURCE",
            "buildspec": "version: 0.2\nphases:\n  build:\n    commands: [true]\n",
        },
        "artifacts": {"type": "NO_ARTIFACTS"},
        "environment": {
            "type": "LINUX_CONTAINER",
            "image": "aws/codebuild/standard:7.0",
            "computeType": "BUILD_GENERAL1_SMALL",
        },
        "serviceRole": "arn:aws:iam::000000000000:role/build",
    }
    settings.update(extra)
    return settings


def raw(cb: Any, operation: str, **params: Any) -> dict[str, Any]:
    """The operation's JSON as sent on the wire, checked against the output shape."""
    parsed: dict[str, Any] = {}

    def keep(http_response: Any, **_: Any) -> None:
        parsed.update(json.loads(http_response.content or b"{}"))

    cb.meta.events.register(f"after-call.codebuild.{operation}", keep)
    try:
        getattr(cb, _snake(operation))(**params)
    finally:
        cb.meta.events.unregister(f"after-call.codebuild.{operation}", keep)
    shape = MODEL.operation_model(operation).output_shape
    assert violations(shape, parsed) == [], parsed
    return parsed


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def error_of(call: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as caught:
        call()
    error: dict[str, Any] = caught.value.response["Error"]
    assert 400 <= caught.value.response["ResponseMetadata"]["HTTPStatusCode"] < 500
    return error


def test_a_project_round_trip(cb: Any) -> None:
    name = unique()
    created = raw(cb, "CreateProject", **project(name, tags=[{"key": "team", "value": "a"}]))
    p = created["project"]
    assert p["arn"] == f"{ARN}:project/{name}"
    assert p["timeoutInMinutes"] == 60 and p["queuedTimeoutInMinutes"] == 480
    assert p["tags"] == [{"key": "team", "value": "a"}]

    raw(cb, "UpdateProject", name=name, description="nightly", timeoutInMinutes=15)
    got = raw(cb, "BatchGetProjects", names=[name, f"{ARN}:project/{name}", "nope-missing"])
    assert [x["description"] for x in got["projects"]] == ["nightly", "nightly"]
    assert got["projects"][0]["timeoutInMinutes"] == 15
    assert got["projectsNotFound"] == ["nope-missing"]

    cb.delete_project(name=name)
    assert cb.batch_get_projects(names=[name])["projectsNotFound"] == [name]
    cb.delete_project(name=name)  # as CodeBuild: deleting a missing project is no error


def test_list_projects_sorts_and_pages(cb: Any) -> None:
    names = sorted(unique("list") for _ in range(3))
    for name in names:
        cb.create_project(**project(name))
    listed = raw(cb, "ListProjects", sortBy="NAME", sortOrder="ASCENDING")["projects"]
    assert [n for n in listed if n in names] == names
    newest = cb.list_projects(sortBy="CREATED_TIME", sortOrder="DESCENDING")["projects"]
    assert [n for n in newest if n in names] == list(reversed(names))
    error = error_of(lambda: cb.list_projects(nextToken="not-a-token"))
    assert error["Code"] == "InvalidInputException"


@pytest.mark.parametrize(
    ("change", "code", "words"),
    [
        ({"source": {"type": "NO_SOURCE"}}, "InvalidInputException", "buildspec"),
        ({"source": {"type": "S3", "location": "bucket-only"}}, "InvalidInputException", "bucket"),
        (
            {"source": {"type": "CODEPIPELINE"}},
            "InvalidInputException",
            "CodePipeline",
        ),
        ({"artifacts": {"type": "S3"}}, "InvalidInputException", "location"),
        (
            {
                "secondarySources": [
                    {"type": "S3", "location": "b/k.zip", "sourceIdentifier": "x"},
                    {"type": "S3", "location": "b/l.zip", "sourceIdentifier": "x"},
                ]
            },
            "InvalidInputException",
            "twice",
        ),
        ({"timeoutInMinutes": 1}, "ValidationException", "timeoutInMinutes"),
        ({"environment": {"type": "LINUX_CONTAINER"}}, "ValidationException", "image"),
    ],
)
def test_bad_projects_are_refused(
    server: Server, cb: Any, change: dict[str, Any], code: str, words: str
) -> None:
    unchecked = make_client(server.url, "codebuild", parameter_validation=False)
    name = unique("bad")
    error = error_of(lambda: unchecked.create_project(**project(name, **change)))
    assert error["Code"] == code, error
    assert words in error["Message"], error
    assert cb.batch_get_projects(names=[name])["projectsNotFound"] == [name]  # nothing half-made


def test_duplicates_and_missing_projects(cb: Any) -> None:
    name = unique()
    cb.create_project(**project(name))
    assert error_of(lambda: cb.create_project(**project(name)))["Code"] == (
        "ResourceAlreadyExistsException"
    )
    missing = unique("missing")
    assert error_of(lambda: cb.update_project(name=missing, description="x"))["Code"] == (
        "ResourceNotFoundException"
    )
    assert error_of(lambda: cb.start_build(projectName=missing))["Code"] == (
        "ResourceNotFoundException"
    )
    assert error_of(lambda: cb.list_builds_for_project(projectName=missing))["Code"] == (
        "ResourceNotFoundException"
    )
    assert error_of(lambda: cb.stop_build(id=f"{missing}:0000"))["Code"] == (
        "ResourceNotFoundException"
    )
    got = raw(cb, "BatchGetBuilds", ids=[f"{missing}:0000"])
    assert got["buildsNotFound"] == [f"{missing}:0000"] and got["builds"] == []


def test_builds_of_sources_stageline_cannot_fetch_yet_are_refused(cb: Any) -> None:
    name = unique("git")
    source = {"type": "GITHUB", "location": "https://github.com/o/r.git"}
    cb.create_project(**project(name, source=source))
    error = error_of(lambda: cb.start_build(projectName=name))
    assert error["Code"] == "InvalidInputException"
    assert "GITHUB" in error["Message"]
    assert cb.list_builds_for_project(projectName=name).get("ids", []) == []


def test_batch_builds_are_refused_clearly(cb: Any) -> None:
    error = error_of(
        lambda: cb.create_project(
            **project(unique("batch"), buildBatchConfig={"serviceRole": "arn:aws:iam::0:role/x"})
        )
    )
    assert error["Code"] == "InvalidInputException" and "Batch builds" in error["Message"]


def test_the_aws_cli_manages_projects(aws: Any, tmp_path: Any) -> None:
    name = unique("cli")
    spec = tmp_path / "project.json"
    spec.write_text(json.dumps(project(name)))
    created = aws("codebuild", "create-project", "--cli-input-json", f"file://{spec}")
    assert created.returncode == 0, created.stderr
    assert created.json()["project"]["name"] == name
    listed = aws("codebuild", "list-projects")
    assert name in listed.json()["projects"]
    again = aws("codebuild", "create-project", "--cli-input-json", f"file://{spec}")
    assert again.returncode != 0 and "ResourceAlreadyExistsException" in again.stderr
