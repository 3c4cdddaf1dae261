"""ListActionTypes and GetActionType through boto3: the built-in catalogue, and custom types
beside it (tests/integration/test_custom_action_types.py covers those in depth)."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from stageline.domain.action_types import BUILTIN_ACTION_TYPES, ActionTypeId, find_builtin

TypeKey = tuple[str, str, str, str]


def key_of(type_id: dict[str, str]) -> TypeKey:
    return (type_id["category"], type_id["owner"], type_id["provider"], type_id["version"])


def all_types(cp: Any, **params: Any) -> list[dict[str, Any]]:
    pages = cp.get_paginator("list_action_types").paginate(**params)
    return [t for page in pages for t in page["actionTypes"]]


def test_list_action_types_describes_the_s3_source(cp: Any) -> None:
    types = {key_of(t["id"]): t for t in cp.list_action_types()["actionTypes"]}

    s3 = types[("Source", "AWS", "S3", "1")]
    properties = {p["name"]: p for p in s3["actionConfigurationProperties"]}
    assert properties["S3Bucket"]["required"] is True
    assert properties["S3ObjectKey"]["required"] is True
    assert properties["PollForSourceChanges"]["required"] is False
    for prop in properties.values():
        assert isinstance(prop["key"], bool) and isinstance(prop["secret"], bool)
    assert s3["inputArtifactDetails"] == {"minimumCount": 0, "maximumCount": 0}
    assert s3["outputArtifactDetails"] == {"minimumCount": 1, "maximumCount": 1}

    codebuild = types[("Build", "AWS", "CodeBuild", "1")]
    assert codebuild["inputArtifactDetails"] == {"minimumCount": 1, "maximumCount": 5}
    assert ("Approval", "AWS", "Manual", "1") in types


def test_list_action_types_has_no_duplicates_and_the_paginator_agrees(cp: Any) -> None:
    unpaged = cp.list_action_types()["actionTypes"]
    keys = [key_of(t["id"]) for t in unpaged]

    assert len(keys) == len(set(keys))
    assert [key_of(t["id"]) for t in all_types(cp)] == keys


def create_custom_type(cp: Any) -> TypeKey:
    provider = f"P{uuid.uuid4().hex[:12]}"
    cp.create_custom_action_type(
        category="Deploy",
        provider=provider,
        version="1",
        inputArtifactDetails={"minimumCount": 0, "maximumCount": 1},
        outputArtifactDetails={"minimumCount": 0, "maximumCount": 0},
    )
    return ("Deploy", "Custom", provider, "1")


@pytest.mark.parametrize("owner", ["AWS", "ThirdParty", "Custom"])
def test_the_owner_filter_keeps_only_that_owner(cp: Any, owner: str) -> None:
    create_custom_type(cp)
    everything = all_types(cp)

    filtered = all_types(cp, actionOwnerFilter=owner)

    assert filtered
    assert {t["id"]["owner"] for t in filtered} == {owner}
    assert [t for t in everything if t["id"]["owner"] == owner] == filtered


def test_the_owner_filter_finds_github_v1_under_third_party(cp: Any) -> None:
    keys = {key_of(t["id"]) for t in all_types(cp, actionOwnerFilter="ThirdParty")}
    assert ("Source", "ThirdParty", "GitHub", "1") in keys


def test_custom_types_follow_the_built_in_ones(cp: Any) -> None:
    custom = create_custom_type(cp)

    keys = [key_of(t["id"]) for t in all_types(cp)]

    assert custom in keys
    builtin = [i for i, k in enumerate(keys) if find_builtin(ActionTypeId(*k)) is not None]
    assert builtin == list(range(len(BUILTIN_ACTION_TYPES)))
    assert keys.index(custom) > builtin[-1]


def test_get_action_type_codebuild(cp: Any) -> None:
    declaration = cp.get_action_type(
        category="Build", owner="AWS", provider="CodeBuild", version="1"
    )["actionType"]

    assert key_of(declaration["id"]) == ("Build", "AWS", "CodeBuild", "1")
    assert declaration["inputArtifactDetails"] == {"minimumCount": 1, "maximumCount": 5}
    assert declaration["outputArtifactDetails"] == {"minimumCount": 0, "maximumCount": 5}
    assert declaration["executor"]["type"] == "JobWorker"
    properties = {p["name"]: p for p in declaration["properties"]}
    assert properties["ProjectName"]["optional"] is False
    assert properties["EnvironmentVariables"]["optional"] is True
    assert all(p["noEcho"] is False for p in properties.values())


def test_get_action_type_marks_secrets_as_no_echo(cp: Any) -> None:
    declaration = cp.get_action_type(
        category="Source", owner="ThirdParty", provider="GitHub", version="1"
    )["actionType"]

    properties = {p["name"]: p for p in declaration["properties"]}
    assert properties["OAuthToken"]["noEcho"] is True
    assert properties["Owner"]["noEcho"] is False


def test_get_action_type_agrees_with_the_listing(cp: Any) -> None:
    # GetActionType's owner is "AWS|ThirdParty" in AWS's model: custom types are not its own.
    for listed in all_types(cp):
        category, owner, provider, version = key_of(listed["id"])
        if owner == "Custom":
            continue
        got = cp.get_action_type(
            category=category, owner=owner, provider=provider, version=version
        )["actionType"]
        assert got["id"] == listed["id"]
        for side in ("inputArtifactDetails", "outputArtifactDetails"):
            # ListActionTypes' model caps counts at 5, GetActionType's at 10.
            capped = {k: min(v, 5) for k, v in got[side].items()}
            assert listed[side] == capped, (listed["id"], side)
        assert {p["name"]: not p["optional"] for p in got.get("properties", [])} == {
            p["name"]: p["required"] for p in listed.get("actionConfigurationProperties", [])
        }


def test_types_with_many_keys_list_every_required_one_within_the_models_cap(cp: Any) -> None:
    # DeviceFarm knows 22 configuration keys; the model allows 10 in a response.
    listed = next(t for t in all_types(cp) if key_of(t["id"]) == ("Test", "AWS", "DeviceFarm", "1"))
    got = cp.get_action_type(category="Test", owner="AWS", provider="DeviceFarm", version="1")

    required = [p["required"] for p in listed["actionConfigurationProperties"]]
    assert required == [True] * 6 + [False] * 4  # AppType, ProjectId, App, ... first
    optional = [p["optional"] for p in got["actionType"]["properties"]]
    assert optional == [False] * 6 + [True] * 4


def test_cloudformation_takes_ten_inputs(cp: Any) -> None:
    got = cp.get_action_type(
        category="Deploy", owner="AWS", provider="CloudFormation", version="1"
    )["actionType"]
    assert got["inputArtifactDetails"] == {"minimumCount": 0, "maximumCount": 10}


@pytest.mark.parametrize(
    "type_id",
    [
        ("Build", "AWS", "NoSuchProvider", "1"),
        ("Build", "AWS", "CodeBuild", "2"),
        ("Deploy", "AWS", "CodeBuild", "1"),
        ("Build", "ThirdParty", "CodeBuild", "1"),
    ],
    ids=["provider", "version", "category", "owner"],
)
def test_get_action_type_of_an_unknown_type(cp: Any, type_id: TypeKey) -> None:
    category, owner, provider, version = type_id
    with pytest.raises(ClientError) as info:
        cp.get_action_type(category=category, owner=owner, provider=provider, version=version)

    error = info.value.response
    assert error["Error"]["Code"] == "ActionTypeNotFoundException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert f"{category}/{owner}/{provider}/{version}" in error["Error"]["Message"]


def forged(position: Any, kind: str = "action-types") -> str:
    """A token shaped like the server's own (base64 JSON), with a position it never made."""
    raw = json.dumps({"k": kind, "p": position}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        forged({"offset": "ten"}),
        forged({"offset": [1]}),
        forged({"offset": -3}),
        forged({"offset": True}),
        forged({"offset": 1.5}),
        forged({"name": "x"}, kind="pipelines"),
        forged({"after": -1}),
        forged({"after": "1"}),
        forged({"offset": None}),
        forged({"offset": 1, "extra": 2}),
    ],
    ids=[
        "garbage",
        "text",
        "list",
        "negative",
        "bool",
        "float",
        "other-listing",
        "negative-after",
        "text-after",
        "null-offset",
        "extra-member",
    ],
)
def test_list_action_types_refuses_a_token_it_did_not_make(cp: Any, token: str) -> None:
    with pytest.raises(ClientError) as info:
        cp.list_action_types(nextToken=token)

    error = info.value.response
    assert error["Error"]["Code"] == "InvalidNextTokenException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
