"""The wire contract, read from botocore's service models rather than copied by hand."""

from __future__ import annotations

from functools import cache

import botocore.session
from botocore.model import OperationModel, ServiceModel


@cache
def service_model(service: str) -> ServiceModel:
    """botocore's model of a service, e.g. 'codepipeline'. Loaded once per process."""
    return botocore.session.get_session().get_service_model(service)


@cache
def operation_model(service: str, operation: str) -> OperationModel | None:
    model = service_model(service)
    if operation not in model.operation_names:
        return None
    return model.operation_model(operation)


def target_prefix(service: str) -> str:
    """The X-Amz-Target prefix of a JSON-protocol service, e.g. CodePipeline_20150709."""
    prefix = service_model(service).metadata.get("targetPrefix")
    assert isinstance(prefix, str)
    return prefix
