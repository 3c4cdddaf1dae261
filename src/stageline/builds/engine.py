"""Runs a buildspec's phases the way CodeBuild does.

- Phases run in order INSTALL, PRE_BUILD, BUILD, POST_BUILD ("Build phase transitions"): a
  failed INSTALL or PRE_BUILD ends the build, a failed BUILD still runs POST_BUILD. The parser
  writes these defaults as on-failure ABORT / CONTINUE; an explicit on-failure overrides them
  (ABORT: end the build, CONTINUE: go on to the next phase, RETRY forms: run the phase again).
- A failing command skips the rest of its `commands` block; `finally` runs either way
  ("The commands in a finally block are executed even if a command in the commands block
  fails"); the phase fails if any command of either block fails.
- CODEBUILD_BUILD_SUCCEEDING is 1 until a command fails, then 0.
- Version 0.2 runs all commands "in the same instance of the default shell": each command is
  its own shell process, which restores the variables (exported or not) and the directory the
  previous command left (its EXIT trap saves them), so `exit 1` fails just that command.
  CodeBuild works the same way (/codebuild/output/tmp/script.sh per command, the session kept
  in /codebuild/output/tmp/env.sh), so `$!` does not carry. Version 0.1
  runs each command in a fresh shell. The Linux default shell is sh (/bin/sh), `env/shell`
  picks bash.
- Exported variables are read from the session after the last phase that ran ("After the
  post_build phase ends, the value of exported variables cannot change"), failed builds
  included; a timed-out or stopped build exports nothing.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import shutil
import signal
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from stageline.builds import sandbox
from stageline.builds.buildspec import DEFAULT_ON_FAILURE, retry_policy
from stageline.builds.model import (
    BUILDSPEC_PHASES,
    BuildOutcome,
    BuildRequest,
    BuildStatus,
    Phase,
    PhaseRecord,
    PhaseStatus,
)
from stageline.builds.process import BuildLog, Placement, Session

# Bash's own variables, which a session must not try to restore (read-only or per-process).
_BASH_OWN = (
    "BASH*|SHELLOPTS|EUID|UID|PPID|FUNCNAME|GROUPS|DIRSTACK|HIST*|LINENO|RANDOM|SECONDS|"
    "SRANDOM|EPOCH*|PIPESTATUS|COMP*|OPTERR|OPTIND|PS[1-4]|PWD|OLDPWD|SHLVL|_|__sl_*"
)
SAVE_SESSION = (
    '__sl_save() { if [ -n "$BASH_VERSION" ]; then for __sl_n in $(compgen -v); do '
    f'case "$__sl_n" in {_BASH_OWN}) ;; *) declare -p "$__sl_n";; esac; done; '
    "else set; export -p; fi; }"
)
SHELL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DEFAULT_SHELL = "/bin/sh"  # CodeBuild on Linux runs commands with sh unless env/shell says bash
HALTS: dict[str, tuple[BuildStatus, str, str]] = {
    "timeout": ("TIMED_OUT", "BUILD_TIMED_OUT", "Build has timed out. "),
    "cancelled": ("STOPPED", "BUILD_STOPPED", "Build was stopped. "),
}
# Go's names for the signals a command typically dies of (CodeBuild's agent is written in Go).
SIGNAL_NAMES = {
    signal.SIGKILL: "killed",
    signal.SIGTERM: "terminated",
    signal.SIGINT: "interrupt",
    signal.SIGSEGV: "segmentation fault",
    signal.SIGABRT: "aborted",
    signal.SIGPIPE: "broken pipe",
}


def run_phases(request: BuildRequest) -> BuildOutcome:
    """Runs the build's phases in request.src_dir and says how it ended."""
    sandbox.make_undumpable()
    return _Build(request).run()


