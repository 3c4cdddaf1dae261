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

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class ActionTypeId:
    category: str
    owner: str
    provider: str
    version: str


@dataclass(frozen=True)
class ConfigurationProperty:
    name: str
    required: bool
    key: bool
    secret: bool
    queryable: bool = False
    description: str = ""
    type: str = "String"  # String | Number | Boolean


@dataclass(frozen=True)
class ArtifactBounds:
    minimum: int
    maximum: int


@dataclass(frozen=True)
class ActionTypeSpec:
    id: ActionTypeId
    configuration_properties: tuple[ConfigurationProperty, ...]
    input_artifacts: ArtifactBounds
    output_artifacts: ArtifactBounds
    description: str = ""
    # entityUrlTemplate, executionUrlTemplate, revisionUrlTemplate, thirdPartyConfigurationUrl
    settings: Mapping[str, str] | None = None
    pipeline_types: frozenset[str] = frozenset({"V1", "V2"})


V2_ONLY = frozenset({"V2"})


def _req(*names: str) -> tuple[ConfigurationProperty, ...]:
    # Built-in types do not publish their "key" flag; required keys identify the action.
    return tuple(ConfigurationProperty(n, required=True, key=True, secret=False) for n in names)


def _opt(*names: str) -> tuple[ConfigurationProperty, ...]:
    return tuple(ConfigurationProperty(n, required=False, key=False, secret=False) for n in names)


def _secret(name: str) -> tuple[ConfigurationProperty, ...]:
    return (ConfigurationProperty(name, required=True, key=False, secret=True),)


def _bounds(minimum: int, maximum: int | None = None) -> ArtifactBounds:
    return ArtifactBounds(minimum, minimum if maximum is None else maximum)


def _aws(
    category: str,
    provider: str,
    props: tuple[ConfigurationProperty, ...],
    inputs: ArtifactBounds,
    outputs: ArtifactBounds,
    description: str,
    pipeline_types: frozenset[str] = frozenset({"V1", "V2"}),
) -> ActionTypeSpec:
    return ActionTypeSpec(
        id=ActionTypeId(category, "AWS", provider, "1"),
        configuration_properties=props,
        input_artifacts=inputs,
        output_artifacts=outputs,
        description=description,
        pipeline_types=pipeline_types,
    )


_NONE = _bounds(0)
_ONE = _bounds(1)

_SOURCES = (
    _aws(
        "Source",
        "S3",
        _req("S3Bucket", "S3ObjectKey")
        + _opt("PollForSourceChanges", "AllowOverrideForS3ObjectKey"),
        _NONE,
        _ONE,
        "Starts on a new version of an object in an S3 bucket.",
    ),
    _aws(
        "Source",
        "CodeCommit",
        _req("RepositoryName", "BranchName") + _opt("PollForSourceChanges", "OutputArtifactFormat"),
        _NONE,
        _ONE,
        "Starts on a commit to a CodeCommit branch.",
    ),
    _aws(
        "Source",
        "ECR",
        _req("RepositoryName") + _opt("ImageTag"),
        _NONE,
        _ONE,
        "Starts on an image push to an ECR repository.",
    ),
    _aws(
        "Source",
        "CodeStarSourceConnection",
        _req("ConnectionArn", "FullRepositoryId", "BranchName")
        + _opt("OutputArtifactFormat", "DetectChanges"),
        _NONE,
        _ONE,
        "Starts on a commit to a Bitbucket, GitHub or GitLab repository through a connection.",
    ),
    ActionTypeSpec(
        id=ActionTypeId("Source", "ThirdParty", "GitHub", "1"),
        configuration_properties=_req("Owner", "Repo", "Branch")
        + _secret("OAuthToken")
        + _opt("PollForSourceChanges"),
        input_artifacts=_NONE,
        output_artifacts=_ONE,
        description="GitHub version 1 source (OAuth app).",
    ),
)

