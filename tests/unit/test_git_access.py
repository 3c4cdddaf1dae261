"""git_access against real remotes: bare repositories over file:// and git's smart HTTP server
demanding a token; remote_for over a real SQLite database with encrypted credentials."""

from __future__ import annotations

import os
import socket
import subprocess
import tarfile
import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from tests.support.git_server import GitHttpServer, GitRepo

from stageline.domain.arns import Arns
from stageline.domain.errors import ResourceNotFoundException, ServiceError
from stageline.persistence.db import Database
from stageline.persistence.models import Base
from stageline.services import git_access
from stageline.services.connections import ConnectionNotAvailable, ConnectionService
from stageline.services.git_access import GitError, GitRemote
from stageline.services.secret_box import SecretBox

ARNS = Arns("us-east-1", "000000000000")
TOKEN = "tok-unit-0123456789"


def remote(repo: GitRepo, endpoint: str, tmp_path: Path, token: str | None = None) -> GitRemote:
    return GitRemote(
        connection_arn="arn:aws:codeconnections:us-east-1:000000000000:connection/x",
        full_repository_id=repo.name,
        provider_type="GitLabSelfManaged",
        url=f"{endpoint}/{repo.name}",
        web_url=None,
        api_url=None,
        token=token,
        cache_root=tmp_path / "cache",
        endpoint=endpoint,
    )


def test_file_remote_heads_changes_and_commit_info(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path)
    first = repo.commit({"a.txt": "1", "lib/b.txt": "2"}, "first")
    second = repo.commit({"a.txt": None, "c.txt": "3"}, "second\n\nbody line")
    r = remote(repo, repo.file_url, tmp_path)
    assert git_access.head_commit(r, "main") == second
    assert git_access.head_commit(r, "nope") is None
    assert git_access.changed_paths(r, None, first) == ["a.txt", "lib/b.txt"]
    assert git_access.changed_paths(r, first, second) == ["a.txt", "c.txt"]
    info = git_access.commit_info(r, second)
    assert info.commit_id == second
    assert info.message == "second\n\nbody line"
    assert info.author_name == "Test Author"
    assert info.author_date.tzinfo is not None
    assert info.url is None


def test_archive_and_clone_at_a_pinned_commit(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path)
    old = repo.commit({"v.txt": "old"}, "old")
    repo.commit({"v.txt": "new"}, "new")
    r = remote(repo, repo.file_url, tmp_path)
    mirror = git_access.fetch(r, "main", old)
    archive = tmp_path / "tree.tar"
    git_access.archive(r, mirror, old, archive)
    with tarfile.open(archive) as tar:
        assert "v.txt" in tar.getnames()
        member = tar.extractfile("v.txt")
        assert member is not None and member.read() == b"old"
    dest = tmp_path / "clone"
    git_access.clone(r, mirror, "main", old, dest)
    assert (dest / "v.txt").read_text() == "old"
    log = subprocess.run(
        ["git", "log", "--format=%s"], cwd=dest, capture_output=True, text=True, check=True
    )
    assert log.stdout.split() == ["old"]
    origin = subprocess.run(
        ["git", "remote", "get-url", "origin"], cwd=dest, capture_output=True, text=True
    )
    assert origin.stdout.strip() == r.url


def test_http_remote_needs_the_token_and_never_shows_it(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path)
    sha = repo.commit({"x": "1"}, "x")
    with GitHttpServer(tmp_path, token=TOKEN) as http:
        assert git_access.head_commit(remote(repo, http.url, tmp_path, TOKEN), "main") == sha
        with pytest.raises(GitError) as refused:
            git_access.head_commit(remote(repo, http.url, tmp_path, "wrong-token-xyz"), "main")
        assert "wrong-token-xyz" not in str(refused.value)
        assert http.refused >= 1
        r = remote(repo, http.url, tmp_path, TOKEN)
        assert git_access.changed_paths(r, None, sha) == ["x"]


