"""Compute / AWS / Commands: shell commands run by the build engine, isolated as builds are:
streamed, bounded, contained."""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from tests.support.processes import alive, wait_until

from stageline.actions.base import (
    ActionContext,
    Failed,
    InputArtifact,
    OutputArtifact,
    Succeeded,
)
from stageline.actions.commands import CommandsProvider
from stageline.artifacts.base import ObjectRef
from stageline.builds import sandbox
from stageline.domain.action_types import ActionTypeId
from stageline.settings import Settings

if TYPE_CHECKING:
    from tests.actions.conftest import LogCollector

COMMANDS = ActionTypeId("Compute", "AWS", "Commands", "1")
OUT = ObjectRef("artifacts", "demo/BuildOutput/out1")
SOURCE = {"README.md": "hello", "app/main.py": "print('hi')\n", "app/data.txt": "data"}
ROOT = os.geteuid() == 0
SRC = Path(__file__).resolve().parents[2] / "src"

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def build_root() -> Iterator[Path]:
    """A build root the build user can pass through: pytest's tmp_path is closed to it."""
    path = Path(tempfile.mkdtemp(prefix="stageline-commands-", dir="/tmp"))
    try:
        yield sandbox.create_workspace_root(path)
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def source(put_zip: Callable[..., ObjectRef]) -> InputArtifact:
    return InputArtifact("SourceArtifact", put_zip("demo/SourceArti/s1", SOURCE))


@pytest.fixture
def run(
    make_ctx: Callable[..., ActionContext], source: InputArtifact, build_root: Path
) -> Callable[..., Any]:
    """Run the provider on `commands` with the source as the only input by default."""

    def go(*commands: str, **fields: Any) -> Any:
        fields.setdefault("inputs", [source])
        ctx = make_ctx(COMMANDS, commands=list(commands), **fields)
        return CommandsProvider(build_root).run(ctx)

    return go


def build_user_uid() -> int:
    return pwd.getpwnam(os.environ.get(sandbox.USER_SETTING) or sandbox.DEFAULT_USER).pw_uid


def logged_pids(log: LogCollector) -> list[int]:
    return [int(pid) for pid in re.findall(r"^pid=(\d+)$", log.text, re.MULTILINE)]


