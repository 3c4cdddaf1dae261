"""The built-in (AWS-owned and ThirdParty GitHub v1) action types CodePipeline offers.

Keys, required flags, secret flags and artifact bounds come from the CodePipeline User Guide:
  - "Action structure reference" and each provider page under it: "Amazon S3 source action
    reference", "CodeCommit source action reference", "Amazon ECR source action reference",
    "CodeStarSourceConnection for Bitbucket Cloud, GitHub, ... actions", "GitHub (via OAuth
    app) source action reference", "AWS CodeBuild build and test action reference",
    "ECRBuildAndPublish build action reference", "AWS Device Farm test action reference",
    "Amazon S3 deploy action reference", "AWS CloudFormation deploy action reference",
    "AWS CloudFormation StackSets deploy action reference" (CloudFormationStackSet and
    CloudFormationStackInstances), "AWS CodeDeploy deploy action reference", "Amazon Elastic
    Container Service deploy action reference", "Amazon ECS and CodeDeploy blue-green deploy
    action reference", "AWS AppConfig deploy action reference", "Amazon EC2 action reference",
    "Amazon Elastic Kubernetes Service EKS deploy action reference", "AWS Lambda invoke action
    reference", "AWS Step Functions invoke action reference", "Amazon Inspector InspectorScan
    invoke action reference", "AWS CodePipeline invoke action reference", "Commands action
    reference", "Add a manual approval action to a stage";
  - "CodePipeline pipeline structure reference" > "Valid input and output artifacts for each
    action type" (the artifact-count table);
  - the ElasticBeanstalk keys from "Valid action providers"/cdk-preflight's service probe table.
Where a page marks a key "Required: Conditional" it is optional here: CodePipeline accepts the
declaration and the condition is checked when the action runs. Settings stay None: AWS's own
types only carry console URL templates, which a self-hosted service has no use for.
"""

from __future__ import annotations

from stageline.domain.action_type_model import (
    NO_ARTIFACTS,
    ONE_ARTIFACT,
    V2_ONLY,
    ActionTypeId,
    ActionTypeSpec,
    ArtifactBounds,
    ConfigurationProperty,
    aws_type,
    bounds,
    optional,
    required,
    secret_key,
)
from stageline.domain.action_types_deploy import DEPLOYS

__all__ = [
    "BUILTIN_ACTION_TYPES",
    "V2_ONLY",
    "ActionTypeId",
    "ActionTypeSpec",
    "ArtifactBounds",
    "ConfigurationProperty",
    "find_builtin",
]


_SOURCES = (
    aws_type(
        "Source",
        "S3",
        required("S3Bucket", "S3ObjectKey")
        + optional("PollForSourceChanges", "AllowOverrideForS3ObjectKey"),
        NO_ARTIFACTS,
        ONE_ARTIFACT,
        "Starts on a new version of an object in an S3 bucket.",
    ),
    aws_type(
        "Source",
        "CodeCommit",
        required("RepositoryName", "BranchName")
        + optional("PollForSourceChanges", "OutputArtifactFormat"),
        NO_ARTIFACTS,
        ONE_ARTIFACT,
        "Starts on a commit to a CodeCommit branch.",
    ),
    aws_type(
        "Source",
        "ECR",
        required("RepositoryName") + optional("ImageTag"),
        NO_ARTIFACTS,
        ONE_ARTIFACT,
        "Starts on an image push to an ECR repository.",
    ),
    aws_type(
        "Source",
        "CodeStarSourceConnection",
        required("ConnectionArn", "FullRepositoryId", "BranchName")
        + optional("OutputArtifactFormat", "DetectChanges"),
        NO_ARTIFACTS,
        ONE_ARTIFACT,
        "Starts on a commit to a Bitbucket, GitHub or GitLab repository through a connection.",
    ),
    ActionTypeSpec(
        id=ActionTypeId("Source", "ThirdParty", "GitHub", "1"),
        configuration_properties=required("Owner", "Repo", "Branch")
        + secret_key("OAuthToken")
        + optional("PollForSourceChanges"),
        input_artifacts=NO_ARTIFACTS,
        output_artifacts=ONE_ARTIFACT,
        description="GitHub version 1 source (OAuth app).",
    ),
)

