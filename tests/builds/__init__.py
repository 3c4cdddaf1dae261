"""Helpers shared by the build runner tests: a workspace root the build user can reach, a log
that notes when each write arrived, and one call that parses and runs a buildspec."""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from stageline.builds import sandbox
from stageline.builds.buildspec import parse_buildspec
from stageline.builds.engine import run_phases
from stageline.builds.model import BuildOutcome, BuildRequest, PhaseRecord

ROOT_ONLY = os.geteuid() == 0
_ids = itertools.count(1)


class TimedLog:
    """A LogSink keeping every write with the moment it arrived."""

    def __init__(self) -> None:
        self.writes: list[tuple[float, str]] = []

    def write(self, text: str) -> None:
        self.writes.append((time.monotonic(), text))

    @property
    def text(self) -> str:
        return "".join(text for _, text in self.writes)

    @property
    def lines(self) -> list[str]:
        return self.text.splitlines()

    def arrival(self, line: str) -> float:
        """When the write holding exactly this line came."""
        return next(at for at, text in self.writes if line in text.splitlines())


@dataclass
class Built:
    outcome: BuildOutcome
    log: TimedLog
    workspace: Path
    src: Path
    seconds: float
    calls: list[PhaseRecord] = field(default_factory=list)

    @property
    def statuses(self) -> list[tuple[str, str | None]]:
        return [(p.phase_type, p.status) for p in self.outcome.phases]


@contextlib.contextmanager
def workspace_root() -> Iterator[Path]:
    """A 0711 root under /tmp: pytest's own tmp_path is 0700, closed to the build user."""
    path = Path(tempfile.mkdtemp(prefix="stageline-builds-", dir="/tmp"))
    try:
        yield sandbox.create_workspace_root(path)
    finally:
        shutil.rmtree(path, ignore_errors=True)


def run_build(
    root: Path,
    buildspec: str,
    *,
    environment: Mapping[str, str] | None = None,
    secrets: Sequence[str] = (),
    timeout: float = 30.0,
    cancelled: Callable[[], bool] = lambda: False,
    image: str | None = None,
    files: Mapping[str, str] | None = None,
    workspace: Path | None = None,
) -> Built:
    """Parses and runs `buildspec` in a fresh build directory (or `workspace`) with `files`
    as the source."""
    workspace = workspace or sandbox.create_build_directory(root, f"project:{next(_ids)}")
    src = workspace / "src"
    src.mkdir()
    for name, content in (files or {}).items():
        (src / name).write_text(content)
    log, calls = TimedLog(), []
    request = BuildRequest(
        build_id=workspace.name,
        spec=parse_buildspec(buildspec),
        workspace=workspace,
        src_dir=src,
        environment=dict(environment or {}),
        secrets=list(secrets),
        timeout_seconds=timeout,
        cancelled=cancelled,
        log=log,
        on_phase=calls.append,
        image=image,
    )
    start = time.monotonic()
    outcome = run_phases(request)
    return Built(outcome, log, workspace, src, time.monotonic() - start, calls)
