"""Which action types Stageline runs itself, and the provider that runs each.

Types missing here (approvals, custom actions, AWS-only services) are not run by a provider:
the orchestrator keeps them in the database or reports them unsupported.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from stageline.actions.base import ActionProvider
from stageline.actions.commands import DEFAULT_BUILD_DIR, CommandsProvider
from stageline.actions.s3_deploy import S3DeployProvider
from stageline.actions.s3_source import S3SourceProvider
from stageline.domain.action_types import ActionTypeId


def builtin_providers(build_dir: Path = DEFAULT_BUILD_DIR) -> dict[ActionTypeId, ActionProvider]:
    """One provider of each type. Providers keep no state between runs, so one instance of
    each serves every attempt. build_dir: the build root of Commands (STAGELINE_BUILD_DIR)."""
    return {
        ActionTypeId("Source", "AWS", "S3", "1"): S3SourceProvider(),
        ActionTypeId("Compute", "AWS", "Commands", "1"): CommandsProvider(build_dir),
        ActionTypeId("Deploy", "AWS", "S3", "1"): S3DeployProvider(),
    }


_DEFAULTS = builtin_providers()

SUPPORTED: frozenset[ActionTypeId] = frozenset(_DEFAULTS)


def provider_for(
    type_id: ActionTypeId, providers: Mapping[ActionTypeId, ActionProvider] = _DEFAULTS
) -> ActionProvider | None:
    """The provider of exactly this type id (case-sensitive, as in AWS), or None. `providers`
    comes from builtin_providers; the default is built with the default settings."""
    return providers.get(type_id)
