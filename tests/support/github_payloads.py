"""Webhook deliveries as GitHub and GitLab send them: the payload shapes of their docs
("Webhook events and payloads": push, pull_request; GitLab "Webhook events": Push Hook, Tag
Push Hook, Merge Request Hook), trimmed of fields nobody reads, with the headers and the
signature the host would add. Tests post these to Stageline's receivers."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ZERO = "0" * 40


def _repository(full_name: str) -> dict[str, Any]:
    owner, _, name = full_name.partition("/")
    return {
        "id": 35129377,
        "node_id": "MDEwOlJlcG9zaXRvcnkzNTEyOTM3Nw==",
        "name": name,
        "full_name": full_name,
        "private": False,
        "owner": {"name": owner, "login": owner, "id": 21031067, "type": "User"},
        "html_url": f"https://github.com/{full_name}",
        "clone_url": f"https://github.com/{full_name}.git",
        "default_branch": "main",
    }


def _commit(sha: str, full_name: str, files: dict[str, list[str]] | None) -> dict[str, Any]:
    files = files or {}
    return {
        "id": sha,
        "tree_id": "f9d2a07e9488b91af2641b26b9407fe22a451433",
        "distinct": True,
        "message": "Update",
        "timestamp": "2026-11-27T12:00:00+00:00",
        "url": f"https://github.com/{full_name}/commit/{sha}",
        "author": {"name": "Octo Cat", "email": "octocat@github.com", "username": "octocat"},
        "committer": {"name": "GitHub", "email": "noreply@github.com", "username": "web-flow"},
        "added": files.get("added", []),
        "removed": files.get("removed", []),
        "modified": files.get("modified", []),
    }


def github_push(
    full_name: str,
    ref: str,
    before: str,
    after: str,
    files: dict[str, list[str]] | None = None,
    *,
    commits: int = 1,
) -> dict[str, Any]:
    """A `push` payload; `files` ({"added": [...], "modified": [...], "removed": [...]}) go in
    its last commit. `after` of all zeros is a deleted ref."""
    deleted = after == ZERO
    listed = [] if deleted else [_commit(f"{i:040x}", full_name, None) for i in range(commits - 1)]
    head = None if deleted else _commit(after, full_name, files)
    if head is not None:
        listed.append(head)
    return {
        "ref": ref,
        "before": before,
        "after": after,
        "repository": _repository(full_name),
        "pusher": {"name": "octocat", "email": "octocat@github.com"},
        "sender": {"login": "octocat", "id": 21031067, "type": "User"},
        "created": before == ZERO,
        "deleted": deleted,
        "forced": False,
        "base_ref": None,
        "compare": f"https://github.com/{full_name}/compare/{before[:12]}...{after[:12]}",
        "commits": listed,
        "head_commit": head,
    }


def github_pull_request(
    full_name: str,
    action: str,
    *,
    number: int,
    head_ref: str,
    head_sha: str,
    base_ref: str,
    base_sha: str,
) -> dict[str, Any]:
    repo = _repository(full_name)
    return {
        "action": action,
        "number": number,
        "pull_request": {
            "url": f"https://api.github.com/repos/{full_name}/pulls/{number}",
            "id": 1000 + number,
            "number": number,
            "state": "closed" if action == "closed" else "open",
            "title": "A change",
            "user": {"login": "octocat", "id": 21031067},
            "merged": action == "closed",
            "head": {
                "label": f"octocat:{head_ref}",
                "ref": head_ref,
                "sha": head_sha,
                "repo": repo,
            },
            "base": {
                "label": f"octocat:{base_ref}",
                "ref": base_ref,
                "sha": base_sha,
                "repo": repo,
            },
        },
        "repository": repo,
        "sender": {"login": "octocat", "id": 21031067, "type": "User"},
    }


def _project(full_name: str) -> dict[str, Any]:
    return {
        "id": 15,
        "name": full_name.rpartition("/")[2],
        "web_url": f"https://gitlab.example.com/{full_name}",
        "git_http_url": f"https://gitlab.example.com/{full_name}.git",
        "namespace": full_name.partition("/")[0],
        "path_with_namespace": full_name,
        "default_branch": "main",
    }


def gitlab_push(
    full_name: str,
    ref: str,
    before: str,
    after: str,
    files: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """A `Push Hook` payload (or, for refs/tags/..., a `Tag Push Hook` one)."""
    tag = ref.startswith("refs/tags/")
    deleted = after == ZERO
    commits = [] if deleted else [_commit(after, full_name, files)]
    return {
        "object_kind": "tag_push" if tag else "push",
        "event_name": "tag_push" if tag else "push",
        "before": before,
        "after": after,
        "ref": ref,
        "ref_protected": True,
        "checkout_sha": None if deleted else after,
        "user_id": 4,
        "user_name": "John Smith",
        "user_username": "jsmith",
        "project_id": 15,
        "project": _project(full_name),
        "commits": commits,
        "total_commits_count": len(commits),
        "repository": {"name": full_name.rpartition("/")[2]},
    }


def gitlab_merge_request(
    full_name: str,
    action: str,
    *,
    iid: int,
    source_branch: str,
    target_branch: str,
    last_commit: str,
    oldrev: str | None = None,
) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "id": 99,
        "iid": iid,
        "target_branch": target_branch,
        "source_branch": source_branch,
        "title": "MS-Viewport",
        "state": "merged" if action == "merge" else "opened",
        "merge_status": "unchecked",
        "last_commit": {"id": last_commit, "message": "fixed readme", "title": "fixed readme"},
        "action": action,
    }
    if oldrev is not None:
        attrs["oldrev"] = oldrev
    return {
        "object_kind": "merge_request",
        "event_type": "merge_request",
        "user": {"id": 1, "name": "Administrator", "username": "root"},
        "project": _project(full_name),
        "object_attributes": attrs,
        "repository": {"name": full_name.rpartition("/")[2]},
    }


def github_delivery(
    event: str, payload: dict[str, Any], secret: str | None
) -> tuple[bytes, dict[str, str]]:
    """The body and headers GitHub sends: X-Hub-Signature-256 (and the older SHA-1 one)."""
    body = json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/044aadd",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-GitHub-Hook-ID": "292430182",
    }
    if secret is not None:
        key = secret.encode()
        headers["X-Hub-Signature-256"] = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
        headers["X-Hub-Signature"] = "sha1=" + hmac.new(key, body, hashlib.sha1).hexdigest()
    return body, headers


def gitlab_delivery(
    event: str, payload: dict[str, Any], token: str | None
) -> tuple[bytes, dict[str, str]]:
    """The body and headers GitLab sends: the secret token verbatim in X-Gitlab-Token."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GitLab/17.0.0",
        "X-Gitlab-Event": event,
        "X-Gitlab-Event-UUID": str(uuid.uuid4()),
        "X-Gitlab-Instance": "https://gitlab.example.com",
    }
    if token is not None:
        headers["X-Gitlab-Token"] = token
    return json.dumps(payload).encode(), headers


