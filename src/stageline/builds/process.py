"""The build's processes: one process group for the whole build, output streamed line by line.

Every command of a build runs in one process group, held by an idle anchor process that lives
until the build ends, so the group id cannot be reused while Stageline may signal it. All
commands write to one pipe: a command's background processes (`dockerd &`) keep running and
logging into later commands, as in CodeBuild's container, and are killed when the build ends.
A timeout or a stop kills the whole group (SIGTERM, a grace period, SIGKILL).
"""

from __future__ import annotations

import codecs
import contextlib
import os
import re
import selectors
import signal
import subprocess
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from stageline.builds import sandbox
from stageline.builds.model import LogSink

TAIL_LINES = 20
MAX_LINE = 64 * 1024
RECENT_LINES = 2000  # kept for RETRY-<regex> matching
KILL_GRACE_SECONDS = 3.0
CANCEL_CHECK_SECONDS = 1.0  # cancelled() may ask the database: about once a second
POLL_SECONDS = 0.02  # only where pidfd_open is missing


class BuildLog:
    """The build's log: `[Container]` lines and command output, every line masked."""

    def __init__(self, sink: LogSink, secrets: Sequence[str]) -> None:
        self.sink = sink
        # A multi-line secret is masked line by line too: the log is masked per line.
        parts = {p for s in secrets for p in (s, *s.splitlines()) if p.strip()}
        ordered = sorted(parts, key=len, reverse=True)
        self.mask = re.compile("|".join(map(re.escape, ordered))) if ordered else None
        self.keep = max(map(len, ordered), default=1) - 1  # overlap when a long line is cut
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self.recent: deque[str] = deque(maxlen=RECENT_LINES)
        self.count = 0
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.pending = ""

    def container(self, message: str) -> None:
        """A line of the runner itself, in CodeBuild's format."""
        self.flush()
        stamp = datetime.now(UTC).strftime("%Y/%m/%d %H:%M:%S.%f")
        self._write([f"[Container] {stamp} {message}"])

    def output(self, data: bytes) -> None:
        text = self.pending + self.decoder.decode(data)
        *lines, self.pending = text.split("\n")
        while len(self.pending) > MAX_LINE:  # no newline coming: cut, keeping a secret whole
            cut = len(self.pending) - self.keep
            lines.append(self.pending[:cut])
            self.pending = self.pending[cut:]
        self._write([line.removesuffix("\r") for line in lines])

    def flush(self) -> None:
        """Ends a partial last line (output without a final newline)."""
        rest = self.pending + self.decoder.decode(b"", final=True)
        self.pending = ""
        if rest:
            self._write([rest.removesuffix("\r")])

    def masked(self, text: str) -> str:
        return self.mask.sub("***", text) if self.mask else text

    def lines_since(self, mark: int) -> list[str]:
        wanted = min(self.count - mark, len(self.recent))
        return list(self.recent)[len(self.recent) - wanted :] if wanted > 0 else []

    def _write(self, lines: list[str]) -> None:
        if not lines:
            return
        masked = [self.masked(line) for line in lines]
        self.tail.extend(masked)
        self.recent.extend(masked)
        self.count += len(masked)
        self.sink.write("".join(f"{line}\n" for line in masked))


@dataclass(frozen=True)
class Finished:
    returncode: int
    stopped: str | None = None  # "timeout" | "cancelled": Stageline ended it


@dataclass(frozen=True)
class Placement:
    """Where and as whom the commands run."""

    shell: str
    cwd: Path
    user: sandbox.BuildUser | None = None
    container: sandbox.Container | None = None