def test_runs_in_the_primary_source_and_exports_an_artifact(
    run: Callable[..., Any],
    put_zip: Callable[..., ObjectRef],
    source: InputArtifact,
    read_zip: Callable[[ObjectRef], dict[str, bytes]],
    log: LogCollector,
    build_root: Path,
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
    [primary] = re.findall(r"^primary=(.*)$", log.text, re.MULTILINE)
    assert Path(primary).name == "src"
    assert Path(primary).parent.parent == build_root  # <build root>/<this attempt>/src
    assert "[Stageline] Extracted 3 files of SourceArtifact" in log.text
    assert "[Stageline] Uploaded 2 files as output artifact BuildOutput" in log.text


def test_exports_and_cd_carry_from_one_command_to_the_next(run: Callable[..., Any]) -> None:
    outcome = run(
        "export GREETING=hello",
        "mkdir -p sub && cd sub",
        'test "$GREETING" = hello && test "$(basename "$PWD")" = sub',
    )

    assert isinstance(outcome, Succeeded), outcome


def test_output_variables_come_from_the_shell_session(
    run: Callable[..., Any], log: LogCollector
) -> None:
    outcome = run(
        "export MY_OUTPUT=my-key",
        "export PLAIN='two words'",
        "export MULTI=$(printf 'a\\nb')",
        output_variable_names=["MY_OUTPUT", "PLAIN", "MULTI", "NEVER_SET", "CODEBUILD_BUILD_ID"],
    )

    assert isinstance(outcome, Succeeded), outcome
    assert outcome.output_variables == {
        "MY_OUTPUT": "my-key",
        "PLAIN": "two words",
        "MULTI": "a\nb",
        "CODEBUILD_BUILD_ID": "demo:action-exec-1",
    }
    assert "[Stageline] Output variables not set by the commands: NEVER_SET\n" in log.text


def test_aws_names_and_non_shell_names_are_not_exported(
    run: Callable[..., Any], log: LogCollector
) -> None:
    # As CodeBuild's exported-variables: environment variables starting with AWS_ cannot be
    # exported; a name no shell variable can have is never set.
    outcome = run(
        "export AWS_TARGET=prod KEPT=yes",
        output_variable_names=["AWS_TARGET", "not-a-name", "KEPT"],
    )

    assert isinstance(outcome, Succeeded), outcome
    assert outcome.output_variables == {"KEPT": "yes"}
    assert "Exported variable AWS_TARGET skipped: it cannot be exported" in log.text
    assert "Exported variable not-a-name skipped: it cannot be exported" in log.text
    assert "Output variables not set" not in log.text


def test_each_command_is_announced_on_a_line_of_its_own(
    run: Callable[..., Any], log: LogCollector
) -> None:
    outcome = run("printf 'no newline'", "printf 'crlf\\r\\n'", "true")

    assert isinstance(outcome, Succeeded), outcome
    lines = log.text.splitlines()
    assert "no newline" in lines
    assert "crlf" in lines
    assert any(re.match(r"^\[Container\] \S+ \S+ Running command true$", line) for line in lines)


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
    assert "Command did not exit successfully echo oops >&2; exit 3 exit status 3" in log.text


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
        'test "$HOME" = "$(dirname "$CODEBUILD_SRC_DIR")/.stageline/home"',
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


def test_commands_run_as_the_build_user(
    run: Callable[..., Any], log: LogCollector, tmp_path: Path
) -> None:
    # tmp_path holds the attempts' workspaces (ctx.workspace): the worker's, as the data dir.
    secret = tmp_path / "root-only"
    secret.write_text("worker secret")
    secret.chmod(0o600)

    outcome = run("id -u", f"cat {secret} || echo denied-secret")

    assert isinstance(outcome, Succeeded), outcome
    lines = log.text.splitlines()
    assert str(build_user_uid() if ROOT else os.geteuid()) in lines
    if ROOT:
        assert build_user_uid() != 0
        assert "denied-secret" in lines
        assert "worker secret" not in log.text
        assert any(line.endswith(f"(uid {build_user_uid()})") for line in lines)


def test_the_workers_environment_is_out_of_reach_even_through_proc(
    tmp_path: Path, build_root: Path
) -> None:
    """A worker process holding a marker in its environment from its start (so it is in its
    /proc/<pid>/environ too) runs the action: neither `env` nor /proc/$PPID/environ shows it."""
    marker = f"worker-only-{os.getpid()}-7f3a"
    script = f"""
import json, os, sys, zipfile
from pathlib import Path
from stageline.actions.base import ActionContext, InputArtifact
from stageline.actions.commands import CommandsProvider
from stageline.artifacts.base import ObjectRef
from stageline.artifacts.folder import FolderStore
from stageline.domain.action_types import ActionTypeId

tmp = Path({str(tmp_path)!r})
store = FolderStore(tmp / "store")
store.ensure_bucket("artifacts")
with zipfile.ZipFile(tmp / "src.zip", "w") as archive:
    archive.writestr("README.md", "hello")
store.put_file("artifacts", "src.zip", tmp / "src.zip")
(tmp / "workspace").mkdir()

class Log:
    text = ""
    def write(self, text):
        Log.text += text

ctx = ActionContext(
    pipeline_name="demo", pipeline_execution_id="e", stage_name="S", action_name="A",
    action_execution_id="a-1", type_id=ActionTypeId("Compute", "AWS", "Commands", "1"),
    configuration={{}}, inputs=[InputArtifact("Src", ObjectRef("artifacts", "src.zip"))],
    outputs=[], store=store, workspace=tmp / "workspace", log=Log(), timeout_seconds=30,
    cancelled=lambda: False,
    commands=[
        "echo ppid=$PPID",
        "env",
        "if tr '\\\\0' '\\\\n' < /proc/$PPID/environ; then echo environ-read; "
        "else echo environ-denied; fi",
    ],
)
in_environ = b"STAGELINE_TEST_MARKER" in Path("/proc/self/environ").read_bytes()
outcome = CommandsProvider(Path({str(build_root)!r})).run(ctx)
print(json.dumps({{
    "pid": os.getpid(), "in_environ": in_environ, "outcome": type(outcome).__name__,
    "log": Log.text,
}}))
"""
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "PYTHONPATH": str(SRC), "STAGELINE_TEST_MARKER": marker},
        capture_output=True,
        text=True,
        check=True,
        timeout=50,
    )
    report = json.loads(result.stdout.splitlines()[-1])
    lines = report["log"].splitlines()
    assert report["outcome"] == "Succeeded", report["log"]
    assert report["in_environ"]  # there to be found, for anyone allowed to read it
    assert f"ppid={report['pid']}" in lines  # $PPID is the worker itself
    assert "environ-denied" in lines
    assert "environ-read" not in lines
    assert marker not in report["log"]
    assert "STAGELINE_TEST_MARKER" not in report["log"]


