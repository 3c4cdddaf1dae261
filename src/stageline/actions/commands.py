"""Compute / AWS / Commands / 1: run the declaration's shell commands on the worker.

Follows "Commands action reference": the first input artifact is the primary source and the
working directory (CODEBUILD_SRC_DIR), the others are CODEBUILD_SRC_DIR_<name>; the commands
run in one shell session, so exports carry from one command to the next; outputVariables are
read from that session once every command has succeeded; the output artifact is the files of
the primary directory matching its `files` globs.

The commands are untrusted code on a worker: they get a minimal environment (never the
worker's own, which holds database URLs and keys) and run in their own process group so a
timeout or cancellation kills everything they started.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import re
import selectors
import shlex
import signal
import subprocess
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from stageline.actions.base import ActionContext, Failed, Outcome, Succeeded
from stageline.actions.workspace import ActionError, download_inputs, scratch, upload_output

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SHELL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
TAIL_LINES = 20
MAX_LINE = 64 * 1024
# Starts each "Running command" line: the log reader begins a new line there, so the line
# stands alone even after output that did not end with a newline.
LINE_START = "\x1e"  # \036 in the script


@dataclass(frozen=True)
class ShellResult:
    returncode: int
    stopped: str | None  # "timeout" | "cancelled" when Stageline ended it
    tail: Sequence[str]  # the last lines of the log


class CommandsProvider:
    def __init__(
        self,
        kill_grace_seconds: float = 10.0,
        poll_seconds: float = 0.2,
        cancel_check_seconds: float = 1.0,  # cancelled() may ask the database: not too often
    ) -> None:
        self.kill_grace_seconds = kill_grace_seconds
        self.poll_seconds = poll_seconds
        self.cancel_check_seconds = cancel_check_seconds

    def run(self, ctx: ActionContext) -> Outcome:
        deadline = time.monotonic() + ctx.timeout_seconds
        try:
            if not ctx.commands:
                raise ActionError("The Commands action has no commands", "ConfigurationError")
            if not ctx.inputs:
                raise ActionError("The Commands action needs at least one input artifact")
            if compute := ctx.configuration.get("ComputeType"):
                ctx.log.write(
                    f"[Stageline] ComputeType {compute} is ignored: commands run on the worker\n"
                )
            dirs = download_inputs(ctx)
            primary = next(iter(dirs.values()))
            script = _write_script(ctx, scratch(ctx))
            result = _Shell(ctx, self).run(script, primary, command_env(ctx, dirs), deadline)
            if failure := _failure(ctx, result):
                return failure
            variables = _read_variables(ctx)
            for output in ctx.outputs:
                upload_output(ctx, output, primary)
            return Succeeded(summary="Commands succeeded", output_variables=variables)
        except ActionError as exc:
            return exc.outcome()


def command_env(ctx: ActionContext, dirs: Mapping[str, Path]) -> dict[str, str]:
    """The commands' whole environment: a few basics, the action's variables, CodeBuild's."""
    paths = list(dirs.values())
    env = {
        "PATH": os.environ.get("PATH", DEFAULT_PATH),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "HOME": str(ctx.workspace),
        "TMPDIR": str(scratch(ctx) / "tmp"),
        **ctx.environment,
        # CodeBuild reserves the CODEBUILD_ prefix: the action cannot override these.
        "CODEBUILD_CI": "true",
        "CODEBUILD_BUILD_ID": f"{ctx.pipeline_name}:{ctx.action_execution_id}",
        "CODEBUILD_INITIATOR": f"codepipeline/{ctx.pipeline_name}",
        "CODEBUILD_SRC_DIR": str(paths[0]),
    }
    for name, path in list(dirs.items())[1:]:
        env[f"CODEBUILD_SRC_DIR_{name}"] = str(path)
    Path(env["TMPDIR"]).mkdir(parents=True, exist_ok=True)
    return env


def _write_script(ctx: ActionContext, work: Path) -> Path:
    """One bash script: each command announced as CodeBuild does, then run; an EXIT trap
    records which command ended the script and, after success, the output variables."""
    names = " ".join(n for n in ctx.output_variable_names if SHELL_NAME.match(n))
    status, variables = shlex.quote(str(work / "status")), shlex.quote(str(work / "variables"))
    lines = [
        "__sl_step=0",
        "__sl_exit() {",
        "  __sl_rc=$?",
        f'  if [ "$__sl_rc" -eq 0 ]; then for __sl_n in {names}; do',
        '    if [ -n "${!__sl_n+x}" ]; then printf \'%s=%s\\0\' "$__sl_n" "${!__sl_n}"; fi',
        f"  done > {variables}; fi",
        f'  printf \'%s %s\\n\' "$__sl_step" "$__sl_rc" > {status}',
        "}",
        "trap __sl_exit EXIT",
    ]
    for step, command in enumerate(ctx.commands, start=1):
        announce = f"Running command {command}"
        lines.append(f"__sl_step={step}")
        lines.append(
            f"printf '\\036[Container] %(%Y/%m/%d %H:%M:%S)T %s\\n' -1 {shlex.quote(announce)}"
        )
        lines.append(command)
    script = work / "commands.sh"
    script.write_text("\n".join(lines) + "\n")
    return script


