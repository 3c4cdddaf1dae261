"""Which action types Stageline runs itself, and the provider that runs each.

Types missing here (approvals, custom actions, AWS-only services) are not run by a provider:
the orchestrator keeps them in the database or reports them unsupported.
"""

from __future__ import annotations

from stageline.actions.base import ActionProvider
from stageline.actions.commands import CommandsProvider
from stageline.actions.s3_deploy import S3DeployProvider
from stageline.actions.s3_source import S3SourceProvider
from stageline.domain.action_types import ActionTypeId

# Providers keep no state between runs, so one instance of each serves every attempt.
_PROVIDERS: dict[ActionTypeId, ActionProvider] = {
    ActionTypeId("Source", "AWS", "S3", "1"): S3SourceProvider(),
    ActionTypeId("Compute", "AWS", "Commands", "1"): CommandsProvider(),
    ActionTypeId("Deploy", "AWS", "S3", "1"): S3DeployProvider(),
}

SUPPORTED: frozenset[ActionTypeId] = frozenset(_PROVIDERS)


def provider_for(type_id: ActionTypeId) -> ActionProvider | None:
    """The provider of exactly this type id (case-sensitive, as in AWS), or None."""
    return _PROVIDERS.get(type_id)
