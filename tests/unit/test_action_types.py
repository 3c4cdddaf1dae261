"""The built-in action type catalogue: AWS's providers, keys and artifact bounds."""

from __future__ import annotations

import pytest

from stageline.domain.action_types import (
    BUILTIN_ACTION_TYPES,
    ActionTypeId,
    ActionTypeSpec,
    ArtifactBounds,
    find_builtin,
)


def aws(category: str, provider: str) -> ActionTypeId:
    return ActionTypeId(category, "AWS", provider, "1")


def spec(type_id: ActionTypeId) -> ActionTypeSpec:
    found = find_builtin(type_id)
    assert found is not None, type_id
    return found


def required(s: ActionTypeSpec) -> set[str]:
    return {p.name for p in s.configuration_properties if p.required}


def names(s: ActionTypeSpec) -> set[str]:
    return {p.name for p in s.configuration_properties}


EXPECTED = [
    aws("Source", "S3"),
    aws("Source", "CodeCommit"),
    aws("Source", "ECR"),
    aws("Source", "CodeStarSourceConnection"),
    ActionTypeId("Source", "ThirdParty", "GitHub", "1"),
    aws("Build", "CodeBuild"),
    aws("Test", "CodeBuild"),
    aws("Build", "ECRBuildAndPublish"),
    aws("Test", "DeviceFarm"),
    aws("Deploy", "S3"),
    aws("Deploy", "CloudFormation"),
    aws("Deploy", "CloudFormationStackSet"),
    aws("Deploy", "CloudFormationStackInstances"),
    aws("Deploy", "CodeDeploy"),
    aws("Deploy", "ECS"),
    aws("Deploy", "CodeDeployToECS"),
    aws("Deploy", "ElasticBeanstalk"),
    aws("Deploy", "AppConfig"),
    aws("Deploy", "EC2"),
    aws("Deploy", "EKS"),
    aws("Approval", "Manual"),
    aws("Invoke", "Lambda"),
    aws("Invoke", "StepFunctions"),
    aws("Invoke", "InspectorScan"),
    aws("Invoke", "CodePipeline"),
    aws("Compute", "Commands"),
]


@pytest.mark.parametrize("type_id", EXPECTED, ids=lambda t: f"{t.category}-{t.provider}")
def test_catalogue_holds_aws_builtin_type(type_id: ActionTypeId) -> None:
    assert spec(type_id).id == type_id


def test_catalogue_holds_nothing_unexpected() -> None:
    assert {s.id for s in BUILTIN_ACTION_TYPES} == set(EXPECTED)


