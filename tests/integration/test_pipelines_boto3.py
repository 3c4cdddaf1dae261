"""Pipeline definitions through boto3 against a real server: CRUD, versions, structure
errors, model validation and ListPipelines pagination. Runs on SQLite and on Postgres."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from tests.support.pipelines import ROLE_ARN, codebuild, s3_source, two_stage, unique
from tests.support.servers import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, Server

Decl = dict[str, Any]


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
    """A client that skips boto3's own parameter checks, so the server's are reached."""
    return client(server, parameter_validation=False)


def fails(call: Callable[..., Any], **params: Any) -> ClientError:
    with pytest.raises(ClientError) as info:
        call(**params)
    return info.value


def code(error: ClientError) -> str:
    return str(error.response["Error"]["Code"])


def status(error: ClientError) -> int:
    return int(error.response["ResponseMetadata"]["HTTPStatusCode"])


def message(error: ClientError) -> str:
    return str(error.response["Error"]["Message"])


def assert_missing(cp: Any, name: str) -> None:
    error = fails(cp.get_pipeline, name=name)
    assert code(error) == "PipelineNotFoundException"


def project(decl: Decl) -> str:
    """The CodeBuild project of the Build action, used as a marker of a declaration."""
    return str(decl["stages"][1]["actions"][0]["configuration"]["ProjectName"])


def with_project(decl: Decl, name: str) -> Decl:
    changed = copy.deepcopy(decl)
    changed["stages"][1]["actions"][0]["configuration"]["ProjectName"] = name
    return changed


# --- create, get, update, delete --------------------------------------------------------------


def test_create_then_get_fills_defaults_and_metadata(cp: Any) -> None:
    declaration = two_stage()
    name = declaration["name"]
    before = datetime.now(UTC)

    created = cp.create_pipeline(pipeline=declaration)["pipeline"]
    got = cp.get_pipeline(name=name)

    assert created["version"] == 1
    pipeline, metadata = got["pipeline"], got["metadata"]
    assert pipeline == created
    assert pipeline["name"] == name
    assert pipeline["roleArn"] == ROLE_ARN
    assert pipeline["artifactStore"] == {"type": "S3", "location": "artifact-bucket"}
    assert pipeline["pipelineType"] == "V1"
    assert pipeline["executionMode"] == "SUPERSEDED"
    assert pipeline["version"] == 1
    actions = [a for stage in pipeline["stages"] for a in stage["actions"]]
    assert [a["runOrder"] for a in actions] == [1, 1]
    assert actions[0]["inputArtifacts"] == []
    assert actions[0]["outputArtifacts"] == [{"name": "SourceOutput"}]
    assert actions[1]["inputArtifacts"] == [{"name": "SourceOutput"}]
    assert actions[1]["outputArtifacts"] == []

    assert metadata["pipelineArn"] == f"arn:aws:codepipeline:us-east-1:000000000000:{name}"
    created_at, updated_at = metadata["created"], metadata["updated"]
    assert isinstance(created_at, datetime) and isinstance(updated_at, datetime)
    assert created_at == updated_at
    assert before - timedelta(seconds=5) <= created_at <= datetime.now(UTC) + timedelta(seconds=5)


def test_update_makes_a_new_version_and_keeps_the_old_one(cp: Any) -> None:
    original = cp.create_pipeline(pipeline=two_stage())["pipeline"]
    name = original["name"]
    created_at = cp.get_pipeline(name=name)["metadata"]["created"]

    updated = cp.update_pipeline(pipeline=with_project(original, "second"))["pipeline"]

    assert updated["version"] == 2
    latest = cp.get_pipeline(name=name)
    assert latest["pipeline"]["version"] == 2
    assert project(latest["pipeline"]) == "second"
    assert latest["metadata"]["created"] == created_at
    assert latest["metadata"]["updated"] >= created_at

    first = cp.get_pipeline(name=name, version=1)["pipeline"]
    assert first["version"] == 1
    assert project(first) == "app"
    assert first == original

    error = fails(cp.get_pipeline, name=name, version=3)
    assert (code(error), status(error)) == ("PipelineVersionNotFoundException", 400)


def test_update_from_a_stale_version_is_refused_and_changes_nothing(cp: Any) -> None:
    original = cp.create_pipeline(pipeline=two_stage())["pipeline"]
    name = original["name"]
    cp.update_pipeline(pipeline=with_project(original, "second"))

    stale = with_project(original, "stale")  # still carries version 1
    error = fails(cp.update_pipeline, pipeline=stale)

    assert (code(error), status(error)) == ("ConcurrentModificationException", 400)
    latest = cp.get_pipeline(name=name)["pipeline"]
    assert latest["version"] == 2
    assert project(latest) == "second"
    assert code(fails(cp.get_pipeline, name=name, version=3)) == "PipelineVersionNotFoundException"


def _run_threads(count: int, work: Callable[[int], None]) -> None:
    threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)


def test_concurrent_updates_from_one_version_have_exactly_one_winner(server: Server) -> None:
    cp = client(server)
    original = cp.create_pipeline(pipeline=two_stage())["pipeline"]
    name = original["name"]
    workers = 8
    start = threading.Barrier(workers)
    outcomes: dict[int, str] = {}
    clients = [client(server) for _ in range(workers)]

    def update(i: int) -> None:
        start.wait()
        try:
            clients[i].update_pipeline(pipeline=with_project(original, f"writer-{i}"))
            outcomes[i] = "ok"
        except ClientError as error:
            outcomes[i] = code(error)

    _run_threads(workers, update)

    winners = [i for i, outcome in outcomes.items() if outcome == "ok"]
    assert len(outcomes) == workers
    assert len(winners) == 1, outcomes
    assert sorted(o for o in outcomes.values() if o != "ok") == [
        "ConcurrentModificationException"
    ] * (workers - 1)
    latest = cp.get_pipeline(name=name)["pipeline"]
    assert latest["version"] == 2
    assert project(latest) == f"writer-{winners[0]}"
    assert cp.get_pipeline(name=name, version=1)["pipeline"] == original
    assert code(fails(cp.get_pipeline, name=name, version=3)) == "PipelineVersionNotFoundException"


def test_concurrent_updates_that_retry_lose_no_version(server: Server) -> None:
    cp = client(server)
    original = cp.create_pipeline(pipeline=two_stage())["pipeline"]
    name = original["name"]
    workers = 8
    start = threading.Barrier(workers)
    clients = [client(server) for _ in range(workers)]
    errors: list[str] = []

    def update_until_it_lands(i: int) -> None:
        start.wait()
        for _attempt in range(200):
            current = clients[i].get_pipeline(name=name)["pipeline"]
            try:
                clients[i].update_pipeline(pipeline=with_project(current, f"writer-{i}"))
                return
            except ClientError as error:
                if code(error) != "ConcurrentModificationException":
                    errors.append(code(error))
                    return
        errors.append(f"writer-{i} never landed")

    _run_threads(workers, update_until_it_lands)

    assert errors == []
    assert cp.get_pipeline(name=name)["pipeline"]["version"] == workers + 1
    markers = [
        project(cp.get_pipeline(name=name, version=v)["pipeline"]) for v in range(2, workers + 2)
    ]
    assert sorted(markers) == sorted(f"writer-{i}" for i in range(workers))


def test_delete_removes_the_pipeline(cp: Any) -> None:
    name = cp.create_pipeline(pipeline=two_stage())["pipeline"]["name"]

    cp.delete_pipeline(name=name)

    assert_missing(cp, name)
    assert code(fails(cp.get_pipeline, name=name, version=1)) == "PipelineNotFoundException"
    names = [
        p["name"]
        for page in cp.get_paginator("list_pipelines").paginate()
        for p in page["pipelines"]
    ]
    assert name not in names
    error = fails(cp.update_pipeline, pipeline=two_stage(name))
    assert code(error) == "PipelineNotFoundException"


def test_a_deleted_name_can_be_created_again_from_version_1(cp: Any) -> None:
    declaration = two_stage()
    cp.create_pipeline(pipeline=declaration)
    cp.update_pipeline(pipeline=with_project(declaration, "second"))
    cp.delete_pipeline(name=declaration["name"])

    again = cp.create_pipeline(pipeline=declaration)["pipeline"]

    assert again["version"] == 1
    assert project(cp.get_pipeline(name=declaration["name"])["pipeline"]) == "app"
    error = fails(cp.get_pipeline, name=declaration["name"], version=2)
    assert code(error) == "PipelineVersionNotFoundException"


def test_deleting_a_missing_pipeline_succeeds(cp: Any) -> None:
    response = cp.delete_pipeline(name=unique("never-created"))
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_create_with_a_name_in_use_is_refused(cp: Any) -> None:
    declaration = two_stage()
    cp.create_pipeline(pipeline=declaration)

    error = fails(cp.create_pipeline, pipeline=with_project(declaration, "intruder"))

    assert (code(error), status(error)) == ("PipelineNameInUseException", 400)
    assert declaration["name"] in message(error)
    kept = cp.get_pipeline(name=declaration["name"])["pipeline"]
    assert (kept["version"], project(kept)) == (1, "app")


def test_concurrent_creates_of_one_name_have_exactly_one_winner(server: Server) -> None:
    name = unique("race")
    workers = 8
    start = threading.Barrier(workers)
    outcomes: dict[int, str] = {}
    clients = [client(server) for _ in range(workers)]

    def create(i: int) -> None:
        start.wait()
        try:
            clients[i].create_pipeline(pipeline=with_project(two_stage(name), f"writer-{i}"))
            outcomes[i] = "ok"
        except ClientError as error:
            outcomes[i] = code(error)

    _run_threads(workers, create)

    winners = [i for i, outcome in outcomes.items() if outcome == "ok"]
    assert len(winners) == 1, outcomes
    assert sorted(o for o in outcomes.values() if o != "ok") == ["PipelineNameInUseException"] * (
        workers - 1
    )
    got = client(server).get_pipeline(name=name)["pipeline"]
    assert (got["version"], project(got)) == (1, f"writer-{winners[0]}")


def connection_source() -> Decl:
    return {
        "name": "Source",
        "actionTypeId": {
            "category": "Source",
            "owner": "AWS",
            "provider": "CodeStarSourceConnection",
            "version": "1",
        },
        "configuration": {
            "ConnectionArn": "arn:aws:codestar-connections:us-east-1:000000000000:connection/x",
            "FullRepositoryId": "acme/app",
            "BranchName": "main",
        },
        "outputArtifacts": [{"name": "SourceOutput"}],
    }


def test_v2_pipeline_with_queued_mode_variables_and_triggers_round_trips(cp: Any) -> None:
    declaration = two_stage(
        pipelineType="V2",
        executionMode="QUEUED",
        variables=[
            {"name": "Env", "defaultValue": "dev", "description": "Target environment"},
            {"name": "Region"},
        ],
        triggers=[
            {
                "providerType": "CodeStarSourceConnection",
                "gitConfiguration": {
                    "sourceActionName": "Source",
                    "push": [{"branches": {"includes": ["main", "release/*"]}}],
                },
            }
        ],
    )
    declaration["stages"][0]["actions"] = [connection_source()]
    name = declaration["name"]

    created = cp.create_pipeline(pipeline=declaration)["pipeline"]
    got = cp.get_pipeline(name=name)["pipeline"]

    assert got == created
    assert (got["pipelineType"], got["executionMode"]) == ("V2", "QUEUED")
    assert got["variables"] == declaration["variables"]
    assert got["triggers"] == declaration["triggers"]
    summaries = [
        p
        for page in cp.get_paginator("list_pipelines").paginate()
        for p in page["pipelines"]
        if p["name"] == name
    ]
    assert len(summaries) == 1
    assert (summaries[0]["pipelineType"], summaries[0]["executionMode"]) == ("V2", "QUEUED")

    parallel = copy.deepcopy(got)
    parallel["executionMode"] = "PARALLEL"
    assert cp.update_pipeline(pipeline=parallel)["pipeline"]["executionMode"] == "PARALLEL"
    assert cp.get_pipeline(name=name, version=1)["pipeline"]["executionMode"] == "QUEUED"


# --- structure errors: refused with AWS's code, and nothing written ---------------------------


def _stage(name: str, *actions: Decl, **extra: Any) -> Decl:
    return {"name": name, "actions": list(actions), **extra}


def one_stage(decl: Decl) -> None:
    decl["stages"] = decl["stages"][:1]


def source_in_second_stage(decl: Decl) -> None:
    decl["stages"][1]["actions"].append(s3_source("LateSource", "LateOutput"))


def duplicate_stage_names(decl: Decl) -> None:
    decl["stages"].append(_stage("Build", codebuild("Again")))


def duplicate_action_names(decl: Decl) -> None:
    decl["stages"][1]["actions"].append(codebuild("Build", run_order=2))


def duplicate_output_names(decl: Decl) -> None:
    decl["stages"][1]["actions"] = [
        codebuild("Compile", outputs=("Binary",)),
        codebuild("Package", outputs=("Binary",)),
    ]


def input_never_produced(decl: Decl) -> None:
    decl["stages"][1]["actions"] = [codebuild("Build", inputs=("Ghost",))]


def input_produced_at_the_same_run_order(decl: Decl) -> None:
    decl["stages"][1]["actions"] = [
        codebuild("Compile", outputs=("Binary",), run_order=1),
        codebuild("Test", inputs=("Binary",), run_order=1),
    ]


def unknown_action_type(decl: Decl) -> None:
    decl["stages"][1]["actions"][0]["actionTypeId"]["provider"] = "NoSuchProvider"


def missing_required_configuration(decl: Decl) -> None:
    decl["stages"][1]["actions"][0]["configuration"] = {"PrimarySource": "SourceOutput"}


def unknown_configuration_key(decl: Decl) -> None:
    decl["stages"][1]["actions"][0]["configuration"]["Bogus"] = "x"


def v1_with_variables(decl: Decl) -> None:
    decl["variables"] = [{"name": "Env", "defaultValue": "dev"}]


def v1_with_triggers(decl: Decl) -> None:
    decl["stages"][0]["actions"] = [connection_source()]
    decl["triggers"] = [
        {
            "providerType": "CodeStarSourceConnection",
            "gitConfiguration": {"sourceActionName": "Source"},
        }
    ]


def fifty_one_stages(decl: Decl) -> None:
    decl["stages"] += [_stage(f"Stage{i}", codebuild(f"Build{i}")) for i in range(49)]


def fifty_one_actions_in_a_stage(decl: Decl) -> None:
    decl["stages"][1]["actions"] = [codebuild(f"Build{i}") for i in range(51)]


def one_hundred_and_one_actions(decl: Decl) -> None:
    decl["stages"][1]["actions"] = [codebuild(f"Build{i}") for i in range(50)]
    decl["stages"].append(_stage("Test", *[codebuild(f"Test{i}") for i in range(50)]))


def a_blocker(decl: Decl) -> None:
    decl["stages"][1]["blockers"] = [{"name": "Freeze", "type": "Schedule"}]


STRUCTURE_ERRORS: list[tuple[Callable[[Decl], None], str, tuple[str, ...]]] = [
    (one_stage, "InvalidStructureException", ("only 1 stage(s)", "minimum of 2 stages")),
    (
        source_in_second_stage,
        "InvalidStructureException",
        (
            "Source actions can only be included in the first stage",
            "StageName=[Build]",
            "ActionName=[LateSource]",
        ),
    ),
    (duplicate_stage_names, "InvalidStageDeclarationException", ("Stage name 'Build'",)),
    (
        duplicate_action_names,
        "InvalidStageDeclarationException",
        ("Action name 'Build' is used more than once in stage 'Build'",),
    ),
    (
        duplicate_output_names,
        "InvalidStructureException",
        ("Binary has been used more than once", "StageName=[Build]", "ActionName=[Package]"),
    ),
    (
        input_never_produced,
        "InvalidStructureException",
        ("Input Artifact Bundle 'Ghost' of action 'Build' in stage 'Build'",),
    ),
    (
        input_produced_at_the_same_run_order,
        "InvalidStructureException",
        ("Input Artifact Bundle 'Binary' of action 'Test' in stage 'Build'",),
    ),
    (
        unknown_action_type,
        "InvalidActionDeclarationException",
        ("Provider: 'NoSuchProvider'", "in action 'Build' is not available"),
    ),
    (
        missing_required_configuration,
        "InvalidActionDeclarationException",
        ("action 'Build' is missing required configuration 'ProjectName'",),
    ),
    (
        unknown_configuration_key,
        "InvalidActionDeclarationException",
        ("action 'Build' contains unknown configuration 'Bogus'",),
    ),
    (
        v1_with_variables,
        "InvalidStructureException",
        ("Pipeline variable can only be used with V2 pipelines",),
    ),
    (
        v1_with_triggers,
        "InvalidStructureException",
        ("Triggers on tag can only be used with V2 pipelines",),
    ),
    (fifty_one_stages, "InvalidStructureException", ("too many stages", "up to 50 stages")),
    (
        fifty_one_actions_in_a_stage,
        "InvalidStageDeclarationException",
        ("Pipeline stage 'Build' has too many actions", "up to 50 actions"),
    ),
    (
        one_hundred_and_one_actions,
        "LimitExceededException",
        ("too many actions", "up to 100 actions in a pipeline"),
    ),
    (
        a_blocker,
        "InvalidBlockerDeclarationException",
        ("Blocker 'Freeze' of type 'Schedule' in stage 'Build'",),
    ),
]
STRUCTURE_IDS = [breaker.__name__ for breaker, _code, _parts in STRUCTURE_ERRORS]


def broken(breaker: Callable[[Decl], None], name: str | None = None) -> Decl:
    declaration = two_stage(name)
    breaker(declaration)
    return declaration


@pytest.mark.parametrize(("breaker", "expected", "parts"), STRUCTURE_ERRORS, ids=STRUCTURE_IDS)
def test_create_refuses_an_invalid_structure_and_writes_nothing(
    cp: Any, breaker: Callable[[Decl], None], expected: str, parts: tuple[str, ...]
) -> None:
    declaration = broken(breaker)

    error = fails(cp.create_pipeline, pipeline=declaration)

    assert (code(error), status(error)) == (expected, 400)
    for part in parts:
        assert part in message(error)
    assert error.response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == expected
    assert_missing(cp, declaration["name"])


@pytest.mark.parametrize(("breaker", "expected", "parts"), STRUCTURE_ERRORS, ids=STRUCTURE_IDS)
def test_update_refuses_an_invalid_structure_and_keeps_the_version(
    cp: Any, breaker: Callable[[Decl], None], expected: str, parts: tuple[str, ...]
) -> None:
    original = cp.create_pipeline(pipeline=two_stage())["pipeline"]
    name = original["name"]

    error = fails(cp.update_pipeline, pipeline=broken(breaker, name))

    assert (code(error), status(error)) == (expected, 400)
    for part in parts:
        assert part in message(error)
    assert cp.get_pipeline(name=name)["pipeline"] == original
    assert code(fails(cp.get_pipeline, name=name, version=2)) == "PipelineVersionNotFoundException"


def largest_valid(decl: Decl) -> None:
    """At every limit but past none: 50 stages and 100 actions, one stage holding 50."""
    decl["stages"][1]["actions"] = [codebuild(f"Build{i}") for i in range(50)]
    decl["stages"] += [_stage(f"Stage{i}", codebuild(f"Build{i}")) for i in range(48)]
    total = sum(len(s["actions"]) for s in decl["stages"])
    assert (len(decl["stages"]), total) == (50, 99)
    decl["stages"][-1]["actions"].append(codebuild("Extra"))


def test_limits_are_inclusive(cp: Any) -> None:
    declaration = broken(largest_valid)

    created = cp.create_pipeline(pipeline=declaration)["pipeline"]

    assert len(created["stages"]) == 50
    assert sum(len(s["actions"]) for s in created["stages"]) == 100


def test_an_input_from_a_lower_run_order_is_accepted(cp: Any) -> None:
    declaration = two_stage()
    declaration["stages"][1]["actions"] = [
        codebuild("Compile", outputs=("Binary",), run_order=1),
        codebuild("Test", inputs=("Binary",), run_order=2),
    ]

    created = cp.create_pipeline(pipeline=declaration)["pipeline"]

    assert [a["runOrder"] for a in created["stages"][1]["actions"]] == [1, 2]


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ([{"key": "aws:owner", "value": "me"}], "InvalidTagsException"),
        ([{"key": "AWS:Owner", "value": "me"}], "InvalidTagsException"),
        ([{"key": f"k{i}", "value": "v"} for i in range(51)], "TooManyTagsException"),
    ],
    ids=["aws-prefix", "aws-prefix-any-case", "51-tags"],
)
def test_create_with_invalid_tags_leaves_no_pipeline(
    cp: Any, tags: list[dict[str, str]], expected: str
) -> None:
    declaration = two_stage()

    error = fails(cp.create_pipeline, pipeline=declaration, tags=tags)

    assert (code(error), status(error)) == (expected, 400)
    assert_missing(cp, declaration["name"])


# --- model validation, as AWS's own front end reports it ---------------------------------------

NAME_PATTERN = r"[A-Za-z0-9.@\-_]+"


def test_a_name_with_an_invalid_character_fails_model_validation(raw_cp: Any) -> None:
    declaration = two_stage("bad name!")

    error = fails(raw_cp.create_pipeline, pipeline=declaration)

    assert (code(error), status(error)) == ("ValidationException", 400)
    assert message(error) == (
        "1 validation error detected: Value 'bad name!' at 'pipeline.name' failed to satisfy "
        f"constraint: Member must satisfy regular expression pattern: {NAME_PATTERN}"
    )


def test_a_name_of_101_characters_fails_model_validation(raw_cp: Any, cp: Any) -> None:
    name = unique("long").ljust(101, "x")

    error = fails(raw_cp.create_pipeline, pipeline=two_stage(name))

    assert (code(error), status(error)) == ("ValidationException", 400)
    text = message(error)
    assert text.startswith(f"1 validation error detected: Value '{name[:90]}")
    assert text.endswith(
        "at 'pipeline.name' failed to satisfy constraint: "
        "Member must have length less than or equal to 100"
    )
    # 100 characters is allowed
    assert cp.create_pipeline(pipeline=two_stage(name[:100]))["pipeline"]["name"] == name[:100]


def test_a_missing_required_member_fails_model_validation(raw_cp: Any) -> None:
    declaration = two_stage()
    del declaration["roleArn"]

    error = fails(raw_cp.create_pipeline, pipeline=declaration)

    assert (code(error), status(error)) == ("ValidationException", 400)
    assert message(error) == (
        "1 validation error detected: Value null at 'pipeline.roleArn' failed to satisfy "
        "constraint: Member must not be null"
    )
    assert_missing(raw_cp, declaration["name"])


def test_several_problems_are_counted_in_one_message(raw_cp: Any) -> None:
    declaration = two_stage("bad name!")
    del declaration["roleArn"]

    error = fails(raw_cp.create_pipeline, pipeline=declaration)

    assert code(error) == "ValidationException"
    assert message(error).startswith("2 validation errors detected: ")
    assert "'pipeline.name'" in message(error) and "'pipeline.roleArn'" in message(error)


def test_a_version_below_1_fails_model_validation(raw_cp: Any) -> None:
    error = fails(raw_cp.get_pipeline, name=unique(), version=0)

    assert (code(error), status(error)) == ("ValidationException", 400)
    assert "Value '0' at 'version' failed to satisfy constraint" in message(error)


# --- ListPipelines ------------------------------------------------------------------------------


@pytest.fixture
def twenty_five(cp: Any) -> list[str]:
    prefix = unique("page")
    names = [f"{prefix}-{i:02d}" for i in range(25)]
    for name in reversed(names):  # insertion order is not the listing order
        cp.create_pipeline(pipeline=two_stage(name))
    return names


def test_list_pipelines_pages_through_everything_in_name_order(
    cp: Any, twenty_five: list[str]
) -> None:
    pages: list[list[dict[str, Any]]] = []
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"maxResults": 10}
        if token is not None:
            kwargs["nextToken"] = token
        response = cp.list_pipelines(**kwargs)
        pages.append(response["pipelines"])
        token = response.get("nextToken")
        if token is None:
            break
        assert len(pages) < 1000, "pagination does not end"

    assert len(pages) >= 3
    assert all(len(page) == 10 for page in pages[:-1])
    assert 1 <= len(pages[-1]) <= 10
    names = [p["name"] for page in pages for p in page]
    assert names == sorted(names)
    assert len(names) == len(set(names))
    ours = [n for n in names if n.startswith(twenty_five[0][:-3])]
    assert ours == twenty_five
    summary = next(p for page in pages for p in page if p["name"] == twenty_five[0])
    assert summary["version"] == 1
    assert (summary["pipelineType"], summary["executionMode"]) == ("V1", "SUPERSEDED")
    assert isinstance(summary["created"], datetime) and isinstance(summary["updated"], datetime)


def test_list_pipelines_with_boto3s_paginator(cp: Any, twenty_five: list[str]) -> None:
    paginator = cp.get_paginator("list_pipelines")
    pages = list(paginator.paginate(PaginationConfig={"PageSize": 10}))

    assert len(pages) >= 3
    names = [p["name"] for page in pages for p in page["pipelines"]]
    assert [n for n in names if n in set(twenty_five)] == twenty_five
    assert len(names) == len(set(names))

    first_twelve = paginator.paginate(PaginationConfig={"PageSize": 10, "MaxItems": 12})
    assert len(first_twelve.build_full_result()["pipelines"]) == 12


def test_list_pipelines_reflects_updates_in_the_summary(cp: Any) -> None:
    declaration = two_stage()
    cp.create_pipeline(pipeline=declaration)
    cp.update_pipeline(pipeline=with_project(declaration, "second"))

    pages = cp.get_paginator("list_pipelines").paginate()
    summary = next(
        p for page in pages for p in page["pipelines"] if p["name"] == declaration["name"]
    )

    assert summary["version"] == 2
    assert summary["updated"] >= summary["created"]


@pytest.mark.parametrize(
    "token",
    ["garbage", "eyJrIjoidGFncyIsInAiOnsia2V5IjoieCJ9fQ", "!!!not-base64!!!"],
    ids=["garbage", "token-of-another-listing", "not-base64"],
)
def test_list_pipelines_refuses_a_foreign_next_token(cp: Any, token: str) -> None:
    error = fails(cp.list_pipelines, nextToken=token)
    assert (code(error), status(error)) == ("InvalidNextTokenException", 400)


@pytest.mark.parametrize("max_results", [0, 1001])
def test_list_pipelines_max_results_out_of_range(raw_cp: Any, max_results: int) -> None:
    error = fails(raw_cp.list_pipelines, maxResults=max_results)

    assert (code(error), status(error)) == ("ValidationException", 400)
    assert f"Value '{max_results}' at 'maxResults' failed to satisfy constraint" in message(error)
