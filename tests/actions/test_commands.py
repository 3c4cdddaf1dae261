"""Compute / AWS / Commands: shell commands on the worker, streamed, bounded and contained."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from stageline.actions.base import (
    ActionContext,
    Failed,
    InputArtifact,
    OutputArtifact,
    Succeeded,
)
from stageline.actions.commands import CommandsProvider
from stageline.artifacts.base import ObjectRef
from stageline.domain.action_types import ActionTypeId

if TYPE_CHECKING:
    from tests.actions.conftest import LogCollector

COMMANDS = ActionTypeId("Compute", "AWS", "Commands", "1")
OUT = ObjectRef("artifacts", "demo/BuildOutput/out1")
SOURCE = {"README.md": "hello", "app/main.py": "print('hi')\n", "app/data.txt": "data"}

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def source(put_zip: Callable[..., ObjectRef]) -> InputArtifact:
    return InputArtifact("SourceArtifact", put_zip("demo/SourceArti/s1", SOURCE))


@pytest.fixture
def run(make_ctx: Callable[..., ActionContext], source: InputArtifact) -> Callable[..., Any]:
    """Run the provider on `commands` with the source as the only input by default."""

    def go(*commands: str, grace: float = 5.0, **fields: Any) -> Any:
        fields.setdefault("inputs", [source])
        ctx = make_ctx(COMMANDS, commands=list(commands), **fields)
        return CommandsProvider(kill_grace_seconds=grace, poll_seconds=0.05).run(ctx)

    return go


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie waiting for a reaper."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_until(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_runs_in_the_primary_source_and_exports_an_artifact(
    run: Callable[..., Any],
    put_zip: Callable[..., ObjectRef],
    source: InputArtifact,
    read_zip: Callable[[ObjectRef], dict[str, bytes]],
    log: LogCollector,
) -> None:
    extra = InputArtifact("Config", put_zip("demo/Config/c1", {"settings.ini": "x=1"}))

    outcome = run(
        "test -f README.md",
        "mkdir -p dist && cp app/*.py dist/",
        'cp "$CODEBUILD_SRC_DIR_Config/settings.ini" dist/',
        'echo "primary=$CODEBUILD_SRC_DIR"',
        inputs=[source, extra],
        outputs=[OutputArtifact("BuildOutput", OUT, files=("dist/**/*",))],
    )

    assert isinstance(outcome, Succeeded), outcome
    assert outcome.summary == "Commands succeeded"
    assert read_zip(OUT) == {"dist/main.py": b"print('hi')\n", "dist/settings.ini": b"x=1"}
    assert "Running command mkdir -p dist && cp app/*.py dist/" in log.text
    assert "[Container] " in log.text
    assert "/src\n" in log.text.split("primary=", 1)[1]


def test_output_variables_come_from_the_shell_session(run: Callable[..., Any]) -> None:
    outcome = run(
        "export MY_OUTPUT=my-key",
        "PLAIN='two words'",
        "MULTI=$(printf 'a\\nb')",
        output_variable_names=["MY_OUTPUT", "PLAIN", "MULTI", "NEVER_SET", "CODEBUILD_BUILD_ID"],
    )

    assert isinstance(outcome, Succeeded), outcome
    assert outcome.output_variables == {
        "MY_OUTPUT": "my-key",
        "PLAIN": "two words",
        "MULTI": "a\nb",
        "CODEBUILD_BUILD_ID": "demo:action-exec-1",
    }


def test_each_command_is_announced_on_a_line_of_its_own(
    run: Callable[..., Any], log: LogCollector
) -> None:
    outcome = run("printf 'no newline'", "printf 'crlf\\r\\n'", "true")

    assert isinstance(outcome, Succeeded), outcome
    lines = log.text.splitlines()
    assert "no newline" in lines
    assert "crlf" in lines
    assert any(line.endswith(" Running command true") for line in lines)
    assert all("\x1e" not in line for line in lines)


def test_failing_command_is_named_with_its_exit_status(
    run: Callable[..., Any], log: LogCollector
) -> None:
    outcome = run(
        "echo before",
        "echo oops >&2; exit 3",
        "echo never",
        output_variable_names=["HOME"],
    )

    assert isinstance(outcome, Failed)
    assert outcome.message.startswith(
        "Error while executing command: echo oops >&2; exit 3. Reason: exit status 3"
    )
    assert "oops" in outcome.message  # the log's last lines
    assert "never" not in log.text.replace("echo never", "")
    assert outcome.code == "JobFailed"


def test_no_matching_output_files_fails(run: Callable[..., Any]) -> None:
    outcome = run(
        "true",
        outputs=[OutputArtifact("BuildOutput", OUT, files=("build/**/*",))],
    )

    assert isinstance(outcome, Failed)
    assert "no matching artifact paths found" in outcome.message


def test_server_environment_is_not_visible(
    run: Callable[..., Any], log: LogCollector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STAGELINE_DATABASE_URL", "postgresql://admin:hunter2@db/stageline")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "very-secret")

    outcome = run(
        "env",
        'test "$HOME" = "$(dirname "$CODEBUILD_SRC_DIR")"',
        environment={"GREETING": "hello", "CODEBUILD_SRC_DIR": "/elsewhere"},
        output_variable_names=["GREETING"],
    )

    assert isinstance(outcome, Succeeded), outcome
    assert "STAGELINE_DATABASE_URL" not in log.text
    assert "hunter2" not in log.text
    assert "very-secret" not in log.text
    assert "GREETING=hello" in log.text
    assert "CODEBUILD_SRC_DIR=/elsewhere" not in log.text  # CodeBuild's names are reserved
    assert outcome.output_variables == {"GREETING": "hello"}


def test_output_is_streamed_while_the_commands_run(
    make_ctx: Callable[..., ActionContext], source: InputArtifact, log: LogCollector
) -> None:
    stop = threading.Event()
    ctx = make_ctx(
        COMMANDS, commands=["echo first-line", "sleep 30"], inputs=[source], cancelled=stop.is_set
    )
    result: list[Any] = []
    worker = threading.Thread(
        target=lambda: result.append(CommandsProvider(poll_seconds=0.05).run(ctx))
    )
    worker.start()
    try:
        assert wait_until(lambda: "first-line\n" in log.chunks)
        assert worker.is_alive()  # the line arrived before the commands ended
    finally:
        stop.set()
        worker.join(20)
    assert not worker.is_alive()
    assert isinstance(result[0], Failed)


def test_cancellation_stops_the_commands(run: Callable[..., Any], tmp_path: Path) -> None:
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    started = time.monotonic()

    outcome = run("sleep 300", cancelled=cancel.is_set)

    assert isinstance(outcome, Failed)
    assert "cancelled" in outcome.message
    assert time.monotonic() - started < 15


def test_timeout_kills_the_whole_process_tree(run: Callable[..., Any], tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    started = time.monotonic()

    outcome = run(
        'sleep 300 & echo $! >> "$PIDS"',
        # Ignores SIGTERM, so only the SIGKILL after the grace period ends it.
        '(trap "" TERM; sleep 300) & echo $! >> "$PIDS"',
        "bash -c 'sleep 300 & echo $! >> \"$PIDS\"; wait' &",
        "sleep 300",
        timeout_seconds=2.0,
        grace=0.5,
        environment={"PIDS": str(pids)},
    )

    assert isinstance(outcome, Failed)
    assert "timed out after 2 seconds" in outcome.message
    assert time.monotonic() - started < 20
    children = [int(line) for line in pids.read_text().split()]
    assert len(children) == 3
    assert wait_until(lambda: not any(alive(pid) for pid in children), 5)


def test_background_processes_do_not_outlive_a_successful_run(
    run: Callable[..., Any], tmp_path: Path
) -> None:
    pids = tmp_path / "pids"

    outcome = run('sleep 300 & echo $! > "$PIDS"', environment={"PIDS": str(pids)})

    assert isinstance(outcome, Succeeded), outcome
    assert wait_until(lambda: not alive(int(pids.read_text())), 5)


def test_an_input_named_src_does_not_clash_with_the_primary(
    run: Callable[..., Any], put_zip: Callable[..., ObjectRef], source: InputArtifact
) -> None:
    other = InputArtifact("src", put_zip("demo/src/s2", {"other.txt": "o"}))

    outcome = run(
        "test -f README.md",
        'test -f "$CODEBUILD_SRC_DIR_src/other.txt"',
        inputs=[source, other],
    )

    assert isinstance(outcome, Succeeded), outcome


def test_missing_input_artifact_fails(run: Callable[..., Any]) -> None:
    missing = InputArtifact("SourceArtifact", ObjectRef("artifacts", "demo/none"))

    outcome = run("true", inputs=[missing])

    assert isinstance(outcome, Failed)
    assert "SourceArtifact was not found" in outcome.message