_CODEBUILD = required("ProjectName") + optional(
    "PrimarySource", "BatchEnabled", "CombineArtifacts", "EnvironmentVariables"
)

_BUILDS_AND_TESTS = (
    aws_type(
        "Build", "CodeBuild", _CODEBUILD, bounds(1, 5), bounds(0, 5), "Runs a CodeBuild build."
    ),
    aws_type("Test", "CodeBuild", _CODEBUILD, bounds(1, 5), bounds(0, 5), "Runs a CodeBuild test."),
    aws_type(
        "Build",
        "ECRBuildAndPublish",
        required("ECRRepositoryName") + optional("DockerFilePath", "ImageTags", "RegistryType"),
        ONE_ARTIFACT,
        NO_ARTIFACTS,
        "Builds a Docker image and pushes it to ECR.",
        V2_ONLY,
    ),
    aws_type(
        "Test",
        "DeviceFarm",
        required("AppType", "ProjectId", "App", "AppiumVersion", "DevicePoolArn", "TestType")
        + optional(
            "RadioBluetoothEnabled",
            "RecordAppPerformanceData",
            "RecordVideo",
            "RadioWifiEnabled",
            "RadioNfcEnabled",
            "RadioGpsEnabled",
            "Test",
            "FuzzEventCount",
            "FuzzEventThrottle",
            "FuzzRandomizerSeed",
            "CustomHostMachineArtifacts",
            "CustomDeviceArtifacts",
            "UnmeteredDevicesOnly",
            "JobTimeoutMinutes",
            "Latitude",
            "Longitude",
        ),
        ONE_ARTIFACT,
        NO_ARTIFACTS,
        "Runs tests in AWS Device Farm.",
    ),
)

_OTHERS = (
    aws_type(
        "Approval",
        "Manual",
        optional("NotificationArn", "ExternalEntityLink", "CustomData"),
        NO_ARTIFACTS,
        NO_ARTIFACTS,
        "Waits for a person to approve or reject.",
    ),
    aws_type(
        "Invoke",
        "Lambda",
        required("FunctionName") + optional("UserParameters"),
        bounds(0, 5),
        bounds(0, 5),
        "Invokes a Lambda function.",
    ),
    aws_type(
        "Invoke",
        "StepFunctions",
        required("StateMachineArn") + optional("ExecutionNamePrefix", "InputType", "Input"),
        bounds(0, 1),
        bounds(0, 1),
        "Starts a Step Functions state machine execution.",
    ),
    aws_type(
        "Invoke",
        "InspectorScan",
        required("InspectorRunMode")
        + optional(
            "ECRRepositoryName",
            "ImageTag",
            "CriticalThreshold",
            "HighThreshold",
            "MediumThreshold",
            "LowThreshold",
        ),
        bounds(0, 1),  # the source artifact is not needed for an ECR image scan
        ONE_ARTIFACT,  # the SBOM report
        "Scans source code or an ECR image with Amazon Inspector.",
    ),
    aws_type(
        "Invoke",
        "CodePipeline",
        required("PipelineName") + optional("SourceRevisions", "Variables"),
        NO_ARTIFACTS,
        NO_ARTIFACTS,
        "Starts another pipeline.",
        V2_ONLY,
    ),
    # Commands' shell lines travel in ActionDeclaration.commands, not in configuration.
    # Artifact bounds as published by aws-cdk's CommandsAction (1-10 in, 0-1 out).
    aws_type(
        "Compute",
        "Commands",
        optional("ComputeType"),
        bounds(1, 10),
        bounds(0, 1),
        "Runs shell commands on CodePipeline-managed CodeBuild compute.",
        V2_ONLY,
    ),
)

BUILTIN_ACTION_TYPES: tuple[ActionTypeSpec, ...] = _SOURCES + _BUILDS_AND_TESTS + DEPLOYS + _OTHERS

_BY_ID: dict[ActionTypeId, ActionTypeSpec] = {spec.id: spec for spec in BUILTIN_ACTION_TYPES}


def find_builtin(type_id: ActionTypeId) -> ActionTypeSpec | None:
    """The built-in type with exactly this id (ids are case-sensitive, as in AWS)."""
    return _BY_ID.get(type_id)