_CODEBUILD = _req("ProjectName") + _opt(
    "PrimarySource", "BatchEnabled", "CombineArtifacts", "EnvironmentVariables"
)

_BUILDS_AND_TESTS = (
    _aws("Build", "CodeBuild", _CODEBUILD, _bounds(1, 5), _bounds(0, 5), "Runs a CodeBuild build."),
    _aws("Test", "CodeBuild", _CODEBUILD, _bounds(1, 5), _bounds(0, 5), "Runs a CodeBuild test."),
    _aws(
        "Build",
        "ECRBuildAndPublish",
        _req("ECRRepositoryName") + _opt("DockerFilePath", "ImageTags", "RegistryType"),
        _ONE,
        _NONE,
        "Builds a Docker image and pushes it to ECR.",
        V2_ONLY,
    ),
    _aws(
        "Test",
        "DeviceFarm",
        _req("AppType", "ProjectId", "App", "AppiumVersion", "DevicePoolArn", "TestType")
        + _opt(
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
        _ONE,
        _NONE,
        "Runs tests in AWS Device Farm.",
    ),
)

_STACK_SET_COMMON = ("FailureTolerancePercentage", "MaxConcurrentPercentage")
_ECS_IMAGES = tuple(
    f"Image{n}{kind}" for n in range(1, 5) for kind in ("ArtifactName", "ContainerName")
)

_DEPLOYS = (
    _aws(
        "Deploy",
        "S3",
        _req("BucketName", "Extract")
        + _opt("ObjectKey", "KMSEncryptionKeyARN", "CannedACL", "CacheControl"),
        _ONE,
        _NONE,
        "Copies the input artifact to an S3 bucket.",
    ),
    _aws(
        "Deploy",
        "CloudFormation",
        _req("ActionMode", "StackName")
        + _opt(
            "Capabilities",
            "ChangeSetName",
            "RoleArn",
            "TemplatePath",
            "OutputFileName",
            "ParameterOverrides",
            "TemplateConfiguration",
        ),
        _bounds(0, 10),
        _bounds(0, 1),
        "Creates, updates or deletes a CloudFormation stack or change set.",
    ),
    _aws(
        "Deploy",
        "CloudFormationStackSet",
        _req("StackSetName", "TemplatePath")
        + _opt(
            "Description",
            "Parameters",
            "Capabilities",
            "PermissionModel",
            "AdministrationRoleArn",
            "ExecutionRoleName",
            "OrganizationsAutoDeployment",
            "DeploymentTargets",
            "Regions",
            *_STACK_SET_COMMON,
        ),
        _bounds(1, 3),
        _NONE,
        "Creates or updates a CloudFormation stack set.",
    ),
    _aws(
        "Deploy",
        "CloudFormationStackInstances",
        _req("StackSetName", "Regions")
        + _opt("DeploymentTargets", "ParameterOverrides", *_STACK_SET_COMMON),
        _bounds(0, 2),
        _NONE,
        "Creates stack instances of a CloudFormation stack set.",
    ),
    _aws(
        "Deploy",
        "CodeDeploy",
        _req("ApplicationName", "DeploymentGroupName"),
        _ONE,
        _NONE,
        "Runs a CodeDeploy deployment.",
    ),
    _aws(
        "Deploy",
        "ECS",
        _req("ClusterName", "ServiceName") + _opt("FileName", "DeploymentTimeout"),
        _ONE,
        _NONE,
        "Rolling update of an ECS service.",
    ),
    _aws(
        "Deploy",
        "CodeDeployToECS",
        _req(
            "ApplicationName",
            "DeploymentGroupName",
            "TaskDefinitionTemplateArtifact",
            "AppSpecTemplateArtifact",
        )
        + _opt("AppSpecTemplatePath", "TaskDefinitionTemplatePath", *_ECS_IMAGES),
        _bounds(1, 5),
        _NONE,
        "Blue/green ECS deployment through CodeDeploy.",
    ),
    _aws(
        "Deploy",
        "ElasticBeanstalk",
        _req("ApplicationName", "EnvironmentName"),
        _ONE,
        _NONE,
        "Deploys an application version to an Elastic Beanstalk environment.",
    ),
    _aws(
        "Deploy",
        "AppConfig",
        _req("Application", "Environment", "ConfigurationProfile", "InputArtifactConfigurationPath")
        + _opt("DeploymentStrategy"),
        _ONE,
        _NONE,
        "Deploys a configuration with AWS AppConfig.",
    ),
    _aws(
        "Deploy",
        "EC2",
        _req("InstanceTagKey", "InstanceType")
        + _opt(
            "InstanceTagValue",
            "TargetDirectory",
            "DeploySpec",
            "MaxBatch",
            "MaxError",
            "TargetGroupNameList",
            "PreScript",
            "PostScript",
        ),
        _ONE,
        _NONE,
        "Deploys to EC2 instances or SSM managed nodes.",
        V2_ONLY,
    ),
    _aws(
        "Deploy",
        "EKS",
        _req("ClusterName")
        + _opt(
            "HelmReleaseName",
            "HelmChartLocation",
            "HelmValuesFiles",
            "ManifestFiles",
            "Namespace",
            "SubnetIds",
            "SecurityGroupIds",
        ),
        _ONE,
        _NONE,
        "Deploys Helm charts or Kubernetes manifests to an EKS cluster.",
        V2_ONLY,
    ),
)

_OTHERS = (
    _aws(
        "Approval",
        "Manual",
        _opt("NotificationArn", "ExternalEntityLink", "CustomData"),
        _NONE,
        _NONE,
        "Waits for a person to approve or reject.",
    ),
    _aws(
        "Invoke",
        "Lambda",
        _req("FunctionName") + _opt("UserParameters"),
        _bounds(0, 5),
        _bounds(0, 5),
        "Invokes a Lambda function.",
    ),
    _aws(
        "Invoke",
        "StepFunctions",
        _req("StateMachineArn") + _opt("ExecutionNamePrefix", "InputType", "Input"),
        _bounds(0, 1),
        _bounds(0, 1),
        "Starts a Step Functions state machine execution.",
    ),
    _aws(
        "Invoke",
        "InspectorScan",
        _req("InspectorRunMode")
        + _opt(
            "ECRRepositoryName",
            "ImageTag",
            "CriticalThreshold",
            "HighThreshold",
            "MediumThreshold",
            "LowThreshold",
        ),
        _bounds(0, 1),  # the source artifact is not needed for an ECR image scan
        _ONE,  # the SBOM report
        "Scans source code or an ECR image with Amazon Inspector.",
    ),
    _aws(
        "Invoke",
        "CodePipeline",
        _req("PipelineName") + _opt("SourceRevisions", "Variables"),
        _NONE,
        _NONE,
        "Starts another pipeline.",
        V2_ONLY,
    ),
    # Commands' shell lines travel in ActionDeclaration.commands, not in configuration.
    # Artifact bounds as published by aws-cdk's CommandsAction (1-10 in, 0-1 out).
    _aws(
        "Compute",
        "Commands",
        _opt("ComputeType"),
        _bounds(1, 10),
        _bounds(0, 1),
        "Runs shell commands on CodePipeline-managed CodeBuild compute.",
        V2_ONLY,
    ),
)

BUILTIN_ACTION_TYPES: tuple[ActionTypeSpec, ...] = _SOURCES + _BUILDS_AND_TESTS + _DEPLOYS + _OTHERS

_BY_ID: dict[ActionTypeId, ActionTypeSpec] = {spec.id: spec for spec in BUILTIN_ACTION_TYPES}


def find_builtin(type_id: ActionTypeId) -> ActionTypeSpec | None:
    """The built-in type with exactly this id (ids are case-sensitive, as in AWS)."""
    return _BY_ID.get(type_id)
