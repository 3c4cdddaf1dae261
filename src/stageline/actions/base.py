"""The action provider interface: what every provider gets and what it may answer.

A provider runs one attempt of one action in a worker. It answers Succeeded, Failed, or
InProgress with a continuation (long-running work: the orchestrator calls it again later with
that continuation, holding no worker in between). Manual approvals are not providers: they
wait on people, so the orchestrator keeps them in the database alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from stageline.artifacts.base import ObjectRef, ObjectStore
from stageline.domain.action_types import ActionTypeId


class LogSink(Protocol):
    def write(self, text: str) -> None: ...


@dataclass(frozen=True)
class InputArtifact:
    name: str
    location: ObjectRef


@dataclass(frozen=True)
class OutputArtifact:
    name: str
    location: ObjectRef  # where the provider must upload this artifact's zip
    files: tuple[str, ...] = ()  # Commands: globs of files to put in it


@dataclass
class ActionContext:
    pipeline_name: str
    pipeline_execution_id: str
    stage_name: str
    action_name: str
    action_execution_id: str
    type_id: ActionTypeId
    configuration: Mapping[str, str]  # variables already resolved
    inputs: Sequence[InputArtifact]
    outputs: Sequence[OutputArtifact]
    store: ObjectStore
    workspace: Path  # a fresh, empty directory owned by this attempt
    log: LogSink
    timeout_seconds: float
    # True once this attempt must stop: abandoned, lease lost to another worker, or timed out.
    cancelled: Callable[[], bool]
    commands: Sequence[str] = ()
    output_variable_names: Sequence[str] = ()
    namespace: str | None = None
    continuation: Mapping[str, Any] | None = None
    # Resolved plain-text environment variables of the declaration (Commands action).
    environment: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SourceRevision:
    revision_id: str
    change_id: str | None = None
    created: datetime | None = None
    summary: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class Succeeded:
    summary: str | None = None
    output_variables: Mapping[str, str] = field(default_factory=dict)
    external_execution_id: str | None = None
    external_execution_url: str | None = None
    revision: SourceRevision | None = None  # source actions


@dataclass(frozen=True)
class Failed:
    message: str
    code: str = "JobFailed"  # AWS FailureType
    summary: str | None = None
    external_execution_id: str | None = None


@dataclass(frozen=True)
class InProgress:
    continuation: Mapping[str, Any]
    summary: str | None = None
    check_after_seconds: float = 5.0


@dataclass(frozen=True)
class AwaitingJob:
    """The attempt now waits on its job (a Lambda function was handed it): no worker holds
    it until the function reports back through PutJobSuccessResult or PutJobFailureResult."""

    summary: str | None = None


Outcome = Succeeded | Failed | InProgress | AwaitingJob


class ActionProvider(Protocol):
    def run(self, ctx: ActionContext) -> Outcome: ...
