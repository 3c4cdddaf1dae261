"""Isolation of a build from the worker that runs it.

- Environment: only PATH, LANG, HOME and TMPDIR (both inside the workspace) and the build's
  own variables; never the worker's environment, which holds database URLs and keys.
- User: a worker running as root runs commands as STAGELINE_BUILD_USER (default `nobody`),
  without supplementary groups; the workspace is chowned to that user. Its parent directories
  must be searchable by that user: keep workspaces under a root made by
  `create_workspace_root` (mode 0711, outside the data directory), one
  `create_build_directory` (0700, owned by the build user) per build.
- A worker that is not root cannot switch users: `make_undumpable` keeps builds running as the
  same user from reading /proc/<worker>/environ.
- Container engine: when the build names an image and docker or podman answers, commands run
  in a container of that image (`run --rm`), the workspace mounted at the same path.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import re
import shutil
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_LANG = "C.UTF-8"
USER_SETTING = "STAGELINE_BUILD_USER"
DEFAULT_USER = "nobody"
CONTROL_DIR = ".stageline"  # HOME, TMPDIR and the shell session's state, inside the workspace
ENGINES = ("docker", "podman")
ENGINE_PROBE_SECONDS = 5.0
ENGINE_CACHE_SECONDS = 60.0
CONTAINER_START_SECONDS = 600.0  # pulling an image can take a while
PR_SET_DUMPABLE = 4
# The container's main process idles until the build ends; `exec` runs each command in it.
IDLE = "trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done"


class SandboxError(Exception):
    """The build cannot be isolated as configured; the message says what to change."""


@dataclass(frozen=True)
class BuildUser:
    name: str
    uid: int
    gid: int


@dataclass(frozen=True)
class BuildDirs:
    home: Path
    tmp: Path
    state: Path  # the shell session's exported variables and directory between commands


@dataclass(frozen=True)
class Container:
    engine: str  # the engine's executable
    name: str


def build_user() -> BuildUser | None:
    """The user commands run as when the worker is root; None when it is not (no switch)."""
    if os.geteuid() != 0:
        return None
    name = os.environ.get(USER_SETTING) or DEFAULT_USER
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise SandboxError(f"{USER_SETTING}={name}: no such user on this worker") from None
    if entry.pw_uid == 0:
        raise SandboxError(f"{USER_SETTING}={name}: builds must not run as root")
    return BuildUser(name, entry.pw_uid, entry.pw_gid)


def build_environment(
    environment: Mapping[str, str], dirs: BuildDirs, *, in_container: bool = False
) -> dict[str, str]:
    """The commands' whole environment. In a container the image's PATH and LANG stay."""
    base = {} if in_container else {"PATH": DEFAULT_PATH, "LANG": DEFAULT_LANG}
    return {**base, "HOME": str(dirs.home), "TMPDIR": str(dirs.tmp), **environment}


def prepare_workspace(workspace: Path, src_dir: Path, user: BuildUser | None) -> BuildDirs:
    """HOME, TMPDIR and state directories, and the workspace handed to the build user."""
    control = workspace / CONTROL_DIR
    dirs = BuildDirs(control / "home", control / "tmp", control / "state")
    for path in (dirs.home, dirs.tmp, dirs.state):
        path.mkdir(parents=True, exist_ok=True)
    if user is not None:
        check_reachable(workspace, user)
        chown_tree(workspace, user)
        if not src_dir.is_relative_to(workspace):
            check_reachable(src_dir, user)
            chown_tree(src_dir, user)
    return dirs


def create_workspace_root(path: Path) -> Path:
    """A root for build workspaces: 0711, so build users can pass through but not list it.
    Put it outside the data directory; every parent must be searchable by others."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o711)
    if os.geteuid() == 0:
        os.chown(path, 0, 0)
    if os.geteuid() == 0:  # builds will run as another user: it must get through
        for parent in path.resolve().parents:
            if not os.stat(parent).st_mode & stat.S_IXOTH:
                raise SandboxError(
                    f"{parent} is not searchable by others: build users cannot reach {path}"
                )
    return path


def create_build_directory(root: Path, build_id: str) -> Path:
    """One build's own directory under the workspace root: 0700, owned by the build user."""
    path = root / re.sub(r"[^A-Za-z0-9_.-]", "-", build_id).lstrip(".")
    path.mkdir(mode=0o700)
    user = build_user()
    if user is not None:
        os.chown(path, user.uid, user.gid)
    return path


