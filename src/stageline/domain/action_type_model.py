"""The shape of an action type: its id, configuration properties and artifact bounds, plus
the small builders the catalogue modules use."""

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


def required(*names: str) -> tuple[ConfigurationProperty, ...]:
    # Built-in types do not publish their "key" flag; required keys identify the action.
    return tuple(ConfigurationProperty(n, required=True, key=True, secret=False) for n in names)


def optional(*names: str) -> tuple[ConfigurationProperty, ...]:
    return tuple(ConfigurationProperty(n, required=False, key=False, secret=False) for n in names)


def secret_key(name: str) -> tuple[ConfigurationProperty, ...]:
    return (ConfigurationProperty(name, required=True, key=False, secret=True),)


def bounds(minimum: int, maximum: int | None = None) -> ArtifactBounds:
    return ArtifactBounds(minimum, minimum if maximum is None else maximum)


def aws_type(
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


NO_ARTIFACTS = bounds(0)
ONE_ARTIFACT = bounds(1)
