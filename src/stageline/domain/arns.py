"""ARNs of CodePipeline resources, built and parsed the way AWS shapes them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from stageline.domain.action_type_model import ActionTypeId
from stageline.domain.errors import InvalidArnException

_ARN = re.compile(r"arn:(aws[a-z-]*):codepipeline:([a-z0-9-]+):([0-9]{12}):(.+)")


@dataclass(frozen=True)
class Arns:
    """The region and account this Stageline answers as."""

    region: str
    account_id: str

    def pipeline(self, name: str) -> str:
        return f"arn:aws:codepipeline:{self.region}:{self.account_id}:{name}"

    def _codebuild(self, resource: str) -> str:
        return f"arn:aws:codebuild:{self.region}:{self.account_id}:{resource}"

    def project(self, name: str) -> str:
        return self._codebuild(f"project/{name}")

    def build(self, build_id: str) -> str:
        return self._codebuild(f"build/{build_id}")

    def report_group(self, name: str) -> str:
        return self._codebuild(f"report-group/{name}")

    def report(self, group: str, report_id: str) -> str:
        return self._codebuild(f"report/{group}:{report_id}")

    def action_type(self, type_id: ActionTypeId) -> str:
        """`actiontype:Owner/Category/Provider/Version`, as "Tag a custom action" shows it."""
        resource = f"{type_id.owner}/{type_id.category}/{type_id.provider}/{type_id.version}"
        return f"arn:aws:codepipeline:{self.region}:{self.account_id}:actiontype:{resource}"

    def parse_action_type(self, arn: str) -> ActionTypeId | None:
        """The action type an ARN of this account and region names; None for anything else
        (other kinds of resource, other accounts or regions, text that is no ARN)."""
        match = _ARN.fullmatch(arn)
        if match is None:
            return None
        _partition, region, account, resource = match.groups()
        kind, _, path = resource.partition(":")
        parts = path.split("/")
        if region != self.region or account != self.account_id:
            return None
        if kind.lower() != "actiontype" or len(parts) != 4 or not all(parts):
            return None
        owner, category, provider, version = parts
        return ActionTypeId(category, owner, provider, version)

    def parse_pipeline_name(self, arn: str) -> str | None:
        """The pipeline an ARN names, or None when it names another account, region or kind."""
        match = _ARN.fullmatch(arn)
        if match is None:
            raise InvalidArnException(f"The ARN {arn} is not valid.")
        _partition, region, account, resource = match.groups()
        if region != self.region or account != self.account_id:
            return None
        # Pipelines are the bare resource; webhooks and action types carry a "type:" prefix.
        if ":" in resource or "/" in resource:
            return None
        return resource