class Session:
    """The build's process group and output pipe; commands run one at a time."""

    def __init__(
        self,
        place: Placement,
        log: BuildLog,
        deadline: float,
        cancelled: Callable[[], bool],
    ) -> None:
        self.place = place
        self.log = log
        self.deadline = deadline
        self.cancelled = cancelled
        self.next_check = 0.0
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        self.eof = False
        try:
            self.anchor = subprocess.Popen(
                ["sleep", "2147483647"],
                env={"PATH": sandbox.DEFAULT_PATH},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                process_group=0,  # a new group in our session, so commands may join it
            )
        except BaseException:
            os.close(self.read_fd)
            os.close(self.write_fd)
            raise

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, script: str, env: Mapping[str, str]) -> Finished:
        """Runs one command script; its output goes to the log as it comes."""
        proc = self._spawn(script, env, self.write_fd)
        try:
            stopped = self._watch(proc)
        except BaseException:
            self._stop(proc)  # an error on our side: leave nothing running
            raise
        if stopped:
            self._stop(proc)
        self._drain()
        self.log.flush()
        assert proc.returncode is not None
        return Finished(proc.returncode, stopped)

    def capture(self, script: str, env: Mapping[str, str]) -> bytes:
        """Runs a script and returns its standard output (not logged); b"" if it fails."""
        proc = self._spawn(script, env, subprocess.PIPE)
        try:
            out, _ = proc.communicate(timeout=max(1.0, min(10.0, self._remaining())))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            return b""
        return out if proc.returncode == 0 else b""

    def close(self) -> None:
        """Ends the build's processes: what is left of the group gets SIGTERM, a grace period
        to exit (until the output pipe closes), then SIGKILL. The anchor is reaped last."""
        os.close(self.write_fd)
        self._signal(signal.SIGTERM)
        self._pump_until_eof(time.monotonic() + KILL_GRACE_SECONDS)
        self._signal(signal.SIGKILL)
        self.anchor.wait()
        self._pump_until_eof(time.monotonic() + 1.0)  # an escaped process may hold the pipe
        self.log.flush()
        os.close(self.read_fd)

    def _spawn(
        self, script: str, env: Mapping[str, str], out: int | None
    ) -> subprocess.Popen[bytes]:
        user = self.place.user
        container = self.place.container
        if container is not None:
            argv = sandbox.container_exec_command(
                container, self.place.cwd, sorted(env), [self.place.shell, "-c", script]
            )
            # The engine's CLI needs the worker's own settings; only the names given with -e
            # reach the container.
            env = {**os.environ, **env}
            user = None
        else:
            argv = [self.place.shell, "-c", script]
        return subprocess.Popen(
            argv,
            env=dict(env),
            cwd=self.place.cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=self.write_fd if out == self.write_fd else subprocess.DEVNULL,
            process_group=self.anchor.pid,
            user=user.uid if user else None,
            group=user.gid if user else None,
            extra_groups=[] if user else None,
        )

    def _watch(self, proc: subprocess.Popen[bytes]) -> str | None:
        with selectors.DefaultSelector() as selector, _pidfd(proc.pid) as pidfd:
            if not self.eof:
                selector.register(self.read_fd, selectors.EVENT_READ)
            if pidfd is not None:
                selector.register(pidfd, selectors.EVENT_READ)
            while True:
                now = time.monotonic()
                wait = min(self.deadline, self.next_check) - now
                if pidfd is None:
                    wait = min(wait, POLL_SECONDS)
                if any(key.fd == self.read_fd for key, _ in selector.select(max(wait, 0))):
                    self._pump()
                if proc.poll() is not None:
                    return None
                if stopped := self._should_stop():
                    return stopped

    def _should_stop(self) -> str | None:
        now = time.monotonic()
        if now >= self.deadline:
            return "timeout"
        if now >= self.next_check:
            self.next_check = now + CANCEL_CHECK_SECONDS
            if self.cancelled():
                return "cancelled"
        return None

    def _stop(self, proc: subprocess.Popen[bytes]) -> None:
        """Timeout or stop: the whole group gets SIGTERM, then SIGKILL after the grace."""
        if self.place.container is not None:
            sandbox.kill_container(self.place.container)
        self._signal(signal.SIGTERM)
        end = time.monotonic() + KILL_GRACE_SECONDS
        while proc.poll() is None and time.monotonic() < end:
            self._pump(0.05)
        self._signal(signal.SIGKILL)
        proc.wait()

    def _signal(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.anchor.pid, sig)

    def _remaining(self) -> float:
        return self.deadline - time.monotonic()

    def _pump(self, wait: float = 0.0) -> None:
        """Reads what the pipe holds now (waiting up to `wait` for something)."""
        if self.eof:
            return
        if wait:
            with selectors.DefaultSelector() as selector:
                selector.register(self.read_fd, selectors.EVENT_READ)
                selector.select(wait)
        with contextlib.suppress(BlockingIOError):
            data = os.read(self.read_fd, 65536)
            if not data:
                self.eof = True
            self.log.output(data)

    def _drain(self) -> None:
        """The output a finished command left in the pipe, without waiting for background
        writers (bounded: a chatty background process must not hold the build)."""
        for _ in range(64):
            before = self.log.count, self.log.pending
            self._pump()
            if self.eof or (self.log.count, self.log.pending) == before:
                return

    def _pump_until_eof(self, end: float) -> None:
        while not self.eof and time.monotonic() < end:
            self._pump(min(0.05, max(end - time.monotonic(), 0)))


@contextlib.contextmanager
def _pidfd(pid: int) -> Iterator[int | None]:
    """A descriptor that becomes readable when the process exits: no polling delay."""
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        yield None
        return
    try:
        yield fd
    finally:
        os.close(fd)
