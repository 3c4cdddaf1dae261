"""Reading git repositories through a connection: the `git` CLI, a bare mirror cache, and the
connection's credentials handed to git through the environment only.

A token or user/password becomes an `http.<endpoint>/.extraHeader` set through GIT_CONFIG_*
variables — scoped to the provider's endpoint, so submodules on other hosts never see it; an
SSH key goes to a 0600 file named by GIT_SSH_COMMAND and removed afterwards. Nothing secret is
ever on a command line, in a log line or in an error message (git's own messages are scrubbed of
the token before they are shown). Mirrors live under `<cache root>/<hash of connection + url>`
so one connection never reads objects another connection fetched.

Commit ids and branch names come from callers (API requests, webhook payloads): every entry
point admits only full hex commit ids and valid branch names (`_commit`, `_branch`), and puts
`--end-of-options` (or `--`) before them, so no value is ever read by git as an option.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from stageline.domain import connections as rules
from stageline.domain.arns import Arns
from stageline.domain.errors import ValidationException
from stageline.domain.git_events import branch_problem, is_commit_id
from stageline.services.connections import ConnectionNotAvailable, ConnectionService
from stageline.services.secret_box import SecretBox

DEFAULT_CACHE_ROOT = Path(tempfile.gettempdir()) / "stageline-git-cache"
GIT_TIMEOUT_SECONDS = 900.0
CANCEL_CHECK_SECONDS = 0.5
_SEP = "\x1f"


class GitError(Exception):
    """A git command failed; the message is safe to show (no credentials)."""


class UnsafeGitArgument(GitError):
    """A commit id or branch name that is not one; git never sees it."""


@dataclass(frozen=True)
class GitRemote:
    connection_arn: str
    full_repository_id: str  # e.g. "team/app"
    provider_type: str
    url: str  # clone URL: <ProviderEndpoint>/<FullRepositoryId>
    web_url: str | None  # base for browser links; None for file:// and ssh remotes
    api_url: str | None  # commit-status API base; None if unknown
    token: str | None = field(default=None, repr=False)  # decrypted credential; never logged
    # Beside the token: "basic" credentials carry a user name, "ssh" a private key.
    username: str | None = field(default=None, repr=False, compare=False)
    ssh_key: str | None = field(default=None, repr=False, compare=False)
    cache_root: Path | None = field(default=None, repr=False, compare=False)
    endpoint: str | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class CommitInfo:
    commit_id: str
    message: str
    author_name: str
    author_date: datetime
    url: str | None  # link to the commit page, None where there is no web UI


def remote_for(
    session: Session,
    box: SecretBox,
    connection_arn: str,
    full_repository_id: str,
    *,
    cache_root: Path | None = None,
) -> GitRemote:
    """The repository `full_repository_id` through an AVAILABLE connection; ServiceErrors for
    unknown (ResourceNotFoundException) or unusable (ResourceUnavailableException) ones."""
    problem = rules.repository_problem(full_repository_id)
    if problem:
        raise ValidationException(problem)
    service = ConnectionService(session, _arns_of(connection_arn), box)
    row = service.find_connection(connection_arn)
    if row.status != rules.AVAILABLE:
        raise ConnectionNotAvailable(
            f"Connection {connection_arn} is {row.status}: complete it with "
            "`stageline connections complete` (or PUT /api/v1/connections/"
            f"{row.connection_id}/credentials) before using it."
        )
    endpoint = row.host.provider_endpoint if row.host else rules.PUBLIC_ENDPOINTS[row.provider_type]
    secret = service.credential(row)
    web = rules.web_url(endpoint, row.provider_type, full_repository_id)
    return GitRemote(
        connection_arn=connection_arn,
        full_repository_id=full_repository_id,
        provider_type=row.provider_type,
        url=_clone_url(endpoint, full_repository_id),
        web_url=web,
        api_url=rules.api_url(endpoint, row.provider_type),
        token=secret.get("token") or secret.get("password"),
        username=secret.get("username"),
        ssh_key=secret.get("ssh_key"),
        cache_root=cache_root,
        endpoint=endpoint,
    )


def webhook_secret(session: Session, box: SecretBox, connection_id: str) -> str:
    """The connection's webhook secret; ResourceNotFoundException for an unknown one."""
    return ConnectionService(session, Arns("", ""), box).webhook_secret(connection_id)


def head_commit(remote: GitRemote, branch: str) -> str | None:
    """The branch's commit on the remote (git ls-remote); None when there is no such branch."""
    _branch(branch)
    out = _git(
        remote, ["ls-remote", "--heads", "--end-of-options", remote.url, f"refs/heads/{branch}"]
    )
    for line in out.splitlines():
        sha, _, ref = line.partition("\t")
        if ref == f"refs/heads/{branch}":
            return sha
    return None


