"""CreatePipeline as AWS does it: store the definition, then start its first run, in one
transaction (so a rejected definition starts nothing)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stageline.domain.arns import Arns
from stageline.identity import Principal
from stageline.persistence.db import UnitOfWork
from stageline.services.executions import ExecutionService
from stageline.services.orchestrator import ExecutionSettings, Orchestrator
from stageline.services.pipelines import PipelineService
from stageline.services.ports import Dispatcher


def create_and_start(
    uow: UnitOfWork,
    arns: Arns,
    dispatcher: Dispatcher,
    settings: ExecutionSettings,
    declaration: dict[str, Any],
    tags: Sequence[dict[str, Any]],
    principal: Principal,
) -> dict[str, Any]:
    pipeline = PipelineService(uow.session, arns).create(declaration, tags)
    runs = ExecutionService(Orchestrator(uow, dispatcher, settings))
    runs.start(pipeline["name"], trigger="CreatePipeline", trigger_detail=principal.arn)
    return pipeline
