"""Tags of pipelines through boto3: TagResource, UntagResource, ListTagsForResource, the
limits AWS enforces and what happens to tags when their pipeline goes away."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from tests.support.pipelines import two_stage, unique
from tests.support.servers import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, Server

Tags = list[dict[str, str]]


def arn_of(name: str) -> str:
    return f"arn:aws:codepipeline:us-east-1:000000000000:{name}"


def tags(**pairs: str) -> Tags:
    return [{"key": k, "value": v} for k, v in pairs.items()]


def numbered(count: int, prefix: str = "k") -> Tags:
    return [{"key": f"{prefix}{i:02d}", "value": f"v{i}"} for i in range(count)]


def fails(call: Callable[..., Any], **params: Any) -> ClientError:
    with pytest.raises(ClientError) as info:
        call(**params)
    return info.value


def code(error: ClientError) -> str:
    return str(error.response["Error"]["Code"])


def status(error: ClientError) -> int:
    return int(error.response["ResponseMetadata"]["HTTPStatusCode"])


def tag_map(cp: Any, arn: str) -> dict[str, str]:
    pages = cp.get_paginator("list_tags_for_resource").paginate(resourceArn=arn)
    return {t["key"]: t["value"] for page in pages for t in page["tags"]}


def client(server: Server, **config: Any) -> Any:
    return boto3.client(
        "codepipeline",
        endpoint_url=server.url,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
        config=Config(retries={"max_attempts": 1}, **config),
    )


@pytest.fixture
def raw_cp(server: Server) -> Any:
    """Skips boto3's client-side checks (the ARN pattern), so the server's own are reached."""
    return client(server, parameter_validation=False)


def at_once(*work: Callable[[], None]) -> None:
    """Run the callables in threads released together."""
    start = threading.Barrier(len(work))

    def run(job: Callable[[], None]) -> None:
        start.wait()
        job()

    threads = [threading.Thread(target=run, args=(job,)) for job in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)


@pytest.fixture
def pipeline(cp: Any) -> str:
    """A pipeline with two tags; its ARN."""
    name = unique("tagged")
    cp.create_pipeline(pipeline=two_stage(name), tags=tags(team="core", env="dev"))
    return arn_of(name)


def test_create_with_tags_returns_and_stores_them(cp: Any) -> None:
    name = unique("tagged")
    given = tags(team="core", env="dev", empty="")

    response = cp.create_pipeline(pipeline=two_stage(name), tags=given)

    assert response["tags"] == given
    assert tag_map(cp, arn_of(name)) == {"team": "core", "env": "dev", "empty": ""}
    listed = cp.list_tags_for_resource(resourceArn=arn_of(name))
    assert [t["key"] for t in listed["tags"]] == sorted(t["key"] for t in given)
    assert "nextToken" not in listed


def test_create_without_tags_has_none(cp: Any) -> None:
    name = unique("untagged")

    response = cp.create_pipeline(pipeline=two_stage(name))

    assert "tags" not in response
    assert cp.list_tags_for_resource(resourceArn=arn_of(name))["tags"] == []


def test_tag_resource_adds_and_overwrites(cp: Any, pipeline: str) -> None:
    cp.tag_resource(resourceArn=pipeline, tags=tags(env="prod", owner="ops"))

    assert tag_map(cp, pipeline) == {"team": "core", "env": "prod", "owner": "ops"}


def test_untag_resource_removes_only_the_named_keys(cp: Any, pipeline: str) -> None:
    cp.tag_resource(resourceArn=pipeline, tags=tags(owner="ops"))

    cp.untag_resource(resourceArn=pipeline, tagKeys=["team", "never-set"])

    assert tag_map(cp, pipeline) == {"env": "dev", "owner": "ops"}
    cp.untag_resource(resourceArn=pipeline, tagKeys=["env", "owner"])
    assert tag_map(cp, pipeline) == {}


def test_tags_of_one_pipeline_do_not_leak_to_another(cp: Any, pipeline: str) -> None:
    other = unique("other")
    cp.create_pipeline(pipeline=two_stage(other), tags=tags(team="edge"))

    cp.untag_resource(resourceArn=arn_of(other), tagKeys=["team"])

    assert tag_map(cp, pipeline) == {"team": "core", "env": "dev"}
    assert tag_map(cp, arn_of(other)) == {}


def test_list_tags_pages_with_max_results(cp: Any) -> None:
    name = unique("many-tags")
    cp.create_pipeline(pipeline=two_stage(name), tags=numbered(12))
    arn = arn_of(name)

    pages: list[Tags] = []
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"resourceArn": arn, "maxResults": 5}
        if token:
            kwargs["nextToken"] = token
        response = cp.list_tags_for_resource(**kwargs)
        pages.append(response["tags"])
        token = response.get("nextToken")
        if not token:
            break
        assert len(pages) < 10, "pagination does not end"

    assert [len(page) for page in pages] == [5, 5, 2]
    assert [t for page in pages for t in page] == numbered(12)
    paginated = cp.get_paginator("list_tags_for_resource").paginate(
        resourceArn=arn, PaginationConfig={"PageSize": 5}
    )
    assert [t for page in paginated for t in page["tags"]] == numbered(12)


def test_list_tags_refuses_a_garbage_next_token(cp: Any, pipeline: str) -> None:
    error = fails(cp.list_tags_for_resource, resourceArn=pipeline, nextToken="garbage")
    assert (code(error), status(error)) == ("InvalidNextTokenException", 400)


def test_a_malformed_arn_is_refused_by_model_validation(raw_cp: Any) -> None:
    error = fails(raw_cp.list_tags_for_resource, resourceArn="not-an-arn")

    assert (code(error), status(error)) == ("ValidationException", 400)
    assert "at 'resourceArn' failed to satisfy constraint" in error.response["Error"]["Message"]


def test_an_arn_the_server_cannot_parse_is_invalid(raw_cp: Any) -> None:
    # Passes the model's loose pattern, but "US_EAST" is no region.
    arn = "arn:aws:codepipeline:US_EAST:000000000000:p"

    error = fails(raw_cp.tag_resource, resourceArn=arn, tags=tags(a="b"))

    assert (code(error), status(error)) == ("InvalidArnException", 400)


@pytest.mark.parametrize(
    "arn",
    [
        arn_of(unique("missing")),
        "arn:aws:codepipeline:eu-west-1:000000000000:elsewhere",
        "arn:aws:codepipeline:us-east-1:111111111111:other-account",
        "arn:aws:codepipeline:us-east-1:000000000000:webhook:hook",
    ],
    ids=["missing-pipeline", "other-region", "other-account", "not-a-pipeline"],
)
def test_an_arn_of_no_pipeline_is_not_found(cp: Any, arn: str) -> None:
    calls: list[tuple[Callable[..., Any], dict[str, Any]]] = [
        (cp.list_tags_for_resource, {}),
        (cp.tag_resource, {"tags": tags(a="b")}),
        (cp.untag_resource, {"tagKeys": ["a"]}),
    ]
    for call, params in calls:
        error = fails(call, resourceArn=arn, **params)
        assert (code(error), status(error)) == ("ResourceNotFoundException", 400), call


def test_an_aws_prefixed_key_is_refused_and_changes_nothing(cp: Any, pipeline: str) -> None:
    error = fails(cp.tag_resource, resourceArn=pipeline, tags=tags(ok="1", **{"aws:x": "y"}))

    assert (code(error), status(error)) == ("InvalidTagsException", 400)
    assert "aws:x" in error.response["Error"]["Message"]
    assert tag_map(cp, pipeline) == {"team": "core", "env": "dev"}

    error = fails(cp.untag_resource, resourceArn=pipeline, tagKeys=["aws:cloudformation:stack"])
    assert code(error) == "InvalidTagsException"


def test_more_than_50_tags_in_total_is_refused(cp: Any, pipeline: str) -> None:
    cp.tag_resource(resourceArn=pipeline, tags=numbered(46))  # 48 with the two it had
    before = tag_map(cp, pipeline)

    error = fails(cp.tag_resource, resourceArn=pipeline, tags=numbered(3, "extra"))

    assert (code(error), status(error)) == ("TooManyTagsException", 400)
    assert tag_map(cp, pipeline) == before

    cp.tag_resource(resourceArn=pipeline, tags=numbered(2, "extra"))  # exactly 50
    assert len(tag_map(cp, pipeline)) == 50
    cp.tag_resource(resourceArn=pipeline, tags=tags(team="platform"))  # overwrite at the limit
    assert tag_map(cp, pipeline)["team"] == "platform"
    assert code(fails(cp.tag_resource, resourceArn=pipeline, tags=tags(one="more"))) == (
        "TooManyTagsException"
    )


def test_deleting_a_pipeline_removes_its_tags(cp: Any) -> None:
    name = unique("short-lived")
    cp.create_pipeline(pipeline=two_stage(name), tags=tags(team="core"))

    cp.delete_pipeline(name=name)

    assert code(fails(cp.list_tags_for_resource, resourceArn=arn_of(name))) == (
        "ResourceNotFoundException"
    )
    cp.create_pipeline(pipeline=two_stage(name))
    assert tag_map(cp, arn_of(name)) == {}


# --- concurrency: the limits and the cleanup hold when requests race -----------------------------


def test_concurrent_tagging_cannot_pass_the_limit(server: Server, cp: Any) -> None:
    name = unique("race")
    cp.create_pipeline(pipeline=two_stage(name))
    outcomes: list[str] = []

    def add_twenty(writer: int) -> Callable[[], None]:
        def job() -> None:
            try:
                client(server).tag_resource(
                    resourceArn=arn_of(name), tags=numbered(20, f"w{writer}-")
                )
                outcomes.append("ok")
            except ClientError as error:
                outcomes.append(code(error))

        return job

    at_once(*(add_twenty(i) for i in range(4)))

    assert sorted(outcomes) == ["TooManyTagsException"] * 2 + ["ok"] * 2
    assert len(tag_map(cp, arn_of(name))) == 40


def test_tagging_while_deleting_leaves_no_tags_behind(server: Server, cp: Any) -> None:
    tagger, deleter = client(server), client(server)
    for _round in range(10):
        name = unique("race")
        cp.create_pipeline(pipeline=two_stage(name))

        def tag(name: str = name) -> None:
            try:
                tagger.tag_resource(resourceArn=arn_of(name), tags=tags(late="yes"))
            except ClientError as error:
                assert code(error) == "ResourceNotFoundException"

        at_once(tag, lambda name=name: deleter.delete_pipeline(name=name))

        cp.create_pipeline(pipeline=two_stage(name))
        assert tag_map(cp, arn_of(name)) == {}, f"tags outlived pipeline {name}"
