"""Custom action types end to end over HTTP (boto3 and the AWS CLI, SQLite and Postgres):
CreateCustomActionType's rules and errors, deletion and restoring, tags by ARN, pipelines that
use a custom type (secret values masked), and integration-model types with GetActionType and
UpdateActionType. Listing pagination is checked in-process with a small page size."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from sqlalchemy import select
from tests.support.pipelines import ROLE_ARN, s3_source
from tests.support.servers import REGION, Server

from stageline.domain.action_types import ActionTypeId, find_builtin
from stageline.domain.arns import Arns
from stageline.domain.custom_action_types import mask_secrets, unmask_secrets
from stageline.domain.errors import InvalidActionDeclarationException
from stageline.persistence.db import Database
from stageline.persistence.migrate import upgrade
from stageline.persistence.models import Pipeline, PipelineVersion
from stageline.services.action_types import ActionTypeService
from stageline.services.custom_action_types import CustomActionTypes, custom_type

ACCOUNT = "000000000000"
ARNS = Arns(REGION, ACCOUNT)


def provider() -> str:
    return f"P{uuid.uuid4().hex[:12]}"


def definition(name: str | None = None, **overrides: Any) -> dict[str, Any]:
    """A custom build action: a required key, a queryable project, a secret token."""
    given: dict[str, Any] = {
        "category": "Build",
        "provider": name or provider(),
        "version": "1",
        "settings": {
            "entityUrlTemplate": "https://ci.example.com/job/{Config:Project}/",
            "executionUrlTemplate": "https://ci.example.com/run/{ExternalExecutionId}/",
            "thirdPartyConfigurationUrl": "https://ci.example.com/signup",
        },
        "configurationProperties": [
            {
                "name": "Project",
                "required": True,
                "key": True,
                "secret": False,
                "queryable": True,
                "description": "The project to build.",
                "type": "String",
            },
            {"name": "Token", "required": True, "key": False, "secret": True},
            {
                "name": "Verbose",
                "required": False,
                "key": False,
                "secret": False,
                "type": "Boolean",
            },
        ],
        "inputArtifactDetails": {"minimumCount": 1, "maximumCount": 1},
        "outputArtifactDetails": {"minimumCount": 0, "maximumCount": 1},
    }
    given.update(overrides)
    return given


def type_id_of(given: dict[str, Any], owner: str = "Custom") -> dict[str, str]:
    return {
        "category": given["category"],
        "owner": owner,
        "provider": given["provider"],
        "version": given["version"],
    }


def arn_of(type_id: dict[str, str]) -> str:
    path = "/".join(type_id[k] for k in ("owner", "category", "provider", "version"))
    return f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:actiontype:{path}"


def error_of(info: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = info.value.response["Error"]
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return error["Code"], error["Message"]


def listed(cp: Any, **params: Any) -> dict[tuple[str, ...], dict[str, Any]]:
    pages = cp.get_paginator("list_action_types").paginate(**params)
    types = [t for page in pages for t in page["actionTypes"]]
    return {
        tuple(t["id"][k] for k in ("category", "owner", "provider", "version")): t for t in types
    }


def key(given: dict[str, Any], owner: str = "Custom") -> tuple[str, ...]:
    return tuple(type_id_of(given, owner).values())


# --- CreateCustomActionType ---------------------------------------------------------------


def test_create_returns_the_type_owned_by_custom_and_lists_it(cp: Any) -> None:
    given = definition()
    tags = [{"key": "team", "value": "ci"}]

    created = cp.create_custom_action_type(**given, tags=tags)

    action_type = created["actionType"]
    assert action_type["id"] == type_id_of(given)
    assert action_type["settings"] == given["settings"]
    assert action_type["inputArtifactDetails"] == {"minimumCount": 1, "maximumCount": 1}
    properties = {p["name"]: p for p in action_type["actionConfigurationProperties"]}
    assert properties["Project"]["queryable"] is True
    assert properties["Project"]["type"] == "String"
    assert properties["Token"] == {
        "name": "Token",
        "required": True,
        "key": False,
        "secret": True,
        "queryable": False,
    }
    assert created["tags"] == tags
    assert listed(cp, actionOwnerFilter="Custom")[key(given)] == action_type
    assert key(given) in listed(cp)
    assert key(given) not in listed(cp, actionOwnerFilter="AWS")
    assert cp.list_tags_for_resource(resourceArn=arn_of(type_id_of(given)))["tags"] == tags


def test_creating_the_same_definition_again_succeeds_a_different_one_is_refused(cp: Any) -> None:
    given = definition()
    first = cp.create_custom_action_type(**given)["actionType"]

    assert cp.create_custom_action_type(**given)["actionType"] == first
    with pytest.raises(ClientError) as info:
        cp.create_custom_action_type(
            **{**given, "outputArtifactDetails": first["inputArtifactDetails"]}
        )

    code, message = error_of(info)
    assert code == "ValidationException"
    assert "already exists with a different definition" in message
    assert "version string that has never been used" in message


def bad(change: dict[str, Any]) -> dict[str, Any]:
    return definition(**change)


def props(*flags: tuple[str, bool, bool, bool]) -> dict[str, Any]:
    """(name, required, secret, queryable) each."""
    return {
        "configurationProperties": [
            {"name": n, "required": r, "key": False, "secret": s, "queryable": q}
            for n, r, s, q in flags
        ],
        "settings": {},
    }


@pytest.mark.parametrize(
    ("change", "code", "text"),
    [
        (props(("A", True, False, True), ("B", True, False, True)), "ValidationException",
         "at most one queryable property"),
        (props(("A", False, False, True)), "ValidationException", "must be both required and not secret"),
        (props(("A", True, True, True)), "ValidationException", "must be both required and not secret"),
        (props(("A", True, False, False), ("A", False, False, False)), "ValidationException",
         "declared twice"),
        ({"inputArtifactDetails": {"minimumCount": 2, "maximumCount": 1}}, "ValidationException",
         "minimumCount (2) is greater than its maximumCount (1)"),
        ({"outputArtifactDetails": {"minimumCount": 0, "maximumCount": 6}}, "ValidationException",
         "Member must have value less than or equal to 5"),
        ({"configurationProperties": [
            {"name": f"K{i}", "required": False, "key": False, "secret": False} for i in range(11)
        ], "settings": {}}, "ValidationException", "Member must have length less than or equal to 10"),
        ({"settings": {"entityUrlTemplate": "https://x/{Config:Token}"}}, "ValidationException",
         "both required and not secret"),
        ({"settings": {"revisionUrlTemplate": "https://x/{Config:Verbose}"}}, "ValidationException",
         "both required and not secret"),
        ({"settings": {"executionUrlTemplate": "https://x/{Config:Nope}"}}, "ValidationException",
         "refers to {Config:Nope}"),
        ({"category": "Compute"}, "ValidationException", "Compute"),
        ({"provider": "has space"}, "ValidationException", "regular expression pattern"),
        ({"version": "1234567890"}, "ValidationException", "length less than or equal to 9"),
        ({"tags": [{"key": "aws:reserved", "value": "x"}]}, "InvalidTagsException", "aws:"),
        ({"tags": [{"key": f"k{i}", "value": "v"} for i in range(51)]}, "TooManyTagsException", "50"),
    ],
    ids=[
        "two-queryable", "queryable-optional", "queryable-secret", "duplicate-name", "min-over-max",
        "over-five-artifacts", "eleven-properties", "template-secret", "template-optional",
        "template-unknown", "compute", "provider-pattern", "version-length", "reserved-tag",
        "too-many-tags",
    ],
)  # fmt: skip
def test_create_refuses_what_aws_refuses(
    cp: Any, change: dict[str, Any], code: str, text: str
) -> None:
    given = bad(change)

    with pytest.raises(ClientError) as info:
        cp.create_custom_action_type(**given)

    assert error_of(info)[0] == code
    assert text in error_of(info)[1]
    assert key(given) not in listed(cp, actionOwnerFilter="Custom")


def test_at_most_fifty_custom_action_types_live_at_once(cp: Any) -> None:
    made: list[dict[str, Any]] = []
    try:
        while True:
            given = definition()
            try:
                cp.create_custom_action_type(**given)
            except ClientError as error:
                assert error.response["Error"]["Code"] == "LimitExceededException"
                assert "at most 50 custom action types" in error.response["Error"]["Message"]
                break
            made.append(given)
            assert len(made) <= 50
        assert len(listed(cp, actionOwnerFilter="Custom")) == 50
    finally:
        for given in made:
            cp.delete_custom_action_type(
                category=given["category"], provider=given["provider"], version=given["version"]
            )
    assert len(listed(cp, actionOwnerFilter="Custom")) < 50


# --- DeleteCustomActionType, restoring --------------------------------------------------------


def delete(cp: Any, given: dict[str, Any]) -> None:
    cp.delete_custom_action_type(
        category=given["category"], provider=given["provider"], version=given["version"]
    )


def test_a_deleted_type_is_gone_and_only_its_identical_definition_restores_it(cp: Any) -> None:
    given = definition()
    cp.create_custom_action_type(**given, tags=[{"key": "a", "value": "b"}])

    delete(cp, given)
    delete(cp, given)  # already deleted: still a success

    assert key(given) not in listed(cp)
    with pytest.raises(ClientError) as info:
        cp.create_custom_action_type(**{**given, "settings": {}})
    code, message = error_of(info)
    assert code == "ValidationException"
    assert "was deleted" in message and "identical to the deleted one" in message
    assert key(given) not in listed(cp)

    restored = cp.create_custom_action_type(**given)
    assert key(given) in listed(cp, actionOwnerFilter="Custom")
    assert "tags" not in restored  # deleting a custom action removes its tags
    newer = cp.create_custom_action_type(**{**given, "version": "2", "settings": {}})
    assert newer["actionType"]["id"]["version"] == "2"


def test_deleting_a_type_that_never_existed_succeeds(cp: Any) -> None:
    cp.delete_custom_action_type(category="Test", provider=provider(), version="1")
    cp.delete_custom_action_type(category="Build", provider="CodeBuild", version="1")
    assert ("Build", "AWS", "CodeBuild", "1") in listed(cp)


# --- Tags by ARN ------------------------------------------------------------------------------


def test_tag_resource_works_on_a_live_custom_type_only(cp: Any) -> None:
    given = definition()
    cp.create_custom_action_type(**given)
    arn = arn_of(type_id_of(given))

    cp.tag_resource(resourceArn=arn, tags=[{"key": "k", "value": "v"}, {"key": "x", "value": "y"}])
    cp.untag_resource(resourceArn=arn, tagKeys=["x"])

    assert cp.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "k", "value": "v"}]
    delete(cp, given)
    builtin = arn_of({"owner": "AWS", "category": "Build", "provider": "CodeBuild", "version": "1"})
    for gone in (arn, builtin, arn.replace(ACCOUNT, "111111111111")):
        with pytest.raises(ClientError) as info:
            cp.list_tags_for_resource(resourceArn=gone)
        assert error_of(info)[0] == "ResourceNotFoundException"


# --- Pipelines using custom types -----------------------------------------------------------


def custom_action(
    given: dict[str, Any], name: str = "Custom", **configuration: str
) -> dict[str, Any]:
    return {
        "name": name,
        "actionTypeId": type_id_of(given),
        "configuration": {"Project": "app", "Token": "s3cr3t", **configuration},
        "inputArtifacts": [{"name": "SourceOutput"}],
        "outputArtifacts": [],
    }


def pipeline_with(*actions: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": f"custom-{uuid.uuid4().hex[:10]}",
        "roleArn": ROLE_ARN,
        "artifactStore": {"type": "S3", "location": "artifact-bucket"},
        "stages": [
            {"name": "Source", "actions": [s3_source()]},
            {"name": "Build", "actions": list(actions)},
        ],
    }


@contextmanager
def server_db(server: Server) -> Iterator[Database]:
    """The running server's own database, to seed what only an operator can make and to see
    what the API never shows (secret values)."""
    db = Database(server.database_url or f"sqlite:///{server.data_dir / 'stageline.db'}")
    try:
        yield db
    finally:
        db.dispose()


def stored_configuration(server: Server, pipeline: str, action: str) -> dict[str, str]:
    with server_db(server) as db, db.unit_of_work(write=False) as uow:
        declaration = uow.session.scalars(
            select(PipelineVersion.declaration)
            .join(Pipeline, Pipeline.id == PipelineVersion.pipeline_id)
            .where(Pipeline.name == pipeline)
            .order_by(PipelineVersion.version.desc())
        ).first()
    assert declaration is not None
    found = [a for s in declaration["stages"] for a in s["actions"] if a["name"] == action]
    return dict(found[0]["configuration"])


def configuration(declaration: dict[str, Any], action: str) -> dict[str, str]:
    found = [a for s in declaration["stages"] for a in s["actions"] if a["name"] == action]
    return dict(found[0]["configuration"])


def test_a_pipeline_uses_a_custom_type_and_never_shows_its_secret(cp: Any, server: Server) -> None:
    given = definition()
    cp.create_custom_action_type(**given)
    declaration = pipeline_with(custom_action(given, Verbose="true"))
    name = declaration["name"]

    created = cp.create_pipeline(pipeline=declaration)["pipeline"]

    assert configuration(created, "Custom") == {
        "Project": "app",
        "Token": "****",
        "Verbose": "true",
    }
    got = cp.get_pipeline(name=name)["pipeline"]
    assert configuration(got, "Custom")["Token"] == "****"
    assert stored_configuration(server, name, "Custom")["Token"] == "s3cr3t"

    # Sending back what GetPipeline shows keeps the secret, even with other values changed.
    configuration_of = got["stages"][1]["actions"][0]["configuration"]
    configuration_of["Project"] = "app-2"
    updated = cp.update_pipeline(pipeline=got)["pipeline"]
    assert configuration(updated, "Custom") == {
        "Project": "app-2",
        "Token": "****",
        "Verbose": "true",
    }
    assert stored_configuration(server, name, "Custom")["Token"] == "s3cr3t"
    assert (
        configuration(cp.get_pipeline(name=name, version=1)["pipeline"], "Custom")["Token"]
        == "****"
    )

    configuration_of["Token"] = "rotated"
    cp.update_pipeline(pipeline={**got, "version": 2})
    assert stored_configuration(server, name, "Custom")["Token"] == "rotated"


def test_the_mask_is_refused_where_there_is_no_secret_to_keep(cp: Any) -> None:
    given = definition()
    cp.create_custom_action_type(**given)
    masked = pipeline_with(custom_action(given, Token="****"))

    with pytest.raises(ClientError) as info:
        cp.create_pipeline(pipeline=masked)
    code, message = error_of(info)
    assert code == "InvalidActionDeclarationException"
    assert message == (
        'Action configuration for the new action "Custom" contains an invalid configuration for '
        'the secret property "Token". "****" may be used in secret properties only when '
        "updating an existing action."
    )

    declaration = pipeline_with(custom_action(given))
    cp.create_pipeline(pipeline=declaration)
    declaration["stages"][1]["actions"].append(custom_action(given, "Second", Token="****"))
    with pytest.raises(ClientError) as info:
        cp.update_pipeline(pipeline=declaration)
    assert error_of(info)[0] == "InvalidActionDeclarationException"
    assert 'new action "Second"' in error_of(info)[1]


@pytest.mark.parametrize(
    ("change", "text"),
    [
        ({"configuration": {"Project": "app"}}, "is missing required configuration 'Token'"),
        ({"configuration": {"Project": "app", "Token": "t", "Other": "x"}},
         "contains unknown configuration 'Other'"),
        ({"inputArtifacts": []}, "declares 0 input artifacts which is less than the minimum count (1)"),
        ({"outputArtifacts": [{"name": "A"}, {"name": "B"}]},
         "declares 2 output artifacts which is more than the maximum count (1)"),
        ({"configuration": {"Project": "x" * 21, "Token": "t"}},
         "invalid value for the queryable property 'Project'"),
        ({"configuration": {"Project": "a b", "Token": "t"}},
         "invalid value for the queryable property 'Project'"),
    ],
    ids=["missing-required", "unknown-key", "too-few-inputs", "too-many-outputs",
         "queryable-too-long", "queryable-bad-character"],
)  # fmt: skip
def test_actions_of_a_custom_type_follow_its_definition(
    cp: Any, change: dict[str, Any], text: str
) -> None:
    given = definition()
    cp.create_custom_action_type(**given)

    with pytest.raises(ClientError) as info:
        cp.create_pipeline(pipeline=pipeline_with({**custom_action(given), **change}))

    code, message = error_of(info)
    assert code == "InvalidActionDeclarationException"
    assert text in message


def test_after_delete_no_new_pipeline_version_may_use_the_type(cp: Any) -> None:
    given = definition()
    cp.create_custom_action_type(**given)
    declaration = pipeline_with(custom_action(given))
    cp.create_pipeline(pipeline=declaration)

    delete(cp, given)

    unavailable = (
        f"ActionType (Category: 'Build', Provider: '{given['provider']}', Owner: 'Custom', "
        "Version: '1') in action 'Custom' is not available"
    )
    for attempt in (
        lambda: cp.create_pipeline(pipeline=pipeline_with(custom_action(given))),
        lambda: cp.update_pipeline(pipeline=declaration),
    ):
        with pytest.raises(ClientError) as info:
            attempt()
        assert error_of(info) == ("InvalidActionDeclarationException", unavailable)
    kept = cp.get_pipeline(name=declaration["name"])["pipeline"]
    assert kept["version"] == 1
    assert configuration(kept, "Custom")["Token"] == "****"


def test_a_restored_type_can_be_used_again(cp: Any) -> None:
    given = definition()
    cp.create_custom_action_type(**given)
    delete(cp, given)
    cp.create_custom_action_type(**given)

    created = cp.create_pipeline(pipeline=pipeline_with(custom_action(given)))["pipeline"]

    assert created["version"] == 1


# --- GetActionType / UpdateActionType -------------------------------------------------------


def test_get_and_update_action_type_do_not_address_custom_types(cp: Any) -> None:
    # AWS's model: ActionTypeOwner (GetActionType, UpdateActionType) is "AWS|ThirdParty".
    given = definition()
    cp.create_custom_action_type(**given)
    declaration = integration_declaration(type_id_of(given))

    for attempt in (
        lambda: cp.get_action_type(**type_id_of(given)),
        lambda: cp.update_action_type(actionType=declaration),
    ):
        with pytest.raises(ClientError) as info:
            attempt()
        code, message = error_of(info)
        assert code == "ValidationException"
        assert "Member must satisfy regular expression pattern: AWS|ThirdParty" in message


def integration_declaration(type_id: dict[str, str], **overrides: Any) -> dict[str, Any]:
    declaration: dict[str, Any] = {
        "description": "Tests with Example.com",
        "executor": {
            "type": "JobWorker",
            "configuration": {"jobWorkerExecutorConfiguration": {"pollingAccounts": [ACCOUNT]}},
            "jobTimeout": 600,
        },
        "id": type_id,
        "inputArtifactDetails": {"minimumCount": 0, "maximumCount": 1},
        "outputArtifactDetails": {"minimumCount": 0, "maximumCount": 1},
        "permissions": {"allowedAccounts": [ACCOUNT]},
        "properties": [
            {"name": "Suite", "optional": False, "key": True, "noEcho": False, "queryable": True,
             "description": "The suite to run."},
            {"name": "ApiKey", "optional": False, "key": False, "noEcho": True, "queryable": False},
        ],
        "urls": {"configurationUrl": "https://example.com/configure",
                 "entityUrlTemplate": "https://example.com/suite/{Config:Suite}"},
    }  # fmt: skip
    declaration.update(overrides)
    return declaration


def third_party(server: Server) -> dict[str, str]:
    """A registered integration-model type (what AWS's service team would set up)."""
    type_id = {"category": "Test", "owner": "ThirdParty", "provider": provider(), "version": "1"}
    with server_db(server) as db, db.unit_of_work() as uow:
        CustomActionTypes(uow.session, ARNS).register(integration_declaration(type_id))
    return type_id


def test_update_action_type_round_trip(cp: Any, server: Server) -> None:
    type_id = third_party(server)
    assert cp.get_action_type(**type_id)["actionType"] == integration_declaration(type_id)

    changed = integration_declaration(
        type_id,
        executor={
            "type": "Lambda",
            "configuration": {
                "lambdaExecutorConfiguration": {
                    "lambdaFunctionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:tests"
                }
            },
            "jobTimeout": 900,
        },
        properties=[{"name": "Host", "optional": True, "key": True, "noEcho": False}],
        outputArtifactDetails={"minimumCount": 0, "maximumCount": 10},
    )
    del changed["urls"]
    cp.update_action_type(actionType=changed)

    got = cp.get_action_type(**type_id)["actionType"]
    assert got == {**changed, "properties": [{**changed["properties"][0], "queryable": False}]}
    shown = listed(cp, actionOwnerFilter="ThirdParty")[tuple(type_id.values())]
    assert shown["actionConfigurationProperties"] == [
        {"name": "Host", "required": False, "key": True, "secret": False, "queryable": False}
    ]
    assert shown["outputArtifactDetails"] == {"minimumCount": 0, "maximumCount": 5}
    assert "settings" not in shown


def test_a_registered_type_is_usable_in_pipelines(cp: Any, server: Server) -> None:
    type_id = third_party(server)
    action = {
        "name": "Suite",
        "actionTypeId": type_id,
        "configuration": {"Suite": "smoke", "ApiKey": "k3y"},
        "inputArtifacts": [{"name": "SourceOutput"}],
    }

    created = cp.create_pipeline(pipeline=pipeline_with(action))["pipeline"]

    assert configuration(created, "Suite") == {"Suite": "smoke", "ApiKey": "****"}
    listed_type = listed(cp, actionOwnerFilter="ThirdParty")[tuple(type_id.values())]
    assert listed_type["settings"] == {
        "thirdPartyConfigurationUrl": "https://example.com/configure",
        "entityUrlTemplate": "https://example.com/suite/{Config:Suite}",
    }


@pytest.mark.parametrize(
    ("change", "text"),
    [
        ({"executor": {"type": "Lambda", "configuration": {"jobWorkerExecutorConfiguration": {}}}},
         "takes lambdaExecutorConfiguration, not jobWorkerExecutorConfiguration"),
        ({"executor": {"type": "Lambda", "jobTimeout": 901, "configuration": {
            "lambdaExecutorConfiguration": {
                "lambdaFunctionArn": "arn:aws:lambda:us-east-1:000000000000:function:f"}}}},
         "at most 900 seconds"),
        ({"properties": [
            {"name": "A", "optional": False, "key": False, "noEcho": False, "queryable": True},
            {"name": "B", "optional": False, "key": False, "noEcho": False, "queryable": True}]},
         "at most one queryable property"),
        ({"properties": [
            {"name": "A", "optional": True, "key": False, "noEcho": False, "queryable": True}]},
         "must be both required and not secret"),
        ({"inputArtifactDetails": {"minimumCount": 3, "maximumCount": 2}},
         "minimumCount (3) is greater than its maximumCount (2)"),
    ],
    ids=["executor-mismatch", "lambda-timeout", "two-queryable",
         "queryable-optional", "min-over-max"],
)  # fmt: skip
def test_update_action_type_refuses_what_aws_refuses(
    cp: Any, server: Server, change: dict[str, Any], text: str
) -> None:
    type_id = third_party(server)

    with pytest.raises(ClientError) as info:
        cp.update_action_type(actionType=integration_declaration(type_id, **change))

    code, message = error_of(info)
    assert code == "ValidationException"
    assert text in message
    assert cp.get_action_type(**type_id)["actionType"] == integration_declaration(type_id)


def test_update_action_type_of_unknown_and_built_in_types(cp: Any) -> None:
    unknown = {"category": "Test", "owner": "ThirdParty", "provider": provider(), "version": "1"}
    with pytest.raises(ClientError) as info:
        cp.update_action_type(actionType=integration_declaration(unknown))
    assert error_of(info) == (
        "ActionTypeNotFoundException",
        f"Action type Test/ThirdParty/{unknown['provider']}/1 does not exist.",
    )

    builtin = {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"}
    with pytest.raises(ClientError) as info:
        cp.update_action_type(actionType=integration_declaration(builtin))
    code, message = error_of(info)
    assert code == "ValidationException"
    assert "built into Stageline and cannot be updated" in message


# --- ListActionTypes: region filter ---------------------------------------------------------


def test_the_region_filter_lists_custom_types_of_this_region_only(cp: Any) -> None:
    given = definition()
    cp.create_custom_action_type(**given)

    assert key(given) in listed(cp, regionFilter=REGION)
    elsewhere = listed(cp, regionFilter="eu-west-3")
    assert key(given) not in elsewhere
    assert ("Build", "AWS", "CodeBuild", "1") in elsewhere


# --- The AWS CLI --------------------------------------------------------------------------------


def test_the_aws_cli_creates_lists_tags_and_deletes_a_custom_type(aws: Any, tmp_path: Path) -> None:
    given = definition()
    path = tmp_path / "action.json"
    path.write_text(json.dumps(given))

    created = aws("codepipeline", "create-custom-action-type", "--cli-input-json", f"file://{path}")
    assert created.returncode == 0, created.stderr
    assert created.json()["actionType"]["id"] == type_id_of(given)

    listing = aws("codepipeline", "list-action-types", "--action-owner-filter", "Custom")
    assert type_id_of(given) in [t["id"] for t in listing.json()["actionTypes"]]

    arn = arn_of(type_id_of(given))
    tagged = aws("codepipeline", "tag-resource", "--resource-arn", arn, "--tags", "key=k,value=v")
    assert tagged.returncode == 0, tagged.stderr
    tags = aws("codepipeline", "list-tags-for-resource", "--resource-arn", arn)
    assert tags.json()["tags"] == [{"key": "k", "value": "v"}]

    refused = aws("codepipeline", "get-action-type", "--category", "Build", "--owner", "Custom",
                  "--provider", given["provider"], "--action-version", "1")  # fmt: skip
    assert refused.returncode != 0
    assert "(ValidationException)" in refused.stderr

    twice = dict(given, settings={})
    path.write_text(json.dumps(twice))
    clash = aws("codepipeline", "create-custom-action-type", "--cli-input-json", f"file://{path}")
    assert clash.returncode != 0
    assert "(ValidationException)" in clash.stderr
    assert "already exists with a different definition" in clash.stderr

    deleted = aws("codepipeline", "delete-custom-action-type", "--category", "Build",
                  "--provider", given["provider"], "--action-version", "1")  # fmt: skip
    assert deleted.returncode == 0, deleted.stderr
    listing = aws("codepipeline", "list-action-types", "--action-owner-filter", "Custom")
    assert type_id_of(given) not in [t["id"] for t in listing.json()["actionTypes"]]


# --- In process: pagination and the job protocol's view of a type ----------------------------


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'stageline.db'}"
    upgrade(url)
    db = Database(url)
    yield db
    db.dispose()


def create(db: Database, given: dict[str, Any]) -> None:
    with db.unit_of_work() as uow:
        CustomActionTypes(uow.session, ARNS).create(given)


def pages(db: Database, size: int, owner: str | None = None) -> Iterator[list[dict[str, Any]]]:
    token = None
    while True:
        with db.unit_of_work(write=False) as uow:
            page, token = ActionTypeService(uow.session, ARNS, page_size=size).list(owner, token)
        yield page
        if token is None:
            return


def test_pages_hold_every_type_once_even_when_types_change_between_pages(
    database: Database,
) -> None:
    made = [definition() for _ in range(7)]
    for given in made:
        create(database, given)

    walked: list[tuple[str, ...]] = []
    for number, page in enumerate(pages(database, 5)):
        assert 0 < len(page) <= 5
        walked += [tuple(t["id"].values()) for t in page]
        if number == 5:  # 26 built-in types, then 4 custom ones: delete an unseen one, add one
            with database.unit_of_work() as uow:
                CustomActionTypes(uow.session, ARNS).delete("Build", made[-1]["provider"], "1")
            create(database, late := definition())
    assert len(walked) == len(set(walked))
    custom = [k for k in walked if k[1] == "Custom"]
    assert custom == [key(g) for g in made[:-1]] + [key(late)]

    only_custom = [t for page in pages(database, 2, "Custom") for t in page]
    assert [tuple(t["id"].values()) for t in only_custom] == custom


def test_custom_type_gives_the_job_protocol_spec_and_declaration(database: Database) -> None:
    given = definition()
    create(database, given)
    type_id = ActionTypeId("Build", "Custom", given["provider"], "1")

    with database.unit_of_work(write=False) as uow:
        found = custom_type(uow.session, type_id)
        assert found is not None
        spec, declaration = found
        assert found.queryable_property == "Project"
        assert found.secret_properties == {"Token"}
        assert found.executor_type == "JobWorker"
        assert found.job_timeout is None
        assert [p.type for p in spec.configuration_properties] == ["String", "String", "Boolean"]
        assert declaration["urls"]["configurationUrl"] == "https://ci.example.com/signup"
        assert "configurationProperties" not in declaration

    with database.unit_of_work() as uow:
        CustomActionTypes(uow.session, ARNS).delete("Build", given["provider"], "1")
    with database.unit_of_work(write=False) as uow:
        assert custom_type(uow.session, type_id) is None
        assert custom_type(uow.session, type_id, include_deleted=True) is not None
        builtin = ActionTypeId("Build", "AWS", "CodeBuild", "1")
        assert custom_type(uow.session, builtin) is None


def test_built_in_secrets_are_masked_and_kept_the_same_way() -> None:
    github = {
        "name": "Source",
        "actionTypeId": {"category": "Source", "owner": "ThirdParty", "provider": "GitHub",
                         "version": "1"},
        "configuration": {"Owner": "o", "Repo": "r", "Branch": "main", "OAuthToken": "ghp_x"},
    }  # fmt: skip
    stored = {"stages": [{"name": "Source", "actions": [github]}]}

    shown = mask_secrets(copy.deepcopy(stored), find_builtin)
    assert shown["stages"][0]["actions"][0]["configuration"]["OAuthToken"] == "****"
    assert shown["stages"][0]["actions"][0]["configuration"]["Owner"] == "o"

    unmask_secrets(shown, stored, find_builtin)
    assert shown == stored
    with pytest.raises(InvalidActionDeclarationException):
        unmask_secrets(mask_secrets(copy.deepcopy(stored), find_builtin), None, find_builtin)