def test_remote_for_reads_encrypted_credentials(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    Base.metadata.create_all(db.engine)
    box = SecretBox(Fernet.generate_key())
    with db.unit_of_work() as uow:
        service = ConnectionService(uow.session, ARNS, box)
        host = service.create_host(
            "codeconnections",
            {
                "Name": "h",
                "ProviderType": "GitLabSelfManaged",
                "ProviderEndpoint": "https://g.example/",
            },
        )["HostArn"]
        arn = service.create_connection(
            "codeconnections", {"ConnectionName": "c", "HostArn": host}
        )["ConnectionArn"]
    with db.unit_of_work() as uow, pytest.raises(ConnectionNotAvailable):
        git_access.remote_for(uow.session, box, arn, "team/app")
    with db.unit_of_work() as uow:
        ConnectionService(uow.session, ARNS, box).complete(arn.rsplit("/", 1)[1], {"token": TOKEN})
    with db.unit_of_work() as uow:
        r = git_access.remote_for(uow.session, box, arn, "group/sub/app")
    assert r.url == "https://g.example/group/sub/app"
    assert r.web_url == "https://g.example/group/sub/app"
    assert r.api_url == "https://g.example/api/v4"
    assert r.token == TOKEN and TOKEN not in repr(r)
    with db.unit_of_work() as uow:
        assert git_access.webhook_secret(uow.session, box, arn.rsplit("/", 1)[1])
        with pytest.raises(ResourceNotFoundException):
            git_access.webhook_secret(uow.session, box, "missing")
        missing = arn[:-4] + "0000"
        with pytest.raises(ResourceNotFoundException):
            git_access.remote_for(uow.session, box, missing, "team/app")
        with pytest.raises(ServiceError):
            git_access.remote_for(uow.session, box, arn, "../etc")
    db.dispose()


def test_user_and_password_reach_the_server_as_basic_auth(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path)
    sha = repo.commit({"x": "1"}, "x")
    with GitHttpServer(tmp_path, token="pass-word-1") as http:
        r = remote(repo, http.url, tmp_path, "pass-word-1")
        with_user = GitRemote(**{**r.__dict__, "username": "ci-user"})
        assert git_access.head_commit(with_user, "main") == sha


def test_an_ssh_key_goes_to_a_private_file_that_is_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ssh itself is the outside world here: a stand-in records how git called it."""
    bin_dir, record = tmp_path / "bin", tmp_path / "ssh-call"
    bin_dir.mkdir()
    fake = bin_dir / "ssh"
    fake.write_text(
        "#!/bin/sh\n"
        'key=""; prev=""; for a in "$@"; do [ "$prev" = "-i" ] && key="$a"; prev="$a"; done\n'
        f'echo "$(stat -c %a "$key") $(cat "$key")" > {record}\n'
        "echo 'Permission denied (publickey).' >&2; exit 255\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(scratch))
    key = "-----BEGIN OPENSSH PRIVATE KEY-----\nSECRETKEYBODY\n-----END OPENSSH PRIVATE KEY-----\n"
    r = GitRemote(
        connection_arn="arn:aws:codeconnections:us-east-1:000000000000:connection/s",
        full_repository_id="team/app",
        provider_type="GitLabSelfManaged",
        url="ssh://git@git.example.invalid/team/app",
        web_url=None,
        api_url=None,
        ssh_key=key,
        endpoint="ssh://git@git.example.invalid",
    )
    with pytest.raises(GitError) as refused:
        git_access.head_commit(r, "main")
    assert "Permission denied" in str(refused.value) and "SECRETKEYBODY" not in str(refused.value)
    mode, content = record.read_text().split(" ", 1)
    assert mode == "600" and "OPENSSH PRIVATE KEY" in content
    assert list(scratch.iterdir()) == []  # the key's directory is gone


def test_cancelling_kills_a_git_command_that_hangs(tmp_path: Path) -> None:
    """A server that accepts and never answers: cancellation ends the fetch at once."""
    repo = GitRepo(tmp_path)
    with socket.create_server(("127.0.0.1", 0)) as silent:
        endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        with pytest.raises(GitError) as stopped:
            git_access.fetch(
                remote(repo, endpoint, tmp_path),
                "main",
                cancelled=lambda: time.monotonic() - started > 0.3,
            )
    assert "cancelled" in str(stopped.value)
    assert time.monotonic() - started < 10
