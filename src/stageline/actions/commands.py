"""Compute / AWS / Commands / 1: the declaration's shell commands, run by the build engine.

Follows "Commands action reference": the first input artifact is the primary source and the
working directory (CODEBUILD_SRC_DIR), the others are CODEBUILD_SRC_DIR_<name>; the commands
run in one shell session, so exports and `cd` carry from one command to the next; the first
failing command fails the action; outputVariables are read from that session once every
command has succeeded; the output artifact is the files of the primary directory matching its
`files` globs.

On AWS the action runs on CodeBuild compute; here it runs as a build of Stageline's own engine
(`stageline.builds.engine.run_phases`): a buildspec of one BUILD phase holding the commands
(version 0.2, bash, the output variables as exported variables), in a build directory of its
own under the build root, outside the data directory. So the commands are isolated as builds
are: the build user when the worker is root, a clean environment, one process group killed on
timeout or cancellation, CodeBuild's log lines.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

from stageline.actions.base import ActionContext, Failed, Outcome, Succeeded
from stageline.actions.workspace import ActionError, download_inputs, upload_output
from stageline.builds import sandbox
from stageline.builds.engine import SHELL_NAME, run_phases
from stageline.builds.model import BuildOutcome, BuildRequest, BuildSpec, Phase

# Settings.build_dir's default (STAGELINE_BUILD_DIR).
DEFAULT_BUILD_DIR = Path(tempfile.gettempdir()) / "stageline-builds"
MAX_MESSAGE = 4000


class CommandsProvider:
    def __init__(self, build_dir: Path = DEFAULT_BUILD_DIR) -> None:
        self.build_dir = build_dir

    def run(self, ctx: ActionContext) -> Outcome:
        deadline = time.monotonic() + ctx.timeout_seconds
        try:
            _check(ctx)
            with self._build_directory(ctx) as workspace:
                dirs = download_inputs(ctx, workspace)
                primary = next(iter(dirs.values()))
                outcome = run_phases(_request(ctx, workspace, dirs, deadline))
                if outcome.status != "SUCCEEDED":
                    return _failure(ctx, outcome)
                variables = _output_variables(ctx, outcome)
                for output in ctx.outputs:
                    upload_output(ctx, output, primary)
            return Succeeded(summary="Commands succeeded", output_variables=variables)
        except ActionError as exc:
            return exc.outcome()

    @contextlib.contextmanager
    def _build_directory(self, ctx: ActionContext) -> Iterator[Path]:
        """This attempt's own directory (0700, the build user's), removed afterwards. Not
        ctx.workspace: that lives in the data directory, which the build user cannot reach."""
        attempt = f"commands-{ctx.action_execution_id}-{uuid.uuid4().hex[:12]}"
        try:
            root = sandbox.create_workspace_root(self.build_dir)
            path = sandbox.create_build_directory(root, attempt)
        except (sandbox.SandboxError, OSError) as exc:
            raise ActionError(
                f"Cannot create a build directory in {self.build_dir}: {exc}"
            ) from None
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)


def _check(ctx: ActionContext) -> None:
    if not ctx.commands:
        raise ActionError("The Commands action has no commands", "ConfigurationError")
    if not ctx.inputs:
        raise ActionError("The Commands action needs at least one input artifact")
    if compute := ctx.configuration.get("ComputeType"):
        ctx.log.write(f"[Stageline] ComputeType {compute} is ignored: commands run on the worker\n")


def _request(
    ctx: ActionContext, workspace: Path, dirs: Mapping[str, Path], deadline: float
) -> BuildRequest:
    spec = BuildSpec(
        version="0.2",
        shell="bash",
        exported_variables=tuple(ctx.output_variable_names),
        # ABORT: the failed command's lines end the log, and so the failure message.
        phases=(Phase("build", "BUILD", commands=tuple(ctx.commands), on_failure="ABORT"),),
    )
    build_id = f"{ctx.pipeline_name}:{ctx.action_execution_id}"
    return BuildRequest(
        build_id=build_id,
        spec=spec,
        workspace=workspace,
        src_dir=next(iter(dirs.values())),
        environment=_environment(ctx, build_id, dirs),
        secrets=(),  # PARAMETER_STORE and SECRETS_MANAGER variables are refused before
        timeout_seconds=max(0.0, deadline - time.monotonic()),
        cancelled=ctx.cancelled,
        log=ctx.log,
        on_phase=lambda record: None,
    )


def _environment(ctx: ActionContext, build_id: str, dirs: Mapping[str, Path]) -> dict[str, str]:
    """The action's variables and CodeBuild's. The engine adds PATH, LANG, HOME and TMPDIR
    (inside the build directory) and CODEBUILD_BUILD_SUCCEEDING; nothing of the worker's."""
    paths = list(dirs.values())
    env = {
        **ctx.environment,
        # CodeBuild reserves the CODEBUILD_ prefix: the action cannot override these.
        "CODEBUILD_CI": "true",
        "CODEBUILD_BUILD_ID": build_id,
        "CODEBUILD_INITIATOR": f"codepipeline/{ctx.pipeline_name}",
        "CODEBUILD_SRC_DIR": str(paths[0]),
    }
    for name, path in list(dirs.items())[1:]:
        env[f"CODEBUILD_SRC_DIR_{name}"] = str(path)
    return env


def _failure(ctx: ActionContext, outcome: BuildOutcome) -> Failed:
    if outcome.status == "TIMED_OUT":
        message = f"The commands timed out after {ctx.timeout_seconds:g} seconds"
    elif outcome.status == "STOPPED":
        message = "The commands were stopped: this action execution was cancelled"
    else:  # FAILED: the failed command and why; FAULT: why the commands could not run
        message = outcome.message or "The commands failed"
    tail = "\n".join(outcome.log_tail)
    return Failed(message=f"{message}\nLast lines of the log:\n{tail}"[:MAX_MESSAGE])


def _output_variables(ctx: ActionContext, outcome: BuildOutcome) -> dict[str, str]:
    found = dict(outcome.exported_variables)
    # The engine skips (and logs) names that cannot be exported: AWS_*, not shell names.
    unset = [
        name
        for name in ctx.output_variable_names
        if name not in found and SHELL_NAME.match(name) and not name.startswith("AWS_")
    ]
    if unset:
        ctx.log.write(f"[Stageline] Output variables not set by the commands: {', '.join(unset)}\n")
    return found