def check_reachable(path: Path, user: BuildUser) -> None:
    """Every parent of `path` must let the build user search it, or its shell cannot even
    start there."""
    for parent in path.resolve().parents:
        info = os.stat(parent)
        if info.st_uid == user.uid:
            bit = stat.S_IXUSR
        elif info.st_gid == user.gid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not info.st_mode & bit:
            raise SandboxError(
                f"The build user {user.name} cannot reach {path}: {parent} is not searchable "
                "by it. Keep workspaces under a directory made by create_workspace_root "
                "(mode 0711), outside the data directory."
            )


def chown_tree(top: Path, user: BuildUser) -> None:
    """chown -R without following symbolic links (a source may contain links to anywhere)."""
    os.chown(top, user.uid, user.gid, follow_symlinks=False)
    for _, dirs, files, fd in os.fwalk(top, follow_symlinks=False):
        for name in (*dirs, *files):
            os.chown(name, user.uid, user.gid, dir_fd=fd, follow_symlinks=False)


_libc: ctypes.CDLL | None = None


def make_undumpable() -> bool:
    """prctl(PR_SET_DUMPABLE, 0): processes of the same user can no longer read this
    process's /proc files (environ, mem) nor ptrace it. False where unsupported."""
    global _libc
    if not sys.platform.startswith("linux"):
        return False
    try:
        _libc = _libc or ctypes.CDLL(None, use_errno=True)
        return bool(_libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


_engine_lock = threading.Lock()
_engine_cache: tuple[float, str | None] | None = None


def container_engine() -> str | None:
    """docker or podman, whichever answers `info` first (cached for a minute): a CLI without
    a reachable daemon does not count."""
    global _engine_cache
    with _engine_lock:
        now = time.monotonic()
        if _engine_cache is None or now - _engine_cache[0] > ENGINE_CACHE_SECONDS:
            _engine_cache = (now, _find_engine())
        return _engine_cache[1]


def _find_engine() -> str | None:
    for name in ENGINES:
        path = shutil.which(name)
        if path is None:
            continue
        try:
            probe = subprocess.run(
                [path, "info"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=ENGINE_PROBE_SECONDS,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.returncode == 0:
            return path
    return None


def container_name(build_id: str) -> str:
    return "stageline-" + re.sub(r"[^A-Za-z0-9_.-]", "-", build_id)[:100]


def container_run_command(engine: str, image: str, name: str, workspace: Path) -> list[str]:
    """Starts the build's container: removed when it stops, the workspace at the same path."""
    return [
        engine,
        "run",
        "--rm",
        "--detach",
        "--name",
        name,
        "--label",
        "stageline.build=true",
        "--security-opt",
        "no-new-privileges",
        "--volume",
        f"{workspace}:{workspace}",
        "--workdir",
        str(workspace),
        "--entrypoint",
        "/bin/sh",
        image,
        "-c",
        IDLE,
    ]


def container_exec_command(
    container: Container, cwd: Path, env_names: Sequence[str], argv: Sequence[str]
) -> list[str]:
    """One command in the container. `--env NAME` takes the value from the CLI's own
    environment, so values never appear on a command line (ps shows those to everyone)."""
    env = [part for name in env_names for part in ("--env", name)]
    return [container.engine, "exec", "--workdir", str(cwd), *env, container.name, *argv]


def start_container(engine: str, image: str, build_id: str, workspace: Path) -> Container:
    container = Container(engine, container_name(build_id))
    try:
        started = subprocess.run(
            container_run_command(engine, image, container.name, workspace),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=CONTAINER_START_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        remove_container(container)
        raise SandboxError(f"Cannot start image {image}: {exc}") from None
    if started.returncode != 0:
        error = started.stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise SandboxError(f"Cannot start image {image}: {' '.join(error)}")
    return container


def kill_container(container: Container) -> None:
    _engine_call(container.engine, "kill", container.name)


def remove_container(container: Container) -> None:
    _engine_call(container.engine, "rm", "--force", container.name)


def _engine_call(engine: str, *args: str) -> None:
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        subprocess.run(
            [engine, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
            check=False,
        )
