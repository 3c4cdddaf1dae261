"""CodePipeline change-detection operations: V1 webhooks, their third-party registration,
and PutActionRevision."""

from __future__ import annotations

from typing import Any

from stageline.aws.router import AwsCall, Handler
from stageline.domain.errors import ValidationException
from stageline.runtime import Runtime
from stageline.services.secret_box import SecretBox
from stageline.services.third_party_hooks import GitHubRepo
from stageline.services.triggering import Starter
from stageline.services.triggering import put_action_revision as put_revision
from stageline.services.webhooks import WebhookService

Output = dict[str, Any] | None

_boxes: dict[int, SecretBox] = {}


def box(rt: Runtime) -> SecretBox:
    """One SecretBox per runtime (its key is read once)."""
    key = id(rt)
    if key not in _boxes:
        _boxes[key] = SecretBox.from_settings(rt.settings)
    return _boxes[key]


def webhooks(rt: Runtime, session: Any) -> WebhookService:
    return WebhookService(session, rt.arns, box(rt), rt.settings.public_url)


def starter(rt: Runtime) -> Starter:
    return Starter(rt.dispatcher, rt.executions)


def tagged_webhook(rt: Runtime, session: Any, arn: str) -> bool | None:
    """For the tag operations: whether the webhook `arn` names exists; None when it names no
    webhook of this account and region."""
    prefix = webhooks(rt, session).arn("")
    if not arn.startswith(prefix) or len(arn) == len(prefix):
        return None
    return webhooks(rt, session).exists(arn[len(prefix) :])


def put_webhook(rt: Runtime, call: AwsCall) -> Output:
    with rt.db.unit_of_work() as uow:
        item = webhooks(rt, uow.session).put(call.params["webhook"], call.params.get("tags") or [])
    return {"webhook": item}


def list_webhooks(rt: Runtime, call: AwsCall) -> Output:
    p = call.params
    with rt.db.unit_of_work(write=False) as uow:
        items, token = webhooks(rt, uow.session).list(p.get("MaxResults"), p.get("NextToken"))
    return {"webhooks": items or None, "NextToken": token}


def delete_webhook(rt: Runtime, call: AwsCall) -> Output:
    with rt.db.unit_of_work() as uow:
        webhooks(rt, uow.session).delete(call.params["name"])
    return {}


def _github_target(rt: Runtime, name: str | None) -> tuple[GitHubRepo, str, str | None, str | None]:
    """The GitHub repository a webhook's target action reads, its URL, secret and hook id."""
    with rt.db.unit_of_work(write=False) as uow:
        service = webhooks(rt, uow.session)
        row = service.get(name)
        target = service.target_of(row.pipeline_name, row.action_name)
        if target.provider != "GitHub":
            raise ValidationException(
                f"Webhook {row.name} targets a {target.provider} action; only GitHub (version "
                "1) source actions can be registered with a third party."
            )
        repo = GitHubRepo.of_action(rt.settings.github_api_url, target.configuration)
        return repo, service.url(row), service.secret_of(row), row.hook_id


def register_webhook_with_third_party(rt: Runtime, call: AwsCall) -> Output:
    name = call.params.get("webhookName")
    repo, url, secret, old_hook = _github_target(rt, name)
    if old_hook is not None:
        return {}  # registered already: GitHub would get a second, duplicate hook
    hook_id = repo.create_hook(url, secret)
    with rt.db.unit_of_work() as uow:
        webhooks(rt, uow.session).get(name).hook_id = hook_id
    return {}


def deregister_webhook_with_third_party(rt: Runtime, call: AwsCall) -> Output:
    name = call.params.get("webhookName")
    repo, _url, _secret, hook_id = _github_target(rt, name)
    if hook_id is not None:
        repo.delete_hook(hook_id)
    with rt.db.unit_of_work() as uow:
        webhooks(rt, uow.session).get(name).hook_id = None
    return {}


def put_action_revision(rt: Runtime, call: AwsCall) -> Output:
    p = call.params
    with rt.db.unit_of_work() as uow:
        new, execution_id = put_revision(
            uow,
            starter(rt),
            p["pipelineName"],
            p["stageName"],
            p["actionName"],
            p["actionRevision"]["revisionId"],
            call.principal.arn,
        )
    return {"newRevision": new, "pipelineExecutionId": execution_id}


WEBHOOK_HANDLERS: dict[str, Handler] = {
    "PutWebhook": put_webhook,
    "ListWebhooks": list_webhooks,
    "DeleteWebhook": delete_webhook,
    "RegisterWebhookWithThirdParty": register_webhook_with_third_party,
    "DeregisterWebhookWithThirdParty": deregister_webhook_with_third_party,
    "PutActionRevision": put_action_revision,
}
