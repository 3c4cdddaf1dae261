"""Built-in Deploy action types (see action_types.py for the AWS pages they follow)."""

from __future__ import annotations

from stageline.domain.action_type_model import (
    NO_ARTIFACTS,
    ONE_ARTIFACT,
    V2_ONLY,
    aws_type,
    bounds,
    optional,
    required,
)

_STACK_SET_COMMON = ("FailureTolerancePercentage", "MaxConcurrentPercentage")
_ECS_IMAGES = tuple(
    f"Image{n}{kind}" for n in range(1, 5) for kind in ("ArtifactName", "ContainerName")
)

DEPLOYS = (
    aws_type(
        "Deploy",
        "S3",
        required("BucketName", "Extract")
        + optional("ObjectKey", "KMSEncryptionKeyARN", "CannedACL", "CacheControl"),
        ONE_ARTIFACT,
        NO_ARTIFACTS,
        "Copies the input artifact to an S3 bucket.",
    ),
    aws_type(
        "Deploy",
        "CloudFormation",
        required("ActionMode", "StackName")
        + optional(
            "Capabilities",
            "ChangeSetName",
            "RoleArn",
            "TemplatePath",
            "OutputFileName",
            "ParameterOverrides",
            "TemplateConfiguration",
        ),
        bounds(0, 10),
        bounds(0, 1),
        "Creates, updates or deletes a CloudFormation stack or change set.",
    ),
    aws_type(
        "Deploy",
        "CloudFormationStackSet",
        required("StackSetName", "TemplatePath")
        + optional(
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
        bounds(1, 3),
        NO_ARTIFACTS,
        "Creates or updates a CloudFormation stack set.",
    ),
    aws_type(
        "Deploy",
        "CloudFormationStackInstances",
        required("StackSetName", "Regions")
        + optional("DeploymentTargets", "ParameterOverrides", *_STACK_SET_COMMON),
        bounds(0, 2),
        NO_ARTIFACTS,
        "Creates stack instances of a CloudFormation stack set.",
    ),
    aws_type(
        "Deploy",
        "CodeDeploy",
        required("ApplicationName", "DeploymentGroupName"),
        ONE_ARTIFACT,
        NO_ARTIFACTS,
        "Runs a CodeDeploy deployment.",
    ),
    aws_type(
        "Deploy",
        "ECS",
        required("ClusterName", "ServiceName") + optional("FileName", "DeploymentTimeout"),
        ONE_ARTIFACT,
        NO_ARTIFACTS,
        "Rolling update of an ECS service.",
    ),
    aws_type(
        "Deploy",
        "CodeDeployToECS",
        required(
            "ApplicationName",
            "DeploymentGroupName",
            "TaskDefinitionTemplateArtifact",
            "AppSpecTemplateArtifact",
        )
        + optional("AppSpecTemplatePath", "TaskDefinitionTemplatePath", *_ECS_IMAGES),
        bounds(1, 5),
        NO_ARTIFACTS,
        "Blue/green ECS deployment through CodeDeploy.",
    ),
    aws_type(
        "Deploy",
        "ElasticBeanstalk",
        required("ApplicationName", "EnvironmentName"),
        ONE_ARTIFACT,
        NO_ARTIFACTS,
        "Deploys an application version to an Elastic Beanstalk environment.",
    ),
    aws_type(
        "Deploy",
        "AppConfig",
        required(
            "Application", "Environment", "ConfigurationProfile", "InputArtifactConfigurationPath"
        )
        + optional("DeploymentStrategy"),
        ONE_ARTIFACT,
        NO_ARTIFACTS,
        "Deploys a configuration with AWS AppConfig.",
    ),
    aws_type(
        "Deploy",
        "EC2",
        required("InstanceTagKey", "InstanceType")
        + optional(
            "InstanceTagValue",
            "TargetDirectory",
            "DeploySpec",
            "MaxBatch",
            "MaxError",
            "TargetGroupNameList",
            "PreScript",
            "PostScript",
        ),
        ONE_ARTIFACT,
        NO_ARTIFACTS,
        "Deploys to EC2 instances or SSM managed nodes.",
        V2_ONLY,
    ),
    aws_type(
        "Deploy",
        "EKS",
        required("ClusterName")
        + optional(
            "HelmReleaseName",
            "HelmChartLocation",
            "HelmValuesFiles",
            "ManifestFiles",
            "Namespace",
            "SubnetIds",
            "SecurityGroupIds",
        ),
        ONE_ARTIFACT,
        NO_ARTIFACTS,
        "Deploys Helm charts or Kubernetes manifests to an EKS cluster.",
        V2_ONLY,
    ),
)