class _Build:
    session: Session
    env: dict[str, str]  # the first command's environment
    state: Path  # where the shell session is saved between commands

    def __init__(self, request: BuildRequest) -> None:
        self.request = request
        self.spec = request.spec
        self.log = BuildLog(request.log, request.secrets)
        self.deadline = time.monotonic() + request.timeout_seconds
        self.restore = self.spec.version != "0.1"
        self.succeeding = True
        self.halt: str | None = None  # "timeout" | "cancelled" | "fault"
        self.failure: tuple[str, str] | None = None  # the first failed phase, and why
        self.records: list[PhaseRecord] = []

    def run(self) -> BuildOutcome:
        try:
            place, env = self._place()
        except (sandbox.SandboxError, OSError) as exc:
            self.log.container(f"Cannot prepare the build: {exc}")
            return self._outcome({}, fault=str(exc))
        try:
            with Session(place, self.log, self.deadline, self.request.cancelled) as session:
                self.session, self.env = session, env
                self._announce()
                self._run_all_phases()
                exported = self._exported() if self.halt is None else {}
        finally:
            if place.container is not None:  # the container goes with the build
                sandbox.remove_container(place.container)
        return self._outcome(exported)

    def _place(self) -> tuple[Placement, dict[str, str]]:
        """Where the commands run, said first thing in the log; then the workspace."""
        request, image = self.request, self.request.image
        engine = sandbox.container_engine() if image else None
        if image and engine:
            self.log.container(f"Running in image {image} with {Path(engine).name}")
        elif image:
            self.log.container(
                f"Running on the worker host (no container engine reachable); image {image} "
                "not used"
            )
        else:
            self.log.container("Running on the worker host")
        user = sandbox.build_user()
        dirs = sandbox.prepare_workspace(request.workspace, request.src_dir, user)
        self.state = dirs.state / "session.env"
        env = sandbox.build_environment(
            {**self.spec.variables, **request.environment}, dirs, in_container=bool(engine)
        )
        shell = self.spec.shell or DEFAULT_SHELL
        if image and engine:
            container = sandbox.start_container(engine, image, request.build_id, request.workspace)
            return Placement(shell, request.src_dir, None, container), env
        if user is not None:
            self.log.container(f"Running commands as user {user.name} (uid {user.uid})")
        found = shutil.which(shell, path=sandbox.DEFAULT_PATH)
        if found is None:
            raise sandbox.SandboxError(f"The shell {shell} is not installed on this worker")
        return Placement(found, request.src_dir, user), env

    def _announce(self) -> None:
        for note in self.spec.notes:
            self.log.container(note)
        users = [self.spec.run_as, *(phase.run_as for phase in self.spec.phases)]
        for run_as in dict.fromkeys(u for u in users if u):
            self.log.container(f"run-as {run_as} ignored: every command runs as the build user")
        if self.spec.git_credential_helper:
            self.log.container("git-credential-helper ignored: no Git credentials are provided")
        self.log.container(f"Moving to directory {self.request.src_dir}")
        self.log.container(f"Phases found in YAML: {len(self.spec.phases)}")
        for phase in self.spec.phases:
            count = len(phase.commands) + len(phase.finally_commands)
            self.log.container(f" {phase.phase_type}: {count} commands")

    def _run_all_phases(self) -> None:
        declared = {phase.name: phase for phase in self.spec.phases}
        for name, phase_type in BUILDSPEC_PHASES:
            # Phases the buildspec omits still pass, empty, as in CodeBuild's phase list.
            default = Phase(name, phase_type, on_failure=DEFAULT_ON_FAILURE.get(name, "ABORT"))
            phase = declared.get(name, default)
            failed = self._run_phase(phase)
            if self.halt or (failed and not _continues(phase)):
                return

    def _run_phase(self, phase: Phase) -> bool:
        """The phase, again while RETRY allows; True if it failed in the end."""
        retries, pattern = retry_policy(phase.on_failure) or (0, None)
        succeeding = self.succeeding
        attempt = 0
        while True:
            mark = self.log.count
            error = self._attempt(phase)
            if error is None:
                return False
            if self.halt:  # the build ends here: this phase and reason say why
                self.failure = (phase.phase_type, error)
                return True
            if attempt == retries or not _matches(pattern, [error, *self.log.lines_since(mark)]):
                self.failure = self.failure or (phase.phase_type, error)
                return True
            attempt += 1
            self.log.container(
                f"Retrying phase {phase.phase_type}: attempt {attempt + 1} of {retries + 1}"
            )
            self.succeeding = succeeding  # a retry starts where the failed attempt did

    def _attempt(self, phase: Phase) -> str | None:
        """One run of the phase: its commands, then its finally block. The failure message."""
        start = PhaseRecord(phase.phase_type, start=_now())
        self.request.on_phase(start)
        self.log.container(f"Entering phase {phase.phase_type}")
        if phase.runtime_versions:
            self.log.container(
                "Skipping install of runtimes. "
                "Runtime version selection is not supported by this build image."
            )
        error = self._commands(phase.commands)
        if not self.halt:
            error = self._commands(phase.finally_commands) or error
        status, code = self._status(error)
        message = self.log.masked(error) if error else None
        self.log.container(f"Phase complete: {phase.phase_type} State: {status}")
        self.log.container(f"Phase context status code: {code} Message: {message or ''}")
        end = dataclasses.replace(start, end=_now(), status=status, message=message)
        self.records.append(end)
        self.request.on_phase(end)
        return message

    def _status(self, error: str | None) -> tuple[PhaseStatus, str]:
        if self.halt == "fault":
            return "FAULT", "CLIENT_ERROR"
        if self.halt:
            return HALTS[self.halt][0], HALTS[self.halt][1]
        return ("FAILED", "COMMAND_EXECUTION_ERROR") if error else ("SUCCEEDED", "")

    def _commands(self, commands: Sequence[str]) -> str | None:
        """Runs the block until a command fails; that failure's message."""
        for command in commands:
            self.log.container(f"Running command {command}")
            try:
                finished = self.session.run(self._script(command), self._env())
            except OSError as exc:
                self.halt = "fault"
                return f"Cannot run command: {command}. Reason: {exc}"
            if finished.stopped:
                self.halt = finished.stopped
                return HALTS[finished.stopped][2]
            if finished.returncode != 0:
                reason = _reason(finished.returncode)
                self.log.container(f"Command did not exit successfully {command} {reason}")
                self.succeeding = False
                return f"Error while executing command: {command}. Reason: {reason}"
        return None

    def _script(self, command: str, save: bool = True) -> str:
        """The command, after restoring the session; its EXIT trap saves the session again."""
        state = shlex.quote(str(self.state))
        lines = []
        if self.restore and os.path.lexists(self.state):
            lines.append(f'. {state} 2>/dev/null; cd "$__SL_PWD" 2>/dev/null; unset __SL_PWD')
        lines.append(f"export CODEBUILD_BUILD_SUCCEEDING={int(self.succeeding)}")
        if self.restore and save:
            # Shell variables too, not only exported ones: CodeBuild's own examples set
            # `IMAGE_TAG=...` in one phase and use it in the next. sh's `set` prints every
            # variable re-readably (`export -p` then marks the exported ones); bash's would
            # include its read-only variables, so it lists the others with `declare -p`.
            lines.append(f"__sl_state={state}")
            lines.append(SAVE_SESSION)
            lines.append(
                "trap '__sl_rc=$?; __SL_PWD=$PWD; export __SL_PWD; "
                '__sl_save > "$__sl_state" 2>/dev/null; exit $__sl_rc\' EXIT'
            )
        lines.append(command)
        return "\n".join(lines) + "\n"

    def _env(self) -> dict[str, str]:
        # Once the session is saved it holds the whole environment (unset variables too).
        return {} if self.restore and os.path.lexists(self.state) else self.env

    def _exported(self) -> dict[str, str]:
        """env/exported-variables as the session holds them after the last phase."""
        names = [n for n in self.spec.exported_variables if SHELL_NAME.match(n)]
        allowed = [n for n in names if not n.startswith("AWS_")]  # AWS: cannot be exported
        for name in sorted(set(self.spec.exported_variables) - set(allowed)):
            self.log.container(f"Exported variable {name} skipped: it cannot be exported")
        if not allowed:
            return {}
        loop = (
            f"for __sl_n in {' '.join(allowed)}; do "
            'eval "__sl_set=\\${$__sl_n+x} __sl_v=\\${$__sl_n-}"; '
            'if [ -n "$__sl_set" ]; then printf \'%s=%s\\000\' "$__sl_n" "$__sl_v"; fi; done'
        )
        raw = self.session.capture(self._script(loop, save=False), self._env())
        values = dict(
            item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item
        )
        secrets = set(self.request.secrets)
        for name in [n for n, v in values.items() if v in secrets]:
            self.log.container(f"Exported variable {name} skipped: it holds a secret")
            del values[name]
        return {name: values[name] for name in allowed if name in values}

    def _outcome(self, exported: dict[str, str], fault: str | None = None) -> BuildOutcome:
        if fault is not None or self.halt == "fault":
            status: BuildStatus = "FAULT"
        elif self.halt:
            status = HALTS[self.halt][0]
        else:
            status = "FAILED" if self.failure else "SUCCEEDED"
        phase, message = self.failure or (None, None)
        if fault is not None:
            message = self.log.masked(f"Cannot prepare the build: {fault}")
        return BuildOutcome(
            status=status,
            phases=tuple(self.records),
            failed_phase=phase,
            message=message,
            exported_variables=exported,
            log_tail=tuple(self.log.tail),
        )


def _continues(phase: Phase) -> bool:
    action = phase.on_failure
    if action.startswith("RETRY"):  # retries used up: the phase transitions apply
        action = DEFAULT_ON_FAILURE.get(phase.name, "ABORT")
    return action == "CONTINUE"


def _matches(pattern: re.Pattern[str] | None, texts: Sequence[str]) -> bool:
    return pattern is not None and any(pattern.search(text) for text in texts)


def _reason(returncode: int) -> str:
    """In Go's words, as CodeBuild's agent writes them: "exit status 1", "signal: killed"."""
    if returncode >= 0:
        return f"exit status {returncode}"
    try:
        name = SIGNAL_NAMES.get(signal.Signals(-returncode), f"signal {-returncode}")
    except ValueError:
        name = f"signal {-returncode}"
    return f"signal: {name}"


def _now() -> datetime:
    return datetime.now(UTC)
