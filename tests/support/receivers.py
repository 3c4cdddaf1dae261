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
