"""CodePipeline operations: thin handlers that open a unit of work and call a service."""

from __future__ import annotations

from typing import Any

from stageline.aws.codepipeline_runs import HANDLERS as RUN_HANDLERS
from stageline.aws.router import AwsCall, AwsService, Handler
from stageline.domain.errors import ResourceNotFoundException
from stageline.runtime import Runtime
from stageline.services.action_types import ActionTypeService
from stageline.services.creation import create_and_start
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


def _tagged_pipeline(rt: Runtime, service: PipelineService, arn: str, *, lock: bool = False) -> str:
    name = rt.arns.parse_pipeline_name(arn)
    if name is None or not service.exists(name, lock=lock):
        raise ResourceNotFoundException(f"The resource with the ARN {arn} was not found.")
    return arn


def tag_resource(rt: Runtime, call: AwsCall) -> Output:
    with rt.db.unit_of_work() as uow:
        arn = _tagged_pipeline(
            rt, PipelineService(uow.session, rt.arns), call.params["resourceArn"], lock=True
        )
        TagService(uow.session).tag(arn, call.params["tags"])
    return {}


def untag_resource(rt: Runtime, call: AwsCall) -> Output:
    with rt.db.unit_of_work() as uow:
        arn = _tagged_pipeline(
            rt, PipelineService(uow.session, rt.arns), call.params["resourceArn"], lock=True
        )
        TagService(uow.session).untag(arn, call.params["tagKeys"])
    return {}


def list_tags_for_resource(rt: Runtime, call: AwsCall) -> Output:
    with rt.db.unit_of_work(write=False) as uow:
        arn = _tagged_pipeline(
            rt, PipelineService(uow.session, rt.arns), call.params["resourceArn"]
        )
        tags, token = TagService(uow.session).list(
            arn, call.params.get("maxResults"), call.params.get("nextToken")
        )
    return {"tags": tags, "nextToken": token}


def list_action_types(rt: Runtime, call: AwsCall) -> Output:
    types, token = ActionTypeService().list(
        call.params.get("actionOwnerFilter"), call.params.get("nextToken")
    )
    return {"actionTypes": types, "nextToken": token}


def get_action_type(rt: Runtime, call: AwsCall) -> Output:
    p = call.params
    declaration = ActionTypeService().get(p["category"], p["owner"], p["provider"], p["version"])
    return {"actionType": declaration}


HANDLERS: dict[str, Handler] = {
    **RUN_HANDLERS,
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
}

SERVICE = AwsService(name="codepipeline", handlers=HANDLERS)
