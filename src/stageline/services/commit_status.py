"""Commit status: a pipeline tagged `stageline:commit-status` = `true` reports each execution's
state on the commits its CodeStarSourceConnection sources fetched — pending (GitLab: running)
once a source action has its commit, then success / failure / error (GitLab: success / failed
/ canceled) when the execution ends — through the git host's commit-status API:

- GitHub (and Enterprise Server): `POST {api}/repos/{owner}/{repo}/statuses/{sha}`
  with `state`, `target_url`, `description`, `context`;
- GitLab (and self-managed): `POST {api}/projects/{url-encoded path}/statuses/{sha}` with
  `state`, `name`, `target_url`, `description`.

The requests are outbox rows like any notification (planned in the status change's
transaction, `services/events.py`); the host's token is read and decrypted only when sending,
never stored in the row. Context is `stageline/<pipeline>`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session

from stageline.persistence.db import Database
from stageline.persistence.models import ActionExecution, Tag
from stageline.services.event_targets import (
    NotDeliverable,
    Outgoing,
    SendFailed,
    post_commit_status,
)
from stageline.services.secret_box import SecretBox

TAG = "stageline:commit-status"
SOURCE_PROVIDER = "CodeStarSourceConnection"
_FINAL = {"SUCCEEDED": "success", "FAILED": "failure"}  # anything else ended: error
_GITLAB = {"pending": "running", "success": "success", "failure": "failed", "error": "canceled"}
GITHUB_TYPES = frozenset({"GitHub", "GitHubEnterpriseServer"})
GITLAB_TYPES = frozenset({"GitLab", "GitLabSelfManaged"})


def enabled(session: Session, pipeline_arn: str) -> bool:
    value = session.scalar(
        select(Tag.value).where(Tag.resource_arn == pipeline_arn, Tag.key == TAG)
    )
    return (value or "").strip().lower() == "true"


def is_git_source(action_decl: dict[str, Any]) -> bool:
    type_id = action_decl.get("actionTypeId", {})
    return bool(type_id.get("category") == "Source" and type_id.get("provider") == SOURCE_PROVIDER)


def commits_of(session: Session, execution_pk: int) -> list[dict[str, str]]:
    """The commits the execution's git sources fetched (their output variables)."""
    rows = session.scalars(
        select(ActionExecution).where(
            ActionExecution.execution_pk == execution_pk,
            ActionExecution.status == "Succeeded",
        )
    )
    found: list[dict[str, str]] = []
    for row in rows:
        for commit in commits_of_variables(row.output_variables or {}):
            if commit not in found:
                found.append(commit)
    return found


def commits_of_variables(variables: dict[str, str]) -> list[dict[str, str]]:
    """The commit a git source action's output variables name (none for other actions)."""
    if not {"CommitId", "FullRepositoryId", "ConnectionArn"} <= set(variables):
        return []
    return [
        {
            "connectionArn": variables["ConnectionArn"],
            "repository": variables["FullRepositoryId"],
            "commit": variables["CommitId"],
        }
    ]


def state_for(event_state: str, *, started: bool) -> str:
    """GitHub's state (the neutral vocabulary the rows keep) for an event."""
    if started:
        return "pending"
    return _FINAL.get(event_state, "error")


def request(
    commit: dict[str, str], state: str, pipeline: str, execution_id: str, public_url: str
) -> tuple[str, dict[str, Any]]:
    """The address (ordering key per repository and commit) and payload of one status."""
    address = f"commit-status:{commit['connectionArn']}:{commit['repository']}:{commit['commit']}"
    payload = {
        **commit,
        "state": state,
        "context": f"stageline/{pipeline}",
        "description": f"Stageline: {pipeline} {state}",
        "target_url": f"{public_url.rstrip('/')}/console/pipelines/{pipeline}/executions/{execution_id}",
    }
    return address, {"status": payload}


class CommitStatusSender:
    """Resolves the repository's connection (token decrypted here only) and posts the status
    in the host's own format."""

    def __init__(self, db: Database, box: SecretBox) -> None:
        self.db, self.box = db, box

    def __call__(self, item: Outgoing) -> None:
        from stageline.domain.errors import ServiceError
        from stageline.services.git_access import remote_for

        status = item.payload["status"]
        try:
            with self.db.unit_of_work(write=False) as uow:
                remote = remote_for(
                    uow.session, self.box, status["connectionArn"], status["repository"]
                )
        except ServiceError as error:
            raise SendFailed(f"{error.code}: {error.message}") from None
        if remote.api_url is None:
            raise NotDeliverable(f"{remote.provider_type} at {remote.url} has no commit-status API")
        api = remote.api_url.rstrip("/")
        repo, sha = status["repository"].removesuffix(".git"), status["commit"]
        common = {"target_url": status["target_url"], "description": status["description"]}
        headers: dict[str, str] = {}
        if remote.provider_type in GITHUB_TYPES:
            url = f"{api}/repos/{repo}/statuses/{sha}"
            body = {"state": status["state"], "context": status["context"], **common}
            headers["Accept"] = "application/vnd.github+json"
            if remote.token:
                headers["Authorization"] = f"Bearer {remote.token}"
        elif remote.provider_type in GITLAB_TYPES:
            url = f"{api}/projects/{quote(repo, safe='')}/statuses/{sha}"
            body = {"state": _GITLAB[status["state"]], "name": status["context"], **common}
            if remote.token:
                headers["PRIVATE-TOKEN"] = remote.token
        else:
            raise NotDeliverable(f"Commit status is not supported for {remote.provider_type}")
        post_commit_status(replace(item, address=url, payload={"body": body}, headers=headers))
