"""CodePipeline operations: thin handlers that open a unit of work and call a service."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from stageline.aws.codepipeline_jobs import HANDLERS as JOB_HANDLERS
from stageline.aws.codepipeline_runs import HANDLERS as RUN_HANDLERS
from stageline.aws.codepipeline_webhooks import WEBHOOK_HANDLERS, tagged_webhook
from stageline.aws.router import AwsCall, AwsService, Handler
from stageline.domain.errors import ResourceNotFoundException
from stageline.runtime import Runtime
from stageline.services.action_types import ActionTypeService
from stageline.services.creation import create_and_start
from stageline.services.custom_action_types import CustomActionTypes
from stageline.services.pipelines import PipelineService
from stageline.services.tags import TagService

Output = dict[str, Any] | None


def create_pipeline(rt: Runtime, call: AwsCall) -> Output:
    tags = call.params.get("tags") or []
    with rt.db.unit_of_work() as uow:
        pipeline = create_and_start(
            uow,
            rt.arns,
            rt.dispatcher,
            rt.executions,
            call.params["pipeline"],
            tags,
            call.principal,
        )
    return {"pipeline": pipeline, "tags": tags or None}


def get_pipeline(rt: Runtime, call: AwsCall) -> Output:
    with rt.db.unit_of_work(write=False) as uow:
        service = PipelineService(uow.session, rt.arns)
        pipeline, metadata = service.get(call.params["name"], call.params.get("version"))
    return {"pipeline": pipeline, "metadata": metadata}


def update_pipeline(rt: Runtime, call: AwsCall) -> Output:
    with rt.db.unit_of_work() as uow:
        pipeline = PipelineService(uow.session, rt.arns).update(call.params["pipeline"])
    return {"pipeline": pipeline}


def delete_pipeline(rt: Runtime, call: AwsCall) -> Output:
    with rt.db.unit_of_work() as uow:
        PipelineService(uow.session, rt.arns).delete(call.params["name"])
    return None


def list_pipelines(rt: Runtime, call: AwsCall) -> Output:
    with rt.db.unit_of_work(write=False) as uow:
        summaries, token = PipelineService(uow.session, rt.arns).list(
            call.params.get("maxResults"), call.params.get("nextToken")
        )
    return {"pipelines": summaries, "nextToken": token}


def _tagged_resource(rt: Runtime, session: Session, arn: str, *, lock: bool = False) -> str:
    """A pipeline's, a webhook's or a live custom action type's ARN; lock holds the resource's
    row (pipelines and action types)."""
    type_id = rt.arns.parse_action_type(arn)
    webhook = tagged_webhook(rt, session, arn)
    if webhook is not None:
        found = webhook
    elif type_id is not None:
        found = CustomActionTypes(session, rt.arns).exists(type_id, lock=lock)
    else:
        name = rt.arns.parse_pipeline_name(arn)
        found = name is not None and PipelineService(session, rt.arns).exists(name, lock=lock)
    if not found:
        raise ResourceNotFoundException(f"The resource with the ARN {arn} was not found.")
    return arn


def tag_resource(rt: Runtime, call: AwsCall) -> Output:
    with rt.db.unit_of_work() as uow:
        arn = _tagged_resource(rt, uow.session, call.params["resourceArn"], lock=True)
        TagService(uow.session).tag(arn, call.params["tags"])
    return {}


def untag_resource(rt: Runtime, call: AwsCall) -> Output:
    with rt.db.unit_of_work() as uow:
        arn = _tagged_resource(rt, uow.session, call.params["resourceArn"], lock=True)
        TagService(uow.session).untag(arn, call.params["tagKeys"])
    return {}


def list_tags_for_resource(rt: Runtime, call: AwsCall) -> Output:
    with rt.db.unit_of_work(write=False) as uow:
        arn = _tagged_resource(rt, uow.session, call.params["resourceArn"])
        tags, token = TagService(uow.session).list(
            arn, call.params.get("maxResults"), call.params.get("nextToken")
        )
    return {"tags": tags, "nextToken": token}


def create_custom_action_type(rt: Runtime, call: AwsCall) -> Output:
    with rt.db.unit_of_work() as uow:
        action_type, tags = CustomActionTypes(uow.session, rt.arns).create(call.params)
    return {"actionType": action_type, "tags": tags or None}


def delete_custom_action_type(rt: Runtime, call: AwsCall) -> Output:
    p = call.params
    with rt.db.unit_of_work() as uow:
        CustomActionTypes(uow.session, rt.arns).delete(p["category"], p["provider"], p["version"])
    return None


def list_action_types(rt: Runtime, call: AwsCall) -> Output:
    p = call.params
    with rt.db.unit_of_work(write=False) as uow:
        types, token = ActionTypeService(uow.session, rt.arns).list(
            p.get("actionOwnerFilter"), p.get("nextToken"), p.get("regionFilter")
        )
    return {"actionTypes": types, "nextToken": token}


def get_action_type(rt: Runtime, call: AwsCall) -> Output:
    p = call.params
    with rt.db.unit_of_work(write=False) as uow:
        declaration = ActionTypeService(uow.session, rt.arns).get(
            p["category"], p["owner"], p["provider"], p["version"]
        )
    return {"actionType": declaration}


def update_action_type(rt: Runtime, call: AwsCall) -> Output:
    with rt.db.unit_of_work() as uow:
        ActionTypeService(uow.session, rt.arns).update(call.params["actionType"])
    return None


HANDLERS: dict[str, Handler] = {
    **RUN_HANDLERS,
    **JOB_HANDLERS,
    **WEBHOOK_HANDLERS,
    "CreatePipeline": create_pipeline,
    "GetPipeline": get_pipeline,
    "UpdatePipeline": update_pipeline,
    "DeletePipeline": delete_pipeline,
    "ListPipelines": list_pipelines,
    "TagResource": tag_resource,
    "UntagResource": untag_resource,
    "ListTagsForResource": list_tags_for_resource,
    "ListActionTypes": list_action_types,
    "GetActionType": get_action_type,
    "CreateCustomActionType": create_custom_action_type,
    "DeleteCustomActionType": delete_custom_action_type,
    "UpdateActionType": update_action_type,
}

SERVICE = AwsService(name="codepipeline", handlers=HANDLERS)
