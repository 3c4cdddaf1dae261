"""Trigger declarations through boto3 against a real server (SQLite and Postgres): a glob the
trigger matcher cannot compile is refused by CreatePipeline and UpdatePipeline with
InvalidStructureException (nothing written), and the limits of botocore's model (50 triggers,
3 push / pull-request filters, 8 patterns of at most 255 characters) with ValidationException,
as AWS answers them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError
from tests.integration.test_pipelines_boto3 import client, connection_source
from tests.support.pipelines import two_stage
from tests.support.servers import Server

Decl = dict[str, Any]


@pytest.fixture
def raw_cp(server: Server) -> Any:
    """boto3 without its own parameter checks, so that the server's are what answers."""
    return client(server, parameter_validation=False)


def declaration(git: dict[str, Any]) -> Decl:
    decl = two_stage(pipelineType="V2")
    decl["stages"][0]["actions"] = [connection_source()]
    decl["triggers"] = [
        {
            "providerType": "CodeStarSourceConnection",
            "gitConfiguration": {"sourceActionName": "Source", **git},
        }
    ]
    return decl


def refused(call: Callable[..., Any], **params: Any) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as info:
        call(**params)
    error = info.value.response
    return (
        str(error["Error"]["Code"]),
        str(error["Error"]["Message"]),
        int(error["ResponseMetadata"]["HTTPStatusCode"]),
    )


def test_malformed_globs_are_refused_and_nothing_is_written(raw_cp: Any) -> None:
    bad = declaration({"push": [{"branches": {"includes": ["release/{1,2"]}}]})
    code, message, status = refused(raw_cp.create_pipeline, pipeline=bad)
    assert (code, status) == ("InvalidStructureException", 400)
    assert "'release/{1,2' has an unclosed { group" in message
    assert "push filter 1, branches.includes" in message
    names = [p["name"] for p in raw_cp.list_pipelines()["pipelines"]]
    assert bad["name"] not in names

    good = declaration({"push": [{"branches": {"includes": ["release/{1,2}"]}}]})
    good["name"] = bad["name"]
    assert raw_cp.create_pipeline(pipeline=good)["pipeline"]["version"] == 1
    worse = declaration({"pullRequest": [{"filePaths": {"excludes": ["docs/[a-z"]}}]})
    worse["name"] = bad["name"]
    code, message, status = refused(raw_cp.update_pipeline, pipeline=worse)
    assert (code, status) == ("InvalidStructureException", 400)
    assert "unclosed [ bracket" in message and "pullRequest filter 1, filePaths.excludes" in message
    stored = raw_cp.get_pipeline(name=bad["name"])["pipeline"]
    assert stored["version"] == 1
    assert stored["triggers"] == good["triggers"]


LIMITS: list[tuple[str, Callable[[], Decl], str]] = [
    (
        "four push filters",
        lambda: declaration({"push": [{"branches": {"includes": [f"b{i}"]}} for i in range(4)]}),
        "less than or equal to 3",
    ),
    (
        "four pull-request filters",
        lambda: declaration({"pullRequest": [{"events": ["OPEN"]} for _ in range(4)]}),
        "less than or equal to 3",
    ),
    (
        "nine includes",
        lambda: declaration({"push": [{"filePaths": {"includes": [f"p{i}" for i in range(9)]}}]}),
        "less than or equal to 8",
    ),
    (
        "a 256-character pattern",
        lambda: declaration({"push": [{"tags": {"excludes": ["v" * 256]}}]}),
        "less than or equal to 255",
    ),
    (
        "an empty include list",
        lambda: declaration({"push": [{"branches": {"includes": []}}]}),
        "greater than or equal to 1",
    ),
]


@pytest.mark.parametrize(("what", "build", "fragment"), LIMITS, ids=[w for w, _, _ in LIMITS])
def test_model_limits_of_triggers(
    raw_cp: Any, what: str, build: Callable[[], Decl], fragment: str
) -> None:
    code, message, status = refused(raw_cp.create_pipeline, pipeline=build())
    assert (code, status) == ("ValidationException", 400), message
    assert fragment in message


def test_fifty_one_triggers_are_too_many(raw_cp: Any) -> None:
    decl = declaration({"push": [{"branches": {"includes": ["main"]}}]})
    decl["triggers"] = decl["triggers"] * 51
    code, message, status = refused(raw_cp.create_pipeline, pipeline=decl)
    assert (code, status) == ("ValidationException", 400)
    assert "less than or equal to 50" in message
