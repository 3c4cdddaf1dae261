"""The connections APIs: codeconnections (CodeConnections_20231201.*) and codestar-connections
(CodeStar_connections_20191201.*), two AwsServices sharing these handlers.

Thin handlers: open a unit of work, call ConnectionService, shape the answer. Resources keep
the ARN prefix of the API that made them; both APIs accept either. Operations not listed here
(repository links, sync configurations) answer NotImplemented (docs/connections.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stageline.aws.router import AwsCall, AwsService, Handler
from stageline.runtime import Runtime
from stageline.services.connections import ConnectionService
from stageline.services.secret_box import SecretBox

Output = dict[str, Any] | None


def _service(rt: Runtime, uow: Any, call: AwsCall) -> ConnectionService:
    box = SecretBox.from_settings(rt.settings)
    return ConnectionService(uow.session, rt.arns, box, call.service)


def create_host(rt: Runtime, call: AwsCall) -> Output:
    with rt.db.unit_of_work() as uow:
        return _service(rt, uow, call).create_host(call.service, call.params)


def get_host(rt: Runtime, call: AwsCall) -> Output:
    with rt.db.unit_of_work(write=False) as uow:
        service = _service(rt, uow, call)
        return service.host_view(service.find_host(call.params["HostArn"]), with_arn=False)


def list_hosts(rt: Runtime, call: AwsCall) -> Output:
    p = call.params
    with rt.db.unit_of_work(write=False) as uow:
        hosts, token = _service(rt, uow, call).list_hosts(p.get("MaxResults"), p.get("NextToken"))
    return {"Hosts": hosts, "NextToken": token}


def update_host(rt: Runtime, call: AwsCall) -> Output:
    with rt.db.unit_of_work() as uow:
        _service(rt, uow, call).update_host(call.params["HostArn"], call.params)
    return {}


def delete_host(rt: Runtime, call: AwsCall) -> Output:
    with rt.db.unit_of_work() as uow:
        _service(rt, uow, call).delete_host(call.params["HostArn"])
    return {}


def create_connection(rt: Runtime, call: AwsCall) -> Output:
    with rt.db.unit_of_work() as uow:
        return _service(rt, uow, call).create_connection(call.service, call.params)


def get_connection(rt: Runtime, call: AwsCall) -> Output:
    with rt.db.unit_of_work(write=False) as uow:
        service = _service(rt, uow, call)
        row = service.find_connection(call.params["ConnectionArn"])
        return {"Connection": service.connection_view(row)}


def list_connections(rt: Runtime, call: AwsCall) -> Output:
    with rt.db.unit_of_work(write=False) as uow:
        found, token = _service(rt, uow, call).list_connections(call.params)
    return {"Connections": found, "NextToken": token}


def delete_connection(rt: Runtime, call: AwsCall) -> Output:
    with rt.db.unit_of_work() as uow:
        _service(rt, uow, call).delete_connection(call.params["ConnectionArn"])
    return {}


def tag_resource(rt: Runtime, call: AwsCall) -> Output:
    with rt.db.unit_of_work() as uow:
        _service(rt, uow, call).tag_resource(call.params["ResourceArn"], call.params["Tags"])
    return {}


def untag_resource(rt: Runtime, call: AwsCall) -> Output:
    with rt.db.unit_of_work() as uow:
        _service(rt, uow, call).untag_resource(call.params["ResourceArn"], call.params["TagKeys"])
    return {}


def list_tags_for_resource(rt: Runtime, call: AwsCall) -> Output:
    with rt.db.unit_of_work(write=False) as uow:
        return {"Tags": _service(rt, uow, call).list_tags(call.params["ResourceArn"])}


HANDLERS: dict[str, Callable[[Runtime, AwsCall], Output]] = {
    "CreateHost": create_host,
    "GetHost": get_host,
    "ListHosts": list_hosts,
    "UpdateHost": update_host,
    "DeleteHost": delete_host,
    "CreateConnection": create_connection,
    "GetConnection": get_connection,
    "ListConnections": list_connections,
    "DeleteConnection": delete_connection,
    "TagResource": tag_resource,
    "UntagResource": untag_resource,
    "ListTagsForResource": list_tags_for_resource,
}
_HANDLERS: dict[str, Handler] = dict(HANDLERS)

CODECONNECTIONS = AwsService("codeconnections", _HANDLERS)
CODESTAR_CONNECTIONS = AwsService("codestar-connections", _HANDLERS)
SERVICES = [CODECONNECTIONS, CODESTAR_CONNECTIONS]