class FakeGitHubApi:
    """A stand-in for GitHub's REST hooks API (`POST/DELETE /repos/{o}/{r}/hooks[/{id}]`) on a
    free local port: answers as GitHub does, demands `Bearer <token>`, records each call."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.calls: list[dict[str, Any]] = []
        self.hooks: dict[str, dict[str, Any]] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeGitHubApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: Any = None) -> None:
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                if body is not None:
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                call = {
                    "method": self.command,
                    "path": self.path,
                    "authorization": self.headers.get("Authorization"),
                    "body": json.loads(raw) if raw else None,
                }
                api.calls.append(call)
                if call["authorization"] != f"Bearer {api.token}":
                    return self._answer(401, {"message": "Bad credentials"})
                parts = self.path.strip("/").split("/")
                if len(parts) < 4 or parts[0] != "repos" or parts[3] != "hooks":
                    return self._answer(404, {"message": "Not Found"})
                if self.command == "POST" and len(parts) == 4:
                    hook_id = str(len(api.hooks) + 1000)
                    api.hooks[hook_id] = call["body"]
                    return self._answer(
                        201, {"id": int(hook_id), "type": "Repository", "active": True}
                    )
                if self.command == "DELETE" and len(parts) == 5:
                    if api.hooks.pop(parts[4], None) is None:
                        return self._answer(404, {"message": "Not Found"})
                    return self._answer(204)
                return self._answer(404, {"message": "Not Found"})

            do_POST = _handle
            do_DELETE = _handle

        return Handler