def fetch(
    remote: GitRemote,
    branch: str,
    commit: str | None = None,
    *,
    cancelled: Callable[[], bool] | None = None,
) -> Path:
    """Bring `branch` (and `commit`, when it is not on the branch) into the mirror; its path."""
    _branch(branch)
    if commit is not None:
        _commit(commit)
    with _mirror(remote) as mirror:
        refspec = f"+refs/heads/{branch}:refs/heads/{branch}"
        fetch_branch = ["fetch", "--quiet", "--prune", "--tags", *_FROM_ORIGIN, refspec]
        _git(remote, fetch_branch, cwd=mirror, cancelled=cancelled)
        if commit is not None and not has_commit(mirror, commit):
            # A commit no branch holds any more: servers allowing it serve it by id.
            with suppress(GitError):
                _git(remote, ["fetch", "--quiet", *_FROM_ORIGIN, commit], mirror, cancelled)
        return mirror


def has_commit(mirror: Path, commit: str) -> bool:
    _commit(commit)
    done = subprocess.run(
        ["git", "cat-file", "-e", "--end-of-options", f"{commit}^{{commit}}"],
        cwd=mirror,
        env=_base_env(),
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


def changed_paths(remote: GitRemote, old: str | None, new: str) -> list[str]:
    """Files changed between two commits (every file of `new` when old is None)."""
    mirror = _ensure_commits(remote, [c for c in (old, new) if c is not None])
    if old is None:
        args = ["ls-tree", "-r", "--name-only", "-z", "--end-of-options", new]
    else:
        args = ["diff", "--name-only", "-z", "--no-renames", "--end-of-options", old, new, "--"]
    out = _git(remote, args, cwd=mirror)
    return sorted(p for p in out.split("\0") if p)


def commit_info(remote: GitRemote, commit: str) -> CommitInfo:
    mirror = _ensure_commits(remote, [commit])
    fmt = _SEP.join(["%H", "%an", "%aI", "%B"])
    args = ["show", "-s", f"--format={fmt}", "--end-of-options", commit, "--"]
    out = _git(remote, args, cwd=mirror)
    sha, author, date, message = out.split(_SEP, 3)
    return CommitInfo(
        commit_id=sha,
        message=message.strip(),
        author_name=author,
        author_date=datetime.fromisoformat(date),
        url=rules.commit_url(remote.web_url, remote.provider_type, sha),
    )


def archive(remote: GitRemote, mirror: Path, commit: str, dest: Path) -> None:
    """The tree of `commit`, without .git, as a tar file at `dest`."""
    _commit(commit)
    args = ["archive", "--format=tar", f"--output={dest}", "--end-of-options", commit]
    _git(remote, args, cwd=mirror)


def clone(
    remote: GitRemote,
    mirror: Path,
    branch: str,
    commit: str,
    dest: Path,
    *,
    cancelled: Callable[[], bool] | None = None,
) -> None:
    """A full clone at `commit` on `branch` with .git and submodules, origin set to the
    remote's URL (no credentials in it)."""
    _branch(branch)
    _commit(commit)
    clone_args = ["clone", "--quiet", "--no-checkout", "--", str(mirror), str(dest)]
    _git(remote, clone_args, None, cancelled)
    _git(remote, ["remote", "set-url", "--", "origin", remote.url], cwd=dest)
    # checkout takes no --end-of-options; both values are checked, and `--` ends the revision.
    _git(remote, ["checkout", "--quiet", "-B", branch, commit, "--"], cwd=dest)
    if (dest / ".gitmodules").exists():
        submodules = ["submodule", "update", "--quiet", "--init", "--recursive"]
        _git(remote, submodules, cwd=dest, cancelled=cancelled)


# --- internals ----------------------------------------------------------------------------

_FROM_ORIGIN = ("--end-of-options", "origin")


def _commit(value: str) -> str:
    if not is_commit_id(value):
        raise UnsafeGitArgument(
            f"{str(value)[:100]!r} is not a full commit id (40 or 64 hexadecimal digits)."
        )
    return value


def _branch(value: str) -> str:
    problem = branch_problem(value) if isinstance(value, str) else "not a branch name"
    if problem:
        raise UnsafeGitArgument(problem)
    return value


def _arns_of(arn: str) -> Arns:
    """The region and account a connection ARN names (lookups by id need nothing more)."""
    name = rules.parse_arn(arn)
    return Arns(name.region, name.account) if name else Arns("", "")


def _clone_url(endpoint: str, full_repository_id: str) -> str:
    url = rules.repository_url(endpoint, full_repository_id)
    parts = urlsplit(url)
    # Bare repositories on disk are usually "<name>.git"; git itself finds either form.
    if parts.scheme == "file" and not Path(parts.path).exists():
        return url + ".git" if Path(parts.path + ".git").exists() else url
    return url


def _base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "STAGELINE_"))}
    env.update(GIT_TERMINAL_PROMPT="0", GIT_CONFIG_NOSYSTEM="1", GIT_ASKPASS="/bin/false")
    env.setdefault("HOME", tempfile.gettempdir())
    return env


