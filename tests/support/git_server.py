"""Real git remotes for tests: bare repositories on disk (file://) and git's smart HTTP
server (`git http-backend` behind a small threaded HTTP bridge), optionally demanding a token.

    repo = GitRepo(tmp_path, "team/app")
    sha = repo.commit({"README.md": "hello"}, "first")
    endpoint = repo.file_url                      # ProviderEndpoint for file:// hosts
    with GitHttpServer(tmp_path, token="s3cr3t") as http:
        endpoint = http.url                       # ProviderEndpoint over smart HTTP
"""

from __future__ import annotations

import base64
import hmac
import os
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

_GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "Test Author",
    "GIT_COMMITTER_EMAIL": "author@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_TERMINAL_PROMPT": "0",
}


def git(*args: str, cwd: Path | None = None) -> str:
    env = {**os.environ, **_GIT_ENV}
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


class GitRepo:
    """A bare repository `<root>/git/<name>.git` plus a working clone used to commit."""

    def __init__(self, root: Path, name: str = "team/app", *, suffix: str = ".git") -> None:
        """`suffix=""` stores the bare repository without `.git` (both forms are found)."""
        self.root = Path(root)
        self.name = name
        self.bare = self.root / "git" / f"{name}{suffix}"
        self.work = self.root / "git-work" / name
        self.bare.mkdir(parents=True, exist_ok=True)
        git("init", "--bare", "--initial-branch=main", str(self.bare))
        # Served over HTTP: allow pushes and fetching by any sha (pinned revisions).
        git("config", "http.receivepack", "true", cwd=self.bare)
        git("config", "uploadpack.allowAnySHA1InWant", "true", cwd=self.bare)
        self.work.mkdir(parents=True, exist_ok=True)
        git("init", "--initial-branch=main", str(self.work))
        git("remote", "add", "origin", str(self.bare), cwd=self.work)
        self._branches: set[str] = set()

    @property
    def file_url(self) -> str:
        """The ProviderEndpoint of a file:// host: the repository is `<file_url>/<name>`."""
        return (self.root / "git").as_uri()

    @property
    def url(self) -> str:
        return self.bare.as_uri()

    def commit(self, files: dict[str, str | None], message: str, branch: str = "main") -> str:
        """Write (or delete, for None) files on `branch`, commit, push; the new sha."""
        if branch in self._branches:
            git("checkout", "-q", branch, cwd=self.work)
        elif not self._branches:
            git("symbolic-ref", "HEAD", f"refs/heads/{branch}", cwd=self.work)
        else:
            base = "main" if "main" in self._branches else "HEAD"
            git("checkout", "-q", "-b", branch, base, cwd=self.work)
        self._branches.add(branch)
        for path, content in files.items():
            target = self.work / path
            if content is None:
                git("rm", "-q", "--", path, cwd=self.work)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
            git("add", "--", path, cwd=self.work)
        git("commit", "-q", "--allow-empty", "-m", message, cwd=self.work)
        git("push", "-q", "origin", f"HEAD:refs/heads/{branch}", cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work).strip()

    def tag(self, name: str, commit: str) -> None:
        git("tag", "-f", name, commit, cwd=self.work)
        git("push", "-q", "-f", "origin", f"refs/tags/{name}", cwd=self.work)

    def delete_branch(self, branch: str) -> None:
        git("push", "-q", "origin", f":refs/heads/{branch}", cwd=self.work)


class _Handler(BaseHTTPRequestHandler):
    server: _GitHTTPServer

    def log_message(self, format: str, *args: object) -> None:  # quiet tests
        pass

    def _authorized(self) -> bool:
        token = self.server.token
        if token is None:
            return True
        header = self.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            return hmac.compare_digest(value.encode(), token.encode())
        if scheme.lower() == "basic":
            try:
                _, _, password = base64.b64decode(value).decode().partition(":")
            except ValueError:
                return False
            return hmac.compare_digest(password.encode(), token.encode())
        return False

    def _serve(self) -> None:
        self.server.requests.append(f"{self.command} {self.path}")
        if not self._authorized():
            self.server.refused += 1
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        env = {
            **os.environ,
            "GIT_PROJECT_ROOT": str(self.server.git_root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": parts.path,
            "QUERY_STRING": parts.query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": self.client_address[0],
            "REMOTE_USER": "git",
            "HTTP_GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
        }
        done = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True, check=False
        )
        head, _, payload = done.stdout.partition(b"\r\n\r\n")
        if not _:
            head, _, payload = done.stdout.partition(b"\n\n")
        status = 200
        headers: list[tuple[str, str]] = []
        for line in head.decode("latin-1").splitlines():
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.strip().split()[0])
            elif key:
                headers.append((key, value.strip()))
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = _serve
    do_POST = _serve


class _GitHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, git_root: Path, token: str | None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.git_root = git_root
        self.token = token
        self.refused = 0
        self.requests: list[str] = []


class GitHttpServer:
    """Git smart HTTP for every repository under `<root>/git`; with `token`, requests need
    `Authorization: Basic <any user>:<token>` or `Bearer <token>` (else 401)."""

    def __init__(self, root: Path, token: str | None = None) -> None:
        self._server = _GitHTTPServer(Path(root) / "git", token)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The ProviderEndpoint: repositories are at `<url>/<name>` or `<url>/<name>.git`."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def refused(self) -> int:
        """How many requests were turned away for a missing or wrong token."""
        return self._server.refused

    @property
    def requests(self) -> list[str]:
        return list(self._server.requests)

    def __enter__(self) -> GitHttpServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