def _failure(ctx: ActionContext, result: ShellResult) -> Failed | None:
    tail = "\n".join(result.tail)
    if result.stopped == "timeout":
        message = f"The commands timed out after {ctx.timeout_seconds:g} seconds"
    elif result.stopped == "cancelled":
        message = "The commands were stopped: this action execution was cancelled"
    elif result.returncode == 0:
        return None
    else:
        reason = (
            f"exit status {result.returncode}"
            if result.returncode > 0
            else f"killed by signal {-result.returncode}"
        )
        message = f"Error while executing command: {_failed_command(ctx)}. Reason: {reason}"
    return Failed(message=f"{message}\nLast lines of the log:\n{tail}"[:4000])


def _failed_command(ctx: ActionContext) -> str:
    try:
        step = int((scratch(ctx) / "status").read_text().split()[0])
        return ctx.commands[step - 1]
    except (OSError, ValueError, IndexError):
        return "(unknown)"


def _read_variables(ctx: ActionContext) -> dict[str, str]:
    try:
        raw = (scratch(ctx) / "variables").read_bytes().decode("utf-8", errors="replace")
    except OSError:
        raw = ""
    found = dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)
    variables = {n: found[n] for n in ctx.output_variable_names if n in found}
    if missing := [n for n in ctx.output_variable_names if n not in found]:
        ctx.log.write(
            f"[Stageline] Output variables not set by the commands: {', '.join(missing)}\n"
        )
    return variables


class _Shell:
    """One bash process group: output streamed line by line, stopped on timeout or cancel."""

    def __init__(self, ctx: ActionContext, settings: CommandsProvider) -> None:
        self.ctx = ctx
        self.grace = settings.kill_grace_seconds
        self.poll = settings.poll_seconds
        self.cancel_check = settings.cancel_check_seconds
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.pending = ""
        self.eof = False

    def run(self, script: Path, cwd: Path, env: Mapping[str, str], deadline: float) -> ShellResult:
        try:
            self.proc = subprocess.Popen(
                ["bash", "-e", str(script)],
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, killed as a whole
            )
        except OSError as exc:
            raise ActionError(f"Cannot start bash to run the commands: {exc}") from None
        assert self.proc.stdout is not None
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.proc.stdout, selectors.EVENT_READ)
        try:
            stopped = self._watch(deadline)
            returncode = self._finish()
        finally:
            if self.proc.returncode is None:  # an error on our side: leave nothing running
                self._signal_group(signal.SIGKILL)
                self.proc.wait()
            self.selector.close()
            self.proc.stdout.close()
        return ShellResult(returncode, stopped, tuple(self.tail))

    def _watch(self, deadline: float) -> str | None:
        next_check = 0.0
        while True:
            self._pump(self.poll)
            if self._leader_exited():
                return None
            now = time.monotonic()
            if now >= deadline:
                return "timeout"
            if now >= next_check:
                if self.ctx.cancelled():
                    return "cancelled"
                next_check = now + self.cancel_check

    def _finish(self) -> int:
        """Stop what is left of the group: SIGTERM, a grace period, then SIGKILL. The shell is
        reaped last, so its pid (the group id) cannot be reused while we signal the group."""
        self._signal_group(signal.SIGTERM)
        end = time.monotonic() + self.grace
        while not (self.eof and self._leader_exited()) and time.monotonic() < end:
            self._pump(min(self.poll, 0.05))
        self._signal_group(signal.SIGKILL)
        returncode = self.proc.wait()
        end = time.monotonic() + 1.0  # a process that left the group may hold the pipe
        while not self.eof and time.monotonic() < end:
            self._pump(0.05)
        self._emit(self.pending + self.decoder.decode(b"", final=True), final=True)
        return returncode

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)

    def _leader_exited(self) -> bool:
        # WNOWAIT: note the exit without reaping, keeping the group id reserved.
        flags = os.WEXITED | os.WNOHANG | os.WNOWAIT
        try:
            return os.waitid(os.P_PID, self.proc.pid, flags) is not None
        except ChildProcessError:  # reaped by someone else
            return True

    def _pump(self, timeout: float) -> None:
        if self.eof:
            # Output is closed, so the shell is exiting: check back soon, not a full poll later.
            time.sleep(min(timeout, 0.002))
            return
        if not self.selector.select(timeout):
            return
        assert self.proc.stdout is not None
        data = os.read(self.proc.stdout.fileno(), 65536)
        if not data:
            self.eof = True
            self.selector.unregister(self.proc.stdout)
            return
        self._emit(self.pending + self.decoder.decode(data))

    def _emit(self, text: str, final: bool = False) -> None:
        """text starts at a line start: the pending partial line and what was just read."""
        text = text.replace("\n" + LINE_START, "\n").removeprefix(LINE_START)
        *lines, self.pending = text.replace(LINE_START, "\n").split("\n")
        if len(self.pending) > MAX_LINE or (final and self.pending):
            lines.append(self.pending)
            self.pending = ""
        for raw in lines:
            line = raw.removesuffix("\r")
            self.tail.append(line)
            self.ctx.log.write(line + "\n")
