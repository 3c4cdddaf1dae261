"""Isolation: the build user, an environment holding nothing of the worker's, the workspace
layout, the undumpable worker, and the container engine path."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.builds import ROOT_ONLY, run_build, workspace_root

from stageline.builds import sandbox

pytestmark = pytest.mark.timeout(60)
needs_root = pytest.mark.skipif(not ROOT_ONLY, reason="switching users needs root")
SRC = Path(__file__).resolve().parents[2] / "src"
SHELL_OWN = {"PWD", "OLDPWD", "SHLVL", "_"}  # what the shell itself adds


@pytest.fixture(scope="module")
def root() -> Iterator[Path]:
    with workspace_root() as path:
        yield path


def build(root: Path, commands: str, **kwargs: Any) -> list[str]:
    """The log lines of a build running `commands` (one a line) in its BUILD phase."""
    body = "".join(f"      - {json.dumps(c)}\n" for c in commands.splitlines())
    return run_build(
        root, f"version: 0.2\nphases:\n  build:\n    commands:\n{body}", **kwargs
    ).log.lines


@needs_root
def test_commands_run_as_nobody_and_cannot_read_root_files(root: Path, tmp_path: Path) -> None:
    secret = root.parent / f"{root.name}-root-only"
    secret.write_text("root secret")
    os.chmod(secret, 0o600)
    try:
        lines = build(
            root,
            f"id -u\ncat /proc/1/environ || echo denied-proc-1\ncat {secret} || echo denied-file",
        )
    finally:
        secret.unlink()
    assert "65534" in lines
    assert "denied-proc-1" in lines and "denied-file" in lines
    assert "root secret" not in "\n".join(lines)
    assert any(line.endswith("Running commands as user nobody (uid 65534)") for line in lines)


@needs_root
def test_another_build_user_can_be_named(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(sandbox.USER_SETTING, "daemon")
    assert "1" in build(root, "id -u")


@needs_root
@pytest.mark.parametrize(
    ("name", "message"), [("root", "must not run as root"), ("nobody-here", "no such user")]
)
def test_the_build_user_must_exist_and_not_be_root(
    root: Path, monkeypatch: pytest.MonkeyPatch, name: str, message: str
) -> None:
    workspace = sandbox.create_build_directory(root, f"bad-user-{name}")
    monkeypatch.setenv(sandbox.USER_SETTING, name)
    with pytest.raises(sandbox.SandboxError, match=message):
        sandbox.build_user()
    built = run_build(
        root, "version: 0.2\nphases:\n  build:\n    commands: ['true']\n", workspace=workspace
    )
    assert built.outcome.status == "FAULT"
    assert built.outcome.message is not None and message in built.outcome.message


def test_the_environment_holds_nothing_of_the_worker(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STAGELINE_TEST_MARKER", "worker-only-7f3a")
    lines = build(
        root,
        "env\ntr '\\0' '\\n' < /proc/$PPID/environ || echo parent-environ-denied",
        environment={"GIVEN": "yes"},
    )
    assert not any("worker-only-7f3a" in line for line in lines)
    names = {line.split("=", 1)[0] for line in lines if re.match(r"^[A-Z_]+=", line)}
    expected = {"PATH", "LANG", "HOME", "TMPDIR", "GIVEN", "CODEBUILD_BUILD_SUCCEEDING"}
    assert expected <= names <= expected | SHELL_OWN
    if ROOT_ONLY:
        assert "parent-environ-denied" in lines


def test_home_and_tmpdir_are_the_builds_own(root: Path) -> None:
    built = run_build(
        root,
        "version: 0.2\nphases:\n  build:\n    commands:\n"
        "      - touch $HOME/h $TMPDIR/t && echo home=$HOME tmp=$TMPDIR\n",
    )
    control = built.workspace / sandbox.CONTROL_DIR
    assert f"home={control / 'home'} tmp={control / 'tmp'}" in built.log.lines
    assert (control / "home" / "h").exists() and (control / "tmp" / "t").exists()


def test_undumpable_keeps_same_user_processes_out_of_proc_environ() -> None:
    """The worker-not-root case: a process and the build it starts share a user."""
    probe = (
        "import os, subprocess\n"
        "from stageline.builds.sandbox import make_undumpable\n"
        "def peek():\n"
        "    return subprocess.run(['cat', f'/proc/{os.getpid()}/environ'],"
        " capture_output=True).stdout\n"
        "before = b'WORKER_KEY=k-123' in peek()\n"
        "ok = make_undumpable()\n"
        "print(before, ok, b'WORKER_KEY' in peek())\n"
    )
    as_nobody = {"user": 65534, "group": 65534, "extra_groups": []} if ROOT_ONLY else {}
    python = (
        "/usr/bin/python3" if ROOT_ONLY and os.path.exists("/usr/bin/python3") else sys.executable
    )
    result = subprocess.run(
        [python, "-c", probe],
        env={"PYTHONPATH": str(SRC), "WORKER_KEY": "k-123", "PATH": sandbox.DEFAULT_PATH},
        cwd="/",
        capture_output=True,
        text=True,
        check=True,
        **as_nobody,  # type: ignore[arg-type]
    )
    assert result.stdout.split() == ["True", "True", "False"]


def test_workspace_root_and_build_directories(root: Path) -> None:
    assert stat.S_IMODE(os.stat(root).st_mode) == 0o711
    path = sandbox.create_build_directory(root, "project:8c1e/../x")
    assert path.parent == root and path.name == "project-8c1e-..-x"
    info = os.stat(path)
    assert stat.S_IMODE(info.st_mode) == 0o700
    assert info.st_uid == (65534 if ROOT_ONLY else os.geteuid())


@needs_root
def test_an_unreachable_workspace_fails_clearly(tmp_path: Path) -> None:
    closed = tmp_path / "closed"  # pytest's tmp_path sits in a 0700 directory
    closed.mkdir()
    with pytest.raises(sandbox.SandboxError, match="is not searchable by others"):
        sandbox.create_workspace_root(closed / "builds")
    built = run_build(closed, "version: 0.2\nphases:\n  build:\n    commands: ['true']\n")
    assert built.outcome.status == "FAULT"
    assert built.outcome.message is not None
    assert (
        "cannot reach" in built.outcome.message and "create_workspace_root" in built.outcome.message
    )


@needs_root
def test_the_workspace_is_handed_over_without_following_links(root: Path) -> None:
    target = root.parent / f"{root.name}-target"
    target.write_text("root's")
    workspace = sandbox.create_build_directory(root, "links")
    src = workspace / "src"
    src.mkdir()
    (src / "kept.txt").write_text("source")
    (src / "link").symlink_to(target)
    try:
        user = sandbox.build_user()
        assert user is not None
        sandbox.prepare_workspace(workspace, src, user)
        assert os.stat(target).st_uid == 0
        assert os.lstat(src / "link").st_uid == 65534
        assert os.stat(src / "kept.txt").st_uid == 65534
        assert os.stat(workspace / sandbox.CONTROL_DIR / "state").st_uid == 65534
    finally:
        target.unlink()


def fake_engine(directory: Path, name: str, info_status: int) -> Path:
    """A docker stand-in: records its arguments; `exec` runs the command here, giving it
    only the variables named with --env, as a container would get."""
    directory.mkdir(exist_ok=True)
    path = directory / name
    path.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        "args = sys.argv[1:]\n"
        f"with open({str(directory / 'calls')!r}, 'a') as f:\n"
        "    f.write(json.dumps(args) + '\\n')\n"
        f"if args[0] == 'info': sys.exit({info_status})\n"
        "if args[0] != 'exec': sys.exit(0)\n"
        "i, names, cwd = 1, [], '/'\n"
        "while args[i].startswith('--'):\n"
        "    if args[i] == '--env': names.append(args[i + 1])\n"
        "    if args[i] == '--workdir': cwd = args[i + 1]\n"
        "    i += 2\n"
        "env = {'PATH': '/usr/bin:/bin', **{n: os.environ[n] for n in names}}\n"
        "os.chdir(cwd)\n"
        "os.execvpe(args[i + 1], args[i + 1:], env)\n"
    )
    path.chmod(0o755)
    return path


@pytest.fixture
def engines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "bin"
    monkeypatch.setenv("PATH", f"{directory}:{os.environ['PATH']}")
    monkeypatch.setattr(sandbox, "_engine_cache", None)
    return directory


def test_an_engine_counts_only_when_it_answers(engines: Path) -> None:
    fake_engine(engines, "docker", info_status=1)  # a CLI without a daemon
    podman = fake_engine(engines, "podman", info_status=0)
    assert sandbox.container_engine() == str(podman)
    podman.unlink()
    assert sandbox.container_engine() == str(podman)  # cached for a while
    sandbox._engine_cache = None
    assert sandbox.container_engine() is None


def test_without_an_engine_the_host_runs_and_the_log_says_so_first(
    root: Path, engines: Path
) -> None:
    fake_engine(engines, "docker", info_status=1)
    built = run_build(
        root,
        "version: 0.2\nphases:\n  build:\n    commands: ['echo on host']\n",
        image="aws/codebuild/standard:7.0",
    )
    assert built.log.lines[0].endswith(
        "Running on the worker host (no container engine reachable); "
        "image aws/codebuild/standard:7.0 not used"
    )
    assert "on host" in built.log.lines


def test_with_an_engine_commands_run_in_the_image(root: Path, engines: Path) -> None:
    fake_engine(engines, "docker", info_status=0)
    built = run_build(
        root,
        "version: 0.2\nenv:\n  exported-variables: [OUT]\nphases:\n  build:\n    commands:\n"
        "      - export OUT=done; echo token=$TOKEN\n      - echo out=$OUT\n",
        image="public.ecr.aws/codebuild/amazonlinux2-x86_64-standard:5.0",
        environment={"TOKEN": "tok-999"},
        secrets=["tok-999"],
    )
    assert built.log.lines[0].endswith(
        "Running in image public.ecr.aws/codebuild/amazonlinux2-x86_64-standard:5.0 with docker"
    )
    assert "token=***" in built.log.lines and "out=done" in built.log.lines
    assert built.outcome.exported_variables == {"OUT": "done"}
    calls = [json.loads(line) for line in (engines / "calls").read_text().splitlines()]
    verbs = [call[0] for call in calls]
    assert verbs[:2] == ["info", "run"] and verbs[-1] == "rm"
    assert verbs.count("exec") == 3  # two commands and the exported variables
    assert not any("tok-999" in arg for call in calls for arg in call)  # values stay off argv
    assert ["--env", "TOKEN"] in [call[i : i + 2] for call in calls for i in range(len(call))]


def test_container_command_lines() -> None:
    workspace = Path("/srv/builds/p-1")
    assert sandbox.container_run_command(
        "/usr/bin/docker", "img:1", "stageline-p-1", workspace
    ) == [
        "/usr/bin/docker",
        "run",
        "--rm",
        "--detach",
        "--name",
        "stageline-p-1",
        "--label",
        "stageline.build=true",
        "--security-opt",
        "no-new-privileges",
        "--volume",
        "/srv/builds/p-1:/srv/builds/p-1",
        "--workdir",
        "/srv/builds/p-1",
        "--entrypoint",
        "/bin/sh",
        "img:1",
        "-c",
        sandbox.IDLE,
    ]
    container = sandbox.Container("podman", "stageline-p-1")
    assert sandbox.container_exec_command(
        container, workspace / "src", ["A", "B"], ["/bin/sh", "-c", "echo hi"]
    ) == [
        "podman",
        "exec",
        "--workdir",
        "/srv/builds/p-1/src",
        "--env",
        "A",
        "--env",
        "B",
        "stageline-p-1",
        "/bin/sh",
        "-c",
        "echo hi",
    ]
    assert sandbox.container_name("proj:7a/b") == "stageline-proj-7a-b"


def test_make_undumpable_is_safe_off_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    assert sandbox.make_undumpable() is False
