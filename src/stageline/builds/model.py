"""What a build is made of, as the runner sees it: the parsed buildspec and the engine's
request and answer. Shared by the parser, the engine, the services and the tests."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol

# The phases a buildspec declares, in the order they run (AWS's phase type names).
BUILDSPEC_PHASES: tuple[tuple[str, str], ...] = (
    ("install", "INSTALL"),
    ("pre_build", "PRE_BUILD"),
    ("build", "BUILD"),
    ("post_build", "POST_BUILD"),
)

PhaseStatus = Literal["SUCCEEDED", "FAILED", "FAULT", "TIMED_OUT", "IN_PROGRESS", "STOPPED"]
BuildStatus = Literal["SUCCEEDED", "FAILED", "FAULT", "TIMED_OUT", "STOPPED"]


class BuildspecError(ValueError):
    """The buildspec cannot be run: YAML errors, unknown version, wrong types. The message
    names the key (and line when YAML knows it), as CodeBuild's YAML_FILE_ERROR does."""


class LogSink(Protocol):
    def write(self, text: str) -> None: ...


@dataclass(frozen=True)
class Phase:
    name: str  # buildspec key: install, pre_build, build, post_build
    phase_type: str  # AWS name: INSTALL, PRE_BUILD, BUILD, POST_BUILD
    commands: tuple[str, ...] = ()
    finally_commands: tuple[str, ...] = ()
    on_failure: str = "ABORT"  # ABORT | CONTINUE (RETRY forms if supported)
    run_as: str | None = None
    runtime_versions: Mapping[str, str] = field(default_factory=dict)  # install only


@dataclass(frozen=True)
class ArtifactSpec:
    files: tuple[str, ...]
    base_directory: str | None = None
    discard_paths: bool = False
    exclude_paths: tuple[str, ...] = ()
    name: str | None = None
    enable_symlinks: bool = False
    s3_prefix: str | None = None


@dataclass(frozen=True)
class ReportSpec:
    group: str  # report group name (or ARN) as written in the buildspec
    files: tuple[str, ...]
    base_directory: str | None = None
    discard_paths: bool = False
    file_format: str = "JUNITXML"


@dataclass(frozen=True)
class BuildSpec:
    version: str
    shell: str | None = None  # env.shell; None: the default shell
    variables: Mapping[str, str] = field(default_factory=dict)
    parameter_store: Mapping[str, str] = field(default_factory=dict)  # NAME -> parameter name
    secrets_manager: Mapping[str, str] = field(default_factory=dict)  # NAME -> reference
    exported_variables: tuple[str, ...] = ()
    git_credential_helper: bool = False
    run_as: str | None = None
    phases: tuple[Phase, ...] = ()  # in run order; phases the buildspec omits are absent
    artifacts: ArtifactSpec | None = None
    secondary_artifacts: Mapping[str, ArtifactSpec] = field(default_factory=dict)
    cache_paths: tuple[str, ...] = ()
    reports: tuple[ReportSpec, ...] = ()
    # What the parser accepted but Stageline ignores (proxy, unknown keys): logged by the engine.
    notes: tuple[str, ...] = ()


@dataclass
class PhaseRecord:
    phase_type: str  # INSTALL, PRE_BUILD, BUILD, POST_BUILD
    start: datetime
    end: datetime | None = None
    status: PhaseStatus | None = None  # None while it runs
    message: str | None = None  # phaseContexts message on failure


@dataclass(frozen=True)
class BuildRequest:
    build_id: str
    spec: BuildSpec
    workspace: Path  # this build's own directory; the engine may create files under it
    src_dir: Path  # primary source, already in place; the commands start here
    environment: Mapping[str, str]  # CODEBUILD_*, project and override variables, secrets
    secrets: Sequence[str]  # values to mask in the log
    timeout_seconds: float
    cancelled: Callable[[], bool]  # StopBuild, action abandoned, lease lost
    log: LogSink
    on_phase: Callable[[PhaseRecord], None]  # called when a phase starts and when it ends
    image: str | None = None  # run in this image when a container engine is reachable


@dataclass(frozen=True)
class BuildOutcome:
    status: BuildStatus
    phases: tuple[PhaseRecord, ...]
    failed_phase: str | None = None  # the first phase that failed
    message: str | None = None  # why, for errorDetails and phaseContexts
    exported_variables: Mapping[str, str] = field(default_factory=dict)
    log_tail: tuple[str, ...] = ()  # the last lines of the log (masked)
