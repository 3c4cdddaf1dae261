"""AWS CodePipeline's declaration rules, one positive and one negative case per rule."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from stageline.domain.action_types import (
    ActionTypeId,
    ActionTypeSpec,
    ArtifactBounds,
    ConfigurationProperty,
    find_builtin,
)
from stageline.domain.errors import (
    InvalidActionDeclarationException,
    InvalidBlockerDeclarationException,
    InvalidStageDeclarationException,
    InvalidStructureException,
    LimitExceededException,
    ServiceError,
)
from stageline.domain.validation import validate_pipeline

Json = dict[str, Any]


# --- builders ---------------------------------------------------------------------------


def type_id(category: str, provider: str, owner: str = "AWS") -> Json:
    return {"category": category, "owner": owner, "provider": provider, "version": "1"}


def arts(*names: str) -> list[Json]:
    return [{"name": n} for n in names]


def s3_source(name: str = "Source", output: str = "SourceArtifact", **extra: Any) -> Json:
    return {
        "name": name,
        "actionTypeId": type_id("Source", "S3"),
        "configuration": {"S3Bucket": "bucket", "S3ObjectKey": "app.zip"},
        "outputArtifacts": arts(output),
        **extra,
    }


def connection_source(name: str = "Source", output: str = "SourceArtifact") -> Json:
    return {
        "name": name,
        "actionTypeId": type_id("Source", "CodeStarSourceConnection"),
        "configuration": {
            "ConnectionArn": "arn:aws:codeconnections:us-east-1:111111111111:connection/x",
            "FullRepositoryId": "owner/repo",
            "BranchName": "main",
        },
        "outputArtifacts": arts(output),
    }


def codebuild(
    name: str = "Build",
    inputs: tuple[str, ...] = ("SourceArtifact",),
    outputs: tuple[str, ...] = ("BuildArtifact",),
    **extra: Any,
) -> Json:
    return {
        "name": name,
        "actionTypeId": type_id("Build", "CodeBuild"),
        "configuration": {"ProjectName": "project"},
        "inputArtifacts": arts(*inputs),
        "outputArtifacts": arts(*outputs),
        **extra,
    }


def approval(name: str = "Approve", **extra: Any) -> Json:
    return {"name": name, "actionTypeId": type_id("Approval", "Manual"), **extra}


def commands(name: str = "Run", **extra: Any) -> Json:
    return {
        "name": name,
        "actionTypeId": type_id("Compute", "Commands"),
        "commands": ["make test"],
        "inputArtifacts": arts("SourceArtifact"),
        **extra,
    }


def stage(name: str, *actions: Json, **extra: Any) -> Json:
    return {"name": name, "actions": list(actions), **extra}


def pipeline(*stages: Json, **extra: Any) -> Json:
    """A minimal valid pipeline: S3 source -> CodeBuild build, unless stages are given."""
    body: Json = {
        "name": "demo",
        "roleArn": "arn:aws:iam::111111111111:role/pipeline",
        "artifactStore": {"type": "S3", "location": "artifacts"},
        "stages": list(stages) or [stage("Source", s3_source()), stage("Build", codebuild())],
    }
    body.update(extra)
    return body


def v2(*stages: Json, **extra: Any) -> Json:
    return pipeline(*stages, pipelineType="V2", **extra)


def validate(declaration: Json, region: str | None = None) -> Json:
    return validate_pipeline(declaration, find_builtin, region=region)


def rejects(declaration: Json, error: type[ServiceError], *fragments: str, **kw: Any) -> str:
    with pytest.raises(error) as caught:
        validate(declaration, **kw)
    assert type(caught.value) is error
    for fragment in fragments:
        assert fragment in caught.value.message, caught.value.message
    return caught.value.message


# --- defaults -----------------------------------------------------------------------------


def test_minimal_pipeline_is_accepted_with_aws_defaults() -> None:
    declared = pipeline(stage("Source", s3_source()), stage("Gate", approval()))
    result = validate(declared)
    assert result["pipelineType"] == "V1"
    assert result["executionMode"] == "SUPERSEDED"
    assert "version" not in result
    source, gate = result["stages"][0]["actions"][0], result["stages"][1]["actions"][0]
    assert source["runOrder"] == 1 and source["inputArtifacts"] == []
    assert gate["inputArtifacts"] == [] and gate["outputArtifacts"] == []
    assert "configuration" not in gate


def test_validation_returns_a_copy_and_leaves_input_alone() -> None:
    declared = pipeline()
    before = copy.deepcopy(declared)
    result = validate(declared)
    assert declared == before
    result["stages"][0]["actions"][0]["configuration"]["S3Bucket"] = "changed"
    assert declared == before


def test_declared_values_are_kept() -> None:
    declared = v2(
        stage("Source", s3_source(runOrder=3)),
        stage("Build", codebuild()),
        executionMode="QUEUED",
        version=7,
    )
    result = validate(declared)
    assert result["pipelineType"] == "V2"
    assert result["executionMode"] == "QUEUED"
    assert result["version"] == 7
    assert result["stages"][0]["actions"][0]["runOrder"] == 3


# --- artifact stores ----------------------------------------------------------------------


def test_pipeline_needs_an_artifact_store() -> None:
    declared = pipeline()
    del declared["artifactStore"]
    rejects(declared, InvalidStructureException, "artifactStore", "artifactStores")


def test_pipeline_cannot_declare_both_store_forms() -> None:
    declared = pipeline(artifactStores={"us-east-1": {"type": "S3", "location": "b"}})
    rejects(declared, InvalidStructureException, "both")


def test_artifact_store_map_covers_every_action_region() -> None:
    stores = {
        "us-east-1": {"type": "S3", "location": "east"},
        "eu-west-1": {"type": "S3", "location": "west"},
    }
    ok = pipeline(
        stage("Source", s3_source()),
        stage("Build", codebuild(region="eu-west-1")),
        artifactStores=stores,
    )
    del ok["artifactStore"]
    validate(ok, region="us-east-1")
    stores_without_west = {"us-east-1": stores["us-east-1"]}
    bad = {**ok, "artifactStores": stores_without_west}
    rejects(bad, InvalidStructureException, "missing in 'pipeline.artifactStores': eu-west-1")


def test_artifact_store_map_covers_the_pipeline_region() -> None:
    declared = pipeline(artifactStores={"eu-west-1": {"type": "S3", "location": "w"}})
    del declared["artifactStore"]
    validate(declared)  # the pipeline's region is unknown, so nothing is missing
    rejects(declared, InvalidStructureException, "us-east-1", region="us-east-1")


def test_artifact_store_map_cannot_be_empty() -> None:
    declared = pipeline(artifactStores={})
    del declared["artifactStore"]
    rejects(declared, InvalidStructureException, "'pipeline.artifactStores'")


def test_single_store_refuses_a_cross_region_action() -> None:
    same = pipeline(stage("Source", s3_source()), stage("Build", codebuild(region="us-east-1")))
    validate(same, region="us-east-1")
    other = pipeline(stage("Source", s3_source()), stage("Build", codebuild(region="eu-west-1")))
    rejects(other, InvalidStructureException, "more than one region", region="us-east-1")


def test_single_store_refuses_two_action_regions_even_without_pipeline_region() -> None:
    declared = pipeline(
        stage("Source", s3_source(region="us-east-1")),
        stage("Build", codebuild(region="eu-west-1")),
    )
    rejects(declared, InvalidStructureException, "'pipeline.artifactStores' instead")


# --- stage and action counts --------------------------------------------------------------


@pytest.mark.parametrize("count", [0, 1])
def test_pipeline_needs_two_stages(count: int) -> None:
    declared = pipeline()
    declared["stages"] = declared["stages"][:count]
    rejects(declared, InvalidStructureException, f"only {count} stage(s)", "minimum of 2")


def test_pipeline_allows_fifty_stages_and_no_more() -> None:
    gates = [stage(f"Gate{i}", approval()) for i in range(49)]
    validate(pipeline(stage("Source", s3_source()), *gates))
    gates.append(stage("Gate49", approval()))
    declared = pipeline(stage("Source", s3_source()), *gates)
    rejects(declared, InvalidStructureException, "too many stages", "50")


def test_stage_needs_an_action() -> None:
    declared = pipeline(stage("Source", s3_source()), stage("Empty"))
    rejects(declared, InvalidStageDeclarationException, "'Empty'")


def test_stage_allows_fifty_actions_and_no_more() -> None:
    approvals = [approval(f"A{i}") for i in range(50)]
    validate(pipeline(stage("Source", s3_source()), stage("Gates", *approvals)))
    approvals.append(approval("A50"))
    declared = pipeline(stage("Source", s3_source()), stage("Gates", *approvals))
    rejects(declared, InvalidStageDeclarationException, "Pipeline stage 'Gates' has too many")


def test_pipeline_allows_a_hundred_actions_and_no_more() -> None:
    full = [stage(f"S{s}", *[approval(f"A{a}") for a in range(50)]) for s in range(1)]
    last = stage("Last", *[approval(f"A{a}") for a in range(49)])
    declared = pipeline(stage("Source", s3_source()), *full, last)
    validate(declared)
    declared["stages"][-1]["actions"].append(approval("A49"))
    rejects(declared, LimitExceededException, "too many actions", "100")


# --- names -----------------------------------------------------------------------------


def test_stage_names_are_unique() -> None:
    declared = pipeline(stage("Source", s3_source()), stage("Source", approval()))
    rejects(declared, InvalidStageDeclarationException, "Stage name 'Source'")


def test_action_names_are_unique_within_a_stage() -> None:
    ok = pipeline(stage("Source", s3_source()), stage("Gate", approval("Source")))
    validate(ok)
    declared = pipeline(stage("Source", s3_source()), stage("Gate", approval(), approval()))
    rejects(declared, InvalidStageDeclarationException, "'Approve'", "'Gate'")


# --- source placement ---------------------------------------------------------------------


def test_first_stage_holds_only_source_actions() -> None:
    declared = pipeline(stage("Source", s3_source(), approval()), stage("Build", codebuild()))
    rejects(
        declared,
        InvalidStructureException,
        "Pipeline should start with a stage that only contains source actions",
        "StageName=[Source], ActionName=[Approve]",
    )


def test_source_actions_only_in_first_stage() -> None:
    declared = pipeline(
        stage("Source", s3_source()),
        stage("More", s3_source(name="Second", output="Other")),
    )
    rejects(
        declared,
        InvalidStructureException,
        "Source actions can only be included in the first stage",
        "StageName=[More], ActionName=[Second]",
    )


def test_first_stage_may_hold_several_sources() -> None:
    declared = pipeline(
        stage("Source", s3_source(), s3_source(name="Other", output="OtherArtifact")),
        stage("Build", codebuild(inputs=("SourceArtifact", "OtherArtifact"))),
    )
    validate(declared)


# --- action types -------------------------------------------------------------------------


def test_unknown_action_type_is_refused() -> None:
    action = codebuild()
    action["actionTypeId"] = type_id("Build", "Jenkins", owner="ThirdParty")
    declared = pipeline(stage("Source", s3_source()), stage("Build", action))
    rejects(
        declared,
        InvalidActionDeclarationException,
        "ActionType (Category: 'Build', Provider: 'Jenkins', Owner: 'ThirdParty', "
        "Version: '1') in action 'Build' is not available",
    )


def test_lookup_decides_which_types_exist() -> None:
    custom_id = ActionTypeId("Build", "Custom", "Jenkins", "1")
    custom = ActionTypeSpec(
        id=custom_id,
        configuration_properties=(ConfigurationProperty("Job", True, True, False),),
        input_artifacts=ArtifactBounds(0, 5),
        output_artifacts=ArtifactBounds(0, 5),
    )

    def lookup(t: ActionTypeId) -> ActionTypeSpec | None:
        return custom if t == custom_id else find_builtin(t)

    action = {
        "name": "Jenkins",
        "actionTypeId": type_id("Build", "Jenkins", owner="Custom"),
        "configuration": {"Job": "build"},
    }
    declared = pipeline(stage("Source", s3_source()), stage("Build", action))
    assert validate_pipeline(declared, lookup)["stages"][1]["actions"][0]["runOrder"] == 1
    with pytest.raises(InvalidActionDeclarationException):
        validate_pipeline(declared, find_builtin)


def test_v2_only_type_is_refused_on_v1() -> None:
    declared = pipeline(stage("Source", s3_source()), stage("Run", commands()))
    rejects(
        declared,
        InvalidActionDeclarationException,
        "Commands Action can only be used with V2 pipelines.",
        "StageName=[Run], ActionName=[Run]",
    )
    validate(v2(stage("Source", s3_source()), stage("Run", commands())))


# --- artifact counts ----------------------------------------------------------------------


def test_too_few_input_artifacts() -> None:
    declared = pipeline(stage("Source", s3_source()), stage("Build", codebuild(inputs=())))
    rejects(
        declared,
        InvalidActionDeclarationException,
        "Action Build declares 0 input artifacts which is less than the minimum count (1)",
    )


def test_too_many_output_artifacts() -> None:
    outputs = tuple(f"Out{i}" for i in range(6))
    declared = pipeline(stage("Source", s3_source()), stage("Build", codebuild(outputs=outputs)))
    rejects(
        declared,
        InvalidActionDeclarationException,
        "Action Build declares 6 output artifacts which is more than the maximum count (5)",
    )


def test_source_needs_its_output_artifact() -> None:
    source = s3_source()
    source["outputArtifacts"] = []
    declared = pipeline(stage("Source", source), stage("Gate", approval()))
    rejects(declared, InvalidActionDeclarationException, "Action Source declares 0 output")


def test_artifact_counts_within_bounds_are_accepted() -> None:
    outputs = tuple(f"Out{i}" for i in range(5))
    validate(pipeline(stage("Source", s3_source()), stage("Build", codebuild(outputs=outputs))))


# --- configuration ------------------------------------------------------------------------


def test_required_configuration_is_present() -> None:
    build = codebuild()
    build["configuration"] = {}
    declared = pipeline(stage("Source", s3_source()), stage("Build", build))
    rejects(
        declared,
        InvalidActionDeclarationException,
        "Action configuration for action 'Build' is missing required configuration 'ProjectName'",
    )


def test_absent_configuration_misses_required_keys() -> None:
    source = s3_source()
    del source["configuration"]
    declared = pipeline(stage("Source", source), stage("Build", codebuild()))
    rejects(declared, InvalidActionDeclarationException, "'Source'", "'S3Bucket'")


def test_unknown_configuration_is_refused() -> None:
    build = codebuild()
    build["configuration"]["Project"] = "typo"
    declared = pipeline(stage("Source", s3_source()), stage("Build", build))
    rejects(
        declared,
        InvalidActionDeclarationException,
        "Action configuration for action 'Build' contains unknown configuration 'Project'",
    )


def test_optional_and_secret_configuration_is_accepted() -> None:
    github = {
        "name": "GitHub",
        "actionTypeId": type_id("Source", "GitHub", owner="ThirdParty"),
        "configuration": {
            "Owner": "me",
            "Repo": "app",
            "Branch": "main",
            "OAuthToken": "ghp_secret",
            "PollForSourceChanges": "false",
        },
        "outputArtifacts": arts("SourceArtifact"),
    }
    build = codebuild()
    build["configuration"]["PrimarySource"] = "SourceArtifact"
    validate(pipeline(stage("Source", github), stage("Build", build)))


# --- compute-only fields ------------------------------------------------------------------


def test_commands_field_only_on_compute_actions() -> None:
    declared = pipeline(stage("Source", s3_source()), stage("Build", codebuild(commands=["ls"])))
    rejects(
        declared,
        InvalidActionDeclarationException,
        "The following action cannot contain a commands field: Build.",
    )


def test_output_variables_only_on_compute_actions() -> None:
    build = codebuild(outputVariables=["X"])
    declared = pipeline(stage("Source", s3_source()), stage("Build", build))
    rejects(declared, InvalidActionDeclarationException, "outputVariables field: Build")


def test_output_files_only_on_compute_actions() -> None:
    build = codebuild()
    build["outputArtifacts"] = [{"name": "BuildArtifact", "files": ["dist/**"]}]
    declared = pipeline(stage("Source", s3_source()), stage("Build", build))
    rejects(declared, InvalidActionDeclarationException, "commands field: Build")


def test_commands_action_needs_commands() -> None:
    run = commands()
    del run["commands"]
    declared = v2(stage("Source", s3_source()), stage("Run", run))
    rejects(
        declared,
        InvalidActionDeclarationException,
        "Action Run must have a non-empty commands field",
    )


def test_commands_action_with_all_compute_fields_is_accepted() -> None:
    run = commands(
        outputVariables=["VERSION"],
        outputArtifacts=[{"name": "Dist", "files": ["dist/**"]}],
        configuration={"ComputeType": "BUILD_GENERAL1_SMALL"},
    )
    validate(v2(stage("Source", s3_source()), stage("Run", run)))


# --- cross-region actions -----------------------------------------------------------------


def test_source_action_cannot_be_cross_region() -> None:
    stores: Json = {"us-east-1": {}, "eu-west-1": {}}
    declared = pipeline(
        stage("Source", s3_source(region="eu-west-1")),
        stage("Build", codebuild()),
        artifactStores=stores,
    )
    del declared["artifactStore"]
    validate(declared)  # without the pipeline's region the action cannot be judged
    rejects(
        declared,
        InvalidActionDeclarationException,
        "cross-region",
        "StageName=[Source], ActionName=[Source]",
        region="us-east-1",
    )


# --- artifact flow ------------------------------------------------------------------------


def test_output_artifact_names_are_unique() -> None:
    declared = pipeline(
        stage("Source", s3_source()),
        stage("Build", codebuild(), codebuild(name="Again", outputs=("BuildArtifact",))),
    )
    rejects(
        declared,
        InvalidStructureException,
        "Output Artifact Bundle name must be unique within the pipeline",
        "BuildArtifact",
        "StageName=[Build], ActionName=[Again]",
    )


def test_input_artifact_must_be_produced() -> None:
    declared = pipeline(stage("Source", s3_source()), stage("Build", codebuild(inputs=("Nope",))))
    rejects(declared, InvalidStructureException, "'Nope'", "'Build'", "stage 'Build'")


def test_input_from_same_run_order_is_refused() -> None:
    declared = pipeline(
        stage("Source", s3_source()),
        stage(
            "Build",
            codebuild(),
            codebuild(name="Package", inputs=("BuildArtifact",), outputs=("Package",)),
        ),
    )
    rejects(declared, InvalidStructureException, "'BuildArtifact'", "'Package'", "'Build'")


def test_input_from_higher_run_order_is_refused() -> None:
    declared = pipeline(
        stage("Source", s3_source()),
        stage(
            "Build",
            codebuild(name="Package", inputs=("BuildArtifact",), outputs=("Package",)),
            codebuild(runOrder=2),
        ),
    )
    rejects(declared, InvalidStructureException, "'BuildArtifact'", "'Package'")


def test_input_from_lower_run_order_is_accepted() -> None:
    declared = pipeline(
        stage("Source", s3_source()),
        stage(
            "Build",
            codebuild(name="Package", inputs=("BuildArtifact",), outputs=("Package",), runOrder=5),
            codebuild(runOrder=2),
        ),
    )
    validate(declared)


def test_input_from_later_stage_is_refused() -> None:
    declared = pipeline(
        stage("Source", s3_source()),
        stage("Test", codebuild(name="Test", inputs=("BuildArtifact",), outputs=())),
        stage("Build", codebuild()),
    )
    rejects(declared, InvalidStructureException, "'BuildArtifact'", "stage 'Test'")


def test_input_from_earlier_stage_is_accepted() -> None:
    declared = pipeline(
        stage("Source", s3_source()),
        stage("Build", codebuild()),
        stage("Test", codebuild(name="Test", inputs=("BuildArtifact", "SourceArtifact"))),
    )
    # Test's own output reuses BuildArtifact's name; give it a fresh one.
    declared["stages"][2]["actions"][0]["outputArtifacts"] = arts("Report")
    validate(declared)


# --- namespaces ---------------------------------------------------------------------------


def test_namespaces_are_unique() -> None:
    declared = pipeline(
        stage("Source", s3_source(namespace="Vars")),
        stage("Build", codebuild(namespace="Vars")),
    )
    rejects(
        declared,
        InvalidActionDeclarationException,
        "Namespaces must be unique across the pipeline definition",
        "StageName=[Build], ActionName=[Build], Namespace=[Vars]",
    )


def test_namespace_cannot_be_reserved() -> None:
    declared = pipeline(
        stage("Source", s3_source(namespace="codepipeline")), stage("B", approval())
    )
    rejects(declared, InvalidActionDeclarationException, "Namespace=[codepipeline]")


def test_namespace_cannot_be_an_artifact_name() -> None:
    declared = pipeline(
        stage("Source", s3_source()), stage("Build", codebuild(namespace="SourceArtifact"))
    )
    rejects(declared, InvalidActionDeclarationException, "ActionName=[Build]", "artifact names")


def test_distinct_namespaces_are_accepted() -> None:
    declared = pipeline(
        stage("Source", s3_source(namespace="SourceVariables")),
        stage("Build", codebuild(namespace="BuildVariables")),
    )
    validate(declared)


# --- pipeline types -----------------------------------------------------------------------


def test_v1_refuses_variables() -> None:
    declared = pipeline(variables=[{"name": "env", "defaultValue": "dev"}])
    rejects(declared, InvalidStructureException, "Pipeline variable can only be used with V2")
    validate({**declared, "pipelineType": "V2"})


def test_v1_refuses_triggers() -> None:
    trigger = {
        "providerType": "CodeStarSourceConnection",
        "gitConfiguration": {
            "sourceActionName": "Source",
            "push": [{"tags": {"includes": ["v*"]}}],
        },
    }
    declared = pipeline(
        stage("Source", connection_source()), stage("Build", codebuild()), triggers=[trigger]
    )
    rejects(declared, InvalidStructureException, "Triggers on tag can only be used with V2")
    validate({**declared, "pipelineType": "V2"})


def test_empty_v2_lists_are_fine_on_v1() -> None:
    validate(pipeline(variables=[], triggers=[]))


@pytest.mark.parametrize("mode", ["QUEUED", "PARALLEL"])
def test_queued_and_parallel_need_v2(mode: str) -> None:
    rejects(pipeline(executionMode=mode), InvalidStructureException, "QUEUED or PARALLEL")
    assert validate(v2(executionMode=mode))["executionMode"] == mode


def test_superseded_is_fine_on_v1() -> None:
    validate(pipeline(executionMode="SUPERSEDED"))


def test_variable_names_are_unique() -> None:
    variables = [{"name": "env"}, {"name": "env", "defaultValue": "x"}]
    rejects(
        v2(variables=variables),
        InvalidStructureException,
        "The following variable name is already in use: env",
    )
    validate(v2(variables=[{"name": "env"}, {"name": "region"}]))


# --- triggers -----------------------------------------------------------------------------


def trigger(action: str) -> Json:
    return {
        "providerType": "CodeStarSourceConnection",
        "gitConfiguration": {
            "sourceActionName": action,
            "push": [{"branches": {"includes": ["main"]}}],
        },
    }


def test_trigger_references_a_connection_source() -> None:
    declared = v2(
        stage("Source", connection_source()),
        stage("Build", codebuild()),
        triggers=[trigger("Source")],
    )
    validate(declared)


@pytest.mark.parametrize("target", ["Source", "Missing"])
def test_trigger_refuses_other_or_missing_actions(target: str) -> None:
    declared = v2(triggers=[trigger(target)])  # the default source is S3
    rejects(
        declared,
        InvalidStructureException,
        "Triggers for connections must reference a CodeStarSourceConnection action.",
        f"SourceActionName=[{target}]",
    )


def test_one_trigger_per_source_action() -> None:
    declared = v2(
        stage("Source", connection_source()),
        stage("Build", codebuild()),
        triggers=[trigger("Source"), trigger("Source")],
    )
    rejects(declared, InvalidStructureException, "one trigger", "SourceActionName=[Source]")


@pytest.mark.parametrize(
    ("kind", "criteria", "side", "pattern", "reason"),
    [
        ("push", "branches", "includes", "release/{a,b", "unclosed { group"),
        ("push", "tags", "excludes", "v[0-9", "unclosed [ bracket"),
        ("push", "filePaths", "includes", "src/\\", "ends with an escape character"),
        ("pullRequest", "filePaths", "excludes", "{a,{b,c}}", "nests { } groups"),
    ],
)
def test_trigger_globs_must_compile(
    kind: str, criteria: str, side: str, pattern: str, reason: str
) -> None:
    declared = v2(stage("Source", connection_source()), stage("Build", codebuild()))
    good = {criteria: {side: ["main", "**/*.{py,md}", "[!x]*"]}}
    bad = {criteria: {side: ["main", pattern]}}
    declared["triggers"] = [trigger("Source")]
    declared["triggers"][0]["gitConfiguration"][kind] = [good]
    validate(declared)
    declared["triggers"][0]["gitConfiguration"][kind] = [good, bad]
    rejects(
        declared,
        InvalidStructureException,
        reason,
        repr(pattern),
        "SourceActionName=[Source]",
        f"{kind} filter 2, {criteria}.{side}",
    )


# --- stage conditions ---------------------------------------------------------------------


def rule() -> Json:
    return {
        "name": "Check",
        "ruleTypeId": {
            "category": "Rule",
            "owner": "AWS",
            "provider": "LambdaInvoke",
            "version": "1",
        },
        "configuration": {"FunctionName": "check"},
    }


def gate(result: str) -> Json:
    return {"conditions": [{"result": result, "rules": [rule()]}]}


def test_stage_conditions_need_v2() -> None:
    declared = pipeline(
        stage("Source", s3_source()), stage("Build", codebuild(), beforeEntry=gate("FAIL"))
    )
    rejects(
        declared,
        InvalidStageDeclarationException,
        "Stage level conditions can only be used with V2 pipelines.",
        "StageName=[Build]",
    )


def test_stage_conditions_pass_through_on_v2() -> None:
    declared = v2(
        stage("Source", s3_source()),
        stage(
            "Build",
            codebuild(),
            beforeEntry=gate("SKIP"),
            onSuccess=gate("ROLLBACK"),
            onFailure={"result": "RETRY", "retryConfiguration": {"retryMode": "FAILED_ACTIONS"}},
        ),
    )
    result = validate(declared)
    assert result["stages"][1]["beforeEntry"] == gate("SKIP")
    assert result["stages"][1]["onFailure"]["retryConfiguration"]["retryMode"] == "FAILED_ACTIONS"


@pytest.mark.parametrize(
    ("gate_name", "result"),
    [
        ("beforeEntry", "ROLLBACK"),
        ("beforeEntry", "RETRY"),
        ("onSuccess", "SKIP"),
        ("onFailure", "RETRY"),
    ],
)
def test_condition_results_are_limited_per_gate(gate_name: str, result: str) -> None:
    declared = v2(
        stage("Source", s3_source()), stage("Build", codebuild(), **{gate_name: gate(result)})
    )
    rejects(declared, InvalidStageDeclarationException, f"'{result}'", gate_name, "'Build'")


def test_failure_gate_takes_result_or_conditions_not_both() -> None:
    on_failure = {"result": "ROLLBACK", **gate("ROLLBACK")}
    declared = v2(stage("Source", s3_source()), stage("Deploy", codebuild(), onFailure=on_failure))
    rejects(
        declared,
        InvalidStageDeclarationException,
        "both top level result and conditions: 'Deploy'",
    )


@pytest.mark.parametrize("on_failure", [{"result": "ROLLBACK"}, gate("ROLLBACK")])
def test_parallel_pipeline_cannot_roll_back(on_failure: Json) -> None:
    declared = v2(
        stage("Source", s3_source()),
        stage("Deploy", codebuild(), onFailure=on_failure),
        executionMode="PARALLEL",
    )
    rejects(
        declared,
        InvalidStageDeclarationException,
        "rollback result type cannot be added to a PARALLEL pipeline",
        "StageName=[Deploy]",
    )
    declared["executionMode"] = "QUEUED"
    validate(declared)


# --- blockers -----------------------------------------------------------------------------


def test_blockers_are_refused() -> None:
    blocked = stage("Build", codebuild(), blockers=[{"name": "Nightly", "type": "Schedule"}])
    declared = pipeline(stage("Source", s3_source()), blocked)
    rejects(declared, InvalidBlockerDeclarationException, "'Nightly'", "'Schedule'", "'Build'")


def test_empty_blocker_list_is_accepted() -> None:
    validate(pipeline(stage("Source", s3_source()), stage("Build", codebuild(), blockers=[])))
