"""Running the job's command: its own process group, output streamed line by line to the
worker's stdout with a job prefix (secrets masked), the last lines kept for a failure
message, and a stop that terminates the whole group (SIGTERM, then SIGKILL after a grace).
Whatever the command left running in its process group is killed when it ends."""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

TAIL_LINES = 40


@dataclass(frozen=True)
class Outcome:
    returncode: int
    tail: list[str]
    stopped: bool  # the worker was asked to stop and terminated the command

    @property
    def succeeded(self) -> bool:
        return self.returncode == 0 and not self.stopped

    def describe(self) -> str:
        if self.stopped:
            return "The job worker was stopped while the command ran; the command was terminated."
        if self.returncode < 0:
            try:
                name = signal.Signals(-self.returncode).name
            except ValueError:
                name = f"signal {-self.returncode}"
            return f"The command was killed by {name}."
        return f"The command exited with status {self.returncode}."


def run(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    prefix: str,
    should_stop: Callable[[float], bool],
    masker: Callable[[str], str] = lambda line: line,
    out: IO[str] | None = None,
    grace: float = 10.0,
) -> Outcome:
    """Run argv to its end (or until should_stop(timeout) answers True)."""
    stream = out if out is not None else sys.stdout
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    try:
        process = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        line = f"cannot start {argv[0]!r}: {exc.strerror or exc}"
        print(f"{prefix} {line}", file=stream, flush=True)
        return Outcome(127, [line], False)
    assert process.stdout is not None
    reader = threading.Thread(
        target=_pump, args=(process.stdout, prefix, masker, tail, stream), daemon=True
    )
    reader.start()
    stopped = False
    while process.poll() is None:
        if should_stop(0.2):
            stopped = True
            _terminate(process, grace)
            break
    process.wait()
    _kill_group(process.pid, signal.SIGKILL)  # a job leaves no processes behind
    reader.join(timeout=5)
    return Outcome(process.returncode, list(tail), stopped)


def _pump(
    pipe: IO[bytes],
    prefix: str,
    masker: Callable[[str], str],
    tail: collections.deque[str],
    stream: IO[str],
) -> None:
    with pipe:
        for raw in pipe:
            line = masker(raw.decode("utf-8", errors="replace").rstrip("\r\n"))
            tail.append(line)
            print(f"{prefix} {line}", file=stream, flush=True)


def _terminate(process: subprocess.Popen[bytes], grace: float) -> None:
    _kill_group(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        _kill_group(process.pid, signal.SIGKILL)


def _kill_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
