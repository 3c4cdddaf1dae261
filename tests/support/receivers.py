"""A local HTTP receiver for webhook-style deliveries: records every request, and answers
500 to the first `fail_first` of them (to prove retries), 204 to the rest.

    with Receiver(fail_first=2) as receiver:
        ... receiver.url ...
        receiver.wait_for(3)            # at least 3 accepted requests
        receiver.accepted[0].json()
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import httpx


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    answered: int

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    def __init__(self, fail_first: int = 0, status_when_failing: int = 500) -> None:
        self.fail_first = fail_first
        self.status_when_failing = status_when_failing
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver._lock:
                    failing = len(receiver.requests) < receiver.fail_first
                    status = receiver.status_when_failing if failing else 204
                    receiver.requests.append(
                        Received(
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                            time.monotonic(),
                            status,
                        )
                    )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
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

    @property
    def accepted(self) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.answered < 300]

    def wait_for(self, count: int, timeout: float = 60, what: str = "requests") -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            accepted = self.accepted
            if len(accepted) >= count:
                return accepted
            time.sleep(0.1)
        raise AssertionError(
            f"the receiver got {len(self.accepted)} accepted {what} of {count} in {timeout:g} s "
            f"({len(self.requests)} requests in all)"
        )


class FakeGitHost:
    """A git host for commit-status tests: `/api/...` requests (GitHub's `/api/v3`, GitLab's
    `/api/v4` commit-status calls) are recorded and answered 201; everything else is relayed
    to a real git smart HTTP server (`upstream`), so the same endpoint serves clones."""

    def __init__(self, upstream: str) -> None:
        self.statuses: list[Received] = []
        host = self

        class Handler(BaseHTTPRequestHandler):
            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.path.startswith("/api/"):
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    host.statuses.append(Received(self.path, headers, body, time.monotonic(), 201))
                    self.send_response(201)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"{}")
                    return
                skip = {"host", "content-length", "connection"}
                forwarded = {k: v for k, v in self.headers.items() if k.lower() not in skip}
                answer = httpx.request(
                    self.command, upstream + self.path, content=body, headers=forwarded
                )
                self.send_response(answer.status_code)
                for key, value in answer.headers.items():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = _relay
            do_POST = _relay

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeGitHost:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
