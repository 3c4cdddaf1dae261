"""Git host events posted to a connection's URL: authenticated with the connection's webhook
secret, normalised, and matched against every CodeStarSourceConnection source that reads the
repository through that connection (V2 triggers, else the push-to-BranchName default).

In three steps so that no transaction stays open across the network: `prepare` (read the
secret and the sources), `complete` (fetch changed files the payload lacks, only when a
filter needs them), `start` (one write unit of work).
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy.orm import Session

from stageline.domain.errors import (
    ResourceNotFoundException,
    ServiceError,
    ValidationException,
)
from stageline.domain.git_events import GitEvent, parse_github, parse_gitlab
from stageline.domain.triggers import decide, trigger_for
from stageline.persistence.db import UnitOfWork
from stageline.services import git_access
from stageline.services.secret_box import SecretBox, SecretBoxError
from stageline.services.triggering import SourceRef, SourceWatches, Starter, source_actions
from stageline.services.webhooks import Delivery, WebhookAccessDenied, github_signature_ok

log = logging.getLogger(__name__)
CONNECTION_PROVIDER = "CodeStarSourceConnection"


@dataclass
class Prepared:
    event: GitEvent | None
    targets: list[SourceRef] = field(default_factory=list)
    remote: Any = None  # git_access.GitRemote of the repository, when paths must be fetched


def connection_id_of(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def same_repository(a: str, b: str) -> bool:
    def norm(name: str) -> str:
        return name.strip("/").removesuffix(".git").lower()

    return norm(a) == norm(b)


def authenticate(secret: str | None, delivery: Delivery) -> None:
    headers = {k.lower(): v for k, v in delivery.headers.items()}
    if secret is None:
        raise WebhookAccessDenied("This connection has no webhook secret; it accepts no events.")
    if "x-github-event" in headers:
        if not github_signature_ok(secret, headers, delivery.body):
            raise WebhookAccessDenied("The X-Hub-Signature-256 signature is missing or wrong.")
    elif "x-gitlab-event" in headers:
        given = headers.get("x-gitlab-token", "")
        if not hmac.compare_digest(given.encode(), secret.encode()):
            raise WebhookAccessDenied("The X-Gitlab-Token is missing or wrong.")
    else:
        raise ValidationException(
            "Not a GitHub or GitLab webhook delivery (no X-GitHub-Event or X-Gitlab-Event)."
        )


def parse(delivery: Delivery) -> GitEvent | None:
    headers = {k.lower(): v for k, v in delivery.headers.items()}
    try:
        payload = json.loads(delivery.body)
    except ValueError:
        raise ValidationException("The event payload is not JSON.") from None
    if not isinstance(payload, Mapping):
        raise ValidationException("The event payload is not a JSON object.")
    if "x-github-event" in headers:
        return parse_github(headers["x-github-event"], payload)
    return parse_gitlab(headers.get("x-gitlab-event", ""), payload)


class GitEventReceiver:
    def __init__(self, box: SecretBox, starter: Starter) -> None:
        self.box = box
        self.starter = starter

    def prepare(self, session: Session, connection_id: str, delivery: Delivery) -> Prepared:
        try:
            secret = git_access.webhook_secret(session, self.box, connection_id)
        except ResourceNotFoundException:
            raise ResourceNotFoundException(
                f"No such connection: {connection_id[:100]}.", status=404
            ) from None
        except SecretBoxError:
            raise WebhookAccessDenied(
                "The connection's webhook secret cannot be read with this server's key (every "
                "replica needs the same STAGELINE_SECRET_KEY); the delivery is refused."
            ) from None
        authenticate(secret, delivery)
        event = parse(delivery)
        if event is None or event.commit is None:
            return Prepared(event)
        targets = [
            ref
            for ref in source_actions(session)
            if ref.provider == CONNECTION_PROVIDER
            and connection_id_of(ref.configuration.get("ConnectionArn", "")) == connection_id
            and same_repository(ref.configuration.get("FullRepositoryId", ""), event.repository)
        ]
        prepared = Prepared(event, targets)
        if targets and event.changed_paths is None and any(_needs_paths(t) for t in targets):
            config = targets[0].configuration
            prepared.remote = git_access.remote_for(
                session, self.box, config["ConnectionArn"], config["FullRepositoryId"]
            )
        return prepared

    def complete(self, prepared: Prepared) -> None:
        """Changed files from the repository, for filters on file paths the payload cannot
        answer (over 20 commits, new branches, pull requests)."""
        event = prepared.event
        if prepared.remote is None or event is None or event.commit is None:
            return
        old = event.before
        if event.kind == "pull_request" and old is None and event.destination_branch:
            old = git_access.head_commit(prepared.remote, event.destination_branch)
        try:
            paths = git_access.changed_paths(prepared.remote, old, event.commit)
        except (ServiceError, git_access.GitError):
            log.warning("changed files of %s unavailable", event.describe(), exc_info=True)
            return
        prepared.event = replace(event, changed_paths=tuple(paths))

    def start(self, uow: UnitOfWork, prepared: Prepared) -> list[str]:
        event, started = prepared.event, []
        if event is None or event.commit is None:
            return []
        watches = SourceWatches(uow.session)
        for ref in prepared.targets:
            start = decide(ref.configuration, trigger_for(ref.declaration, ref.name), event)
            if start is None:
                continue
            watched = event.kind == "push" and event.branch == ref.configuration.get("BranchName")
            detail = ref.configuration.get("ConnectionArn")
            try:
                with uow.session.begin_nested():  # one pipeline's refusal spares the others
                    if watched and not watches.claim(ref.pipeline_id, ref.name, start.commit):
                        continue  # polling (or an earlier delivery) started this commit
                    started.append(
                        self.starter.start(
                            uow,
                            ref.pipeline,
                            ref.action,
                            start.commit,
                            start.trigger_type,
                            detail,
                            start.branch,
                        )
                    )
            except ServiceError as exc:
                log.warning("%s not started on %s: %s", ref.pipeline, event.describe(), exc)
        return started


def _needs_paths(ref: SourceRef) -> bool:
    trigger = trigger_for(ref.declaration, ref.name)
    git = (trigger or {}).get("gitConfiguration") or {}
    filters = [*(git.get("push") or ()), *(git.get("pullRequest") or ())]
    return any(f.get("filePaths") for f in filters)