@contextmanager
def _credentials_env(remote: GitRemote) -> Iterator[dict[str, str]]:
    env = _base_env()
    config: list[tuple[str, str]] = []
    if urlsplit(remote.url).scheme == "file":
        # Submodules of an on-disk repository live on disk too; for any other remote git's
        # default keeps a repository's submodules from reading the worker's files.
        config.append(("protocol.file.allow", "always"))
    keydir: str | None = None
    if remote.token and remote.endpoint:
        user = remote.username or rules.token_username(remote.provider_type)
        basic = base64.b64encode(f"{user}:{remote.token}".encode()).decode()
        scope = remote.endpoint.rstrip("/") + "/"
        config.append((f"http.{scope}.extraHeader", f"Authorization: Basic {basic}"))
    if remote.ssh_key:
        keydir = tempfile.mkdtemp(prefix="stageline-ssh-")
        key = Path(keydir) / "key"
        key.touch(mode=0o600)
        key.write_text(remote.ssh_key)
        known = Path(keydir) / "known_hosts"
        env["GIT_SSH_COMMAND"] = (
            f"ssh -i {key} -o IdentitiesOnly=yes -o BatchMode=yes "
            f"-o StrictHostKeyChecking=accept-new -o UserKnownHostsFile={known}"
        )
    env["GIT_CONFIG_COUNT"] = str(len(config))
    for index, (key_name, value) in enumerate(config):
        env[f"GIT_CONFIG_KEY_{index}"] = key_name
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    try:
        yield env
    finally:
        if keydir is not None:
            shutil.rmtree(keydir, ignore_errors=True)


def _git(
    remote: GitRemote,
    args: list[str],
    cwd: Path | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> str:
    """Run git; a timeout or `cancelled()` kills its whole process group (ssh, helpers)."""
    with _credentials_env(remote) as env:
        process = subprocess.Popen(
            ["git", *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        deadline = time.monotonic() + GIT_TIMEOUT_SECONDS
        while True:
            try:
                out, err = process.communicate(timeout=CANCEL_CHECK_SECONDS)
                break
            except subprocess.TimeoutExpired:
                stopped = cancelled is not None and cancelled()
                if stopped or time.monotonic() > deadline:
                    _kill(process)
                    why = "was cancelled" if stopped else f"took over {GIT_TIMEOUT_SECONDS:.0f}s"
                    raise GitError(f"git {args[0]} {why}") from None
    if process.returncode != 0:
        raise GitError(_scrub(remote, err.strip() or f"git {args[0]} failed"))
    return out


def _kill(process: subprocess.Popen[str]) -> None:
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.communicate()


def _scrub(remote: GitRemote, text: str) -> str:
    for secret in (remote.token, remote.ssh_key):
        if secret:
            text = text.replace(secret, "****")
    return text[-2000:]


@contextmanager
def _mirror(remote: GitRemote) -> Iterator[Path]:
    """The remote's bare mirror, locked against other fetches (threads and processes)."""
    root = remote.cache_root or DEFAULT_CACHE_ROOT
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    digest = hashlib.sha256(f"{remote.connection_arn}\n{remote.url}".encode()).hexdigest()[:32]
    path = root / f"{digest}.git"
    with open(root / f"{digest}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (path / "HEAD").exists():
                shutil.rmtree(path, ignore_errors=True)
                _git(remote, ["init", "--quiet", "--bare", str(path)])
                _git(remote, ["remote", "add", "origin", remote.url], cwd=path)
            yield path
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _ensure_commits(remote: GitRemote, commits: Sequence[str]) -> Path:
    """The mirror holding every commit of `commits` (fetched by id or with all branches)."""
    for commit in commits:
        _commit(commit)
    with _mirror(remote) as mirror:
        missing = [c for c in commits if not has_commit(mirror, c)]
        if missing:
            _git(
                remote,
                ["fetch", "--quiet", "--tags", *_FROM_ORIGIN, "+refs/heads/*:refs/heads/*"],
                cwd=mirror,
            )
        for commit in missing:
            if not has_commit(mirror, commit):
                try:
                    _git(remote, ["fetch", "--quiet", *_FROM_ORIGIN, commit], cwd=mirror)
                except GitError:
                    raise GitError(f"Commit {commit} is not in {remote.url}") from None
        return mirror