def test_the_build_directory_is_removed_afterwards(
    run: Callable[..., Any], build_root: Path
) -> None:
    assert isinstance(run("touch made-here"), Succeeded)
    assert isinstance(run("exit 1"), Failed)

    assert list(build_root.iterdir()) == []


def test_a_link_out_of_the_source_is_not_exported(
    run: Callable[..., Any],
    read_zip: Callable[[ObjectRef], dict[str, bytes]],
    tmp_path: Path,
) -> None:
    secret = tmp_path / "worker-only.txt"
    secret.write_text("worker secret")
    secret.chmod(0o600)

    outcome = run(
        f"mkdir dist && echo ok > dist/ok.txt && ln -s {secret} dist/leak.txt",
        outputs=[OutputArtifact("BuildOutput", OUT, files=("dist/**/*",))],
    )

    assert isinstance(outcome, Succeeded), outcome
    assert read_zip(OUT) == {"dist/ok.txt": b"ok\n"}


def test_output_is_streamed_while_the_commands_run(
    make_ctx: Callable[..., ActionContext],
    source: InputArtifact,
    log: LogCollector,
    build_root: Path,
) -> None:
    stop = threading.Event()
    ctx = make_ctx(
        COMMANDS, commands=["echo first-line", "sleep 30"], inputs=[source], cancelled=stop.is_set
    )
    result: list[Any] = []
    worker = threading.Thread(target=lambda: result.append(CommandsProvider(build_root).run(ctx)))
    worker.start()
    try:
        assert wait_until(lambda: "first-line\n" in log.chunks)
        assert worker.is_alive()  # the line arrived before the commands ended
    finally:
        stop.set()
        worker.join(20)
    assert not worker.is_alive()
    assert isinstance(result[0], Failed)


def test_cancellation_stops_the_commands(run: Callable[..., Any]) -> None:
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    started = time.monotonic()

    outcome = run("sleep 300", cancelled=cancel.is_set)

    assert isinstance(outcome, Failed)
    assert outcome.message.startswith(
        "The commands were stopped: this action execution was cancelled"
    )
    assert time.monotonic() - started < 15


def test_timeout_kills_the_whole_process_tree(run: Callable[..., Any], log: LogCollector) -> None:
    started = time.monotonic()

    outcome = run(
        "sleep 300 & echo pid=$!",
        # Ignores SIGTERM, so only the SIGKILL after the grace period ends it.
        '(trap "" TERM; sleep 300) & echo pid=$!',
        "bash -c 'sleep 300 & echo pid=$!; wait' &",
        "sleep 300",
        timeout_seconds=2.0,
    )

    assert isinstance(outcome, Failed)
    assert outcome.message.startswith("The commands timed out after 2 seconds")
    assert time.monotonic() - started < 20
    children = logged_pids(log)
    assert len(children) == 3
    assert wait_until(lambda: not any(alive(pid) for pid in children), 5)


def test_background_processes_do_not_outlive_a_successful_run(
    run: Callable[..., Any], log: LogCollector
) -> None:
    outcome = run("sleep 300 & echo pid=$!")

    assert isinstance(outcome, Succeeded), outcome
    [pid] = logged_pids(log)
    assert wait_until(lambda: not alive(pid), 5)


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


def test_missing_input_artifact_fails(run: Callable[..., Any], build_root: Path) -> None:
    missing = InputArtifact("SourceArtifact", ObjectRef("artifacts", "demo/none"))

    outcome = run("true", inputs=[missing])

    assert isinstance(outcome, Failed)
    assert "SourceArtifact was not found" in outcome.message
    assert list(build_root.iterdir()) == []


def test_an_unusable_build_dir_fails_the_action(
    make_ctx: Callable[..., ActionContext], source: InputArtifact, tmp_path: Path
) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    ctx = make_ctx(COMMANDS, commands=["true"], inputs=[source])

    outcome = CommandsProvider(blocked / "builds").run(ctx)

    assert isinstance(outcome, Failed)
    assert outcome.message.startswith(f"Cannot create a build directory in {blocked / 'builds'}")


def test_the_default_build_dir_is_the_settings_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STAGELINE_BUILD_DIR", raising=False)
    assert CommandsProvider().build_dir == Settings().build_dir
