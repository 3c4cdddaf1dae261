"""The registry maps exactly the built-in types Stageline runs to their providers."""

from __future__ import annotations

from stageline.actions.commands import CommandsProvider
from stageline.actions.registry import SUPPORTED, provider_for
from stageline.actions.s3_deploy import S3DeployProvider
from stageline.actions.s3_source import S3SourceProvider
from stageline.domain.action_types import ActionTypeId, find_builtin

S3_SOURCE = ActionTypeId("Source", "AWS", "S3", "1")
COMMANDS = ActionTypeId("Compute", "AWS", "Commands", "1")
S3_DEPLOY = ActionTypeId("Deploy", "AWS", "S3", "1")


def test_supported_types() -> None:
    assert frozenset({S3_SOURCE, COMMANDS, S3_DEPLOY}) == SUPPORTED


def test_every_supported_type_is_in_the_catalogue() -> None:
    assert all(find_builtin(type_id) is not None for type_id in SUPPORTED)


def test_provider_for_each_supported_type() -> None:
    assert isinstance(provider_for(S3_SOURCE), S3SourceProvider)
    assert isinstance(provider_for(COMMANDS), CommandsProvider)
    assert isinstance(provider_for(S3_DEPLOY), S3DeployProvider)


def test_unknown_or_differently_spelled_types_have_no_provider() -> None:
    assert provider_for(ActionTypeId("Build", "AWS", "CodeBuild", "1")) is None
    assert provider_for(ActionTypeId("Source", "AWS", "s3", "1")) is None
    assert provider_for(ActionTypeId("Source", "AWS", "S3", "2")) is None
    assert provider_for(ActionTypeId("Approval", "AWS", "Manual", "1")) is None