def test_ids_are_unique() -> None:
    ids = [s.id for s in BUILTIN_ACTION_TYPES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(
    "s", BUILTIN_ACTION_TYPES, ids=lambda s: f"{s.id.category}-{s.id.provider}"
)
def test_each_spec_is_well_formed(s: ActionTypeSpec) -> None:
    # ActionTypeArtifactDetails allows 0..10; every built-in is version 1.
    for bounds in (s.input_artifacts, s.output_artifacts):
        assert 0 <= bounds.minimum <= bounds.maximum <= 10
    assert len(names(s)) == len(s.configuration_properties)
    assert s.id.version == "1"
    assert s.pipeline_types <= {"V1", "V2"} and s.pipeline_types
    assert s.settings is None


def test_unknown_or_differently_cased_ids_are_not_found() -> None:
    assert find_builtin(aws("Build", "Jenkins")) is None
    assert find_builtin(ActionTypeId("source", "AWS", "S3", "1")) is None
    assert find_builtin(ActionTypeId("Source", "AWS", "S3", "2")) is None
    assert find_builtin(ActionTypeId("Source", "ThirdParty", "S3", "1")) is None


def test_source_actions_take_no_input_and_give_one_output() -> None:
    for s in BUILTIN_ACTION_TYPES:
        if s.id.category == "Source":
            assert s.input_artifacts == ArtifactBounds(0, 0)
            assert s.output_artifacts == ArtifactBounds(1, 1)


def test_s3_source_keys() -> None:
    s = spec(aws("Source", "S3"))
    assert required(s) == {"S3Bucket", "S3ObjectKey"}
    assert "PollForSourceChanges" in names(s)


def test_codestar_connection_keys() -> None:
    s = spec(aws("Source", "CodeStarSourceConnection"))
    assert required(s) == {"ConnectionArn", "FullRepositoryId", "BranchName"}
    assert {"OutputArtifactFormat", "DetectChanges"} <= names(s)


def test_github_v1_oauth_token_is_a_required_secret() -> None:
    s = spec(ActionTypeId("Source", "ThirdParty", "GitHub", "1"))
    token = next(p for p in s.configuration_properties if p.name == "OAuthToken")
    assert token.secret and token.required
    assert required(s) == {"Owner", "Repo", "Branch", "OAuthToken"}
    assert not any(p.secret for p in s.configuration_properties if p.name != "OAuthToken")


@pytest.mark.parametrize("category", ["Build", "Test"])
def test_codebuild_bounds_and_keys(category: str) -> None:
    s = spec(aws(category, "CodeBuild"))
    assert s.input_artifacts == ArtifactBounds(1, 5)
    assert s.output_artifacts == ArtifactBounds(0, 5)
    assert required(s) == {"ProjectName"}
    assert {"PrimarySource", "BatchEnabled", "CombineArtifacts", "EnvironmentVariables"} <= names(s)


def test_deploy_bounds() -> None:
    assert spec(aws("Deploy", "CloudFormation")).input_artifacts == ArtifactBounds(0, 10)
    assert spec(aws("Deploy", "CloudFormation")).output_artifacts == ArtifactBounds(0, 1)
    assert spec(aws("Deploy", "S3")).input_artifacts == ArtifactBounds(1, 1)
    assert spec(aws("Deploy", "CodeDeployToECS")).input_artifacts == ArtifactBounds(1, 5)
    assert spec(aws("Deploy", "CloudFormationStackSet")).input_artifacts == ArtifactBounds(1, 3)


def test_deploy_required_keys() -> None:
    assert required(spec(aws("Deploy", "S3"))) == {"BucketName", "Extract"}
    assert required(spec(aws("Deploy", "CloudFormation"))) == {"ActionMode", "StackName"}
    assert required(spec(aws("Deploy", "ECS"))) == {"ClusterName", "ServiceName"}
    assert required(spec(aws("Deploy", "ElasticBeanstalk"))) == {
        "ApplicationName",
        "EnvironmentName",
    }


def test_manual_approval_has_only_optional_keys_and_no_artifacts() -> None:
    s = spec(aws("Approval", "Manual"))
    assert required(s) == set()
    assert names(s) == {"NotificationArn", "ExternalEntityLink", "CustomData"}
    assert s.input_artifacts == s.output_artifacts == ArtifactBounds(0, 0)


def test_invoke_types() -> None:
    assert required(spec(aws("Invoke", "Lambda"))) == {"FunctionName"}
    assert spec(aws("Invoke", "Lambda")).output_artifacts == ArtifactBounds(0, 5)
    assert required(spec(aws("Invoke", "StepFunctions"))) == {"StateMachineArn"}


@pytest.mark.parametrize(
    "type_id",
    [
        aws("Compute", "Commands"),
        aws("Build", "ECRBuildAndPublish"),
        aws("Deploy", "EC2"),
        aws("Deploy", "EKS"),
        aws("Invoke", "CodePipeline"),
    ],
    ids=lambda t: t.provider,
)
def test_v2_only_types(type_id: ActionTypeId) -> None:
    assert spec(type_id).pipeline_types == frozenset({"V2"})


def test_classic_types_serve_both_pipeline_types() -> None:
    assert spec(aws("Build", "CodeBuild")).pipeline_types == frozenset({"V1", "V2"})


def test_commands_takes_its_commands_outside_configuration() -> None:
    s = spec(aws("Compute", "Commands"))
    assert required(s) == set()
    assert s.input_artifacts == ArtifactBounds(1, 10)
    assert s.output_artifacts == ArtifactBounds(0, 1)
