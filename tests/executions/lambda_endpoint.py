"""A small Lambda-compatible HTTP endpoint for the Lambda invoke action's tests.

It serves Lambda's Invoke REST API, `POST /2015-03-31/functions/{FunctionName}/invocations`
(FunctionName a name, or a full or partial ARN): 202 for an `Event` invocation (the function
then runs in a thread), 200 with the function's return value for `RequestResponse`, and 404
`ResourceNotFoundException` (in the `x-amzn-ErrorType` header, as Lambda answers) for a
function nobody registered. Its "functions" are Python callables the tests register; like real
ones, they call Stageline back with plain boto3. Every invocation is recorded with the SigV4
credential scope it was signed with.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from tests.support.servers import REGION

ACCOUNT_ID = "000000000000"  # Stageline's default STAGELINE_ACCOUNT_ID
_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")

Function = Callable[[dict[str, Any]], Any]


@dataclass
class Invocation:
    function: str
    invocation_type: str
    scope: str  # the SigV4 credential scope the caller signed with
    event: dict[str, Any]


@dataclass
class Registered:
    handler: Function
    before_answer: bool  # run before Invoke answers (a callback racing the invoking worker)
    error: tuple[int, str] | None = None  # Invoke answers this status and error type instead


@dataclass
class LambdaEndpoint:
    functions: dict[str, Registered] = field(default_factory=dict)
    invocations: list[Invocation] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def register(
        self,
        prefix: str,
        handler: Function,
        *,
        before_answer: bool = False,
        error: tuple[int, str] | None = None,
    ) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        self.functions[name] = Registered(handler, before_answer, error)
        return name

    def calls(self, name: str) -> list[Invocation]:
        with self.lock:
            return [i for i in self.invocations if i.function == name]

    def run(self, name: str, event: dict[str, Any]) -> Any:
        try:
            return self.functions[name].handler(event)
        except Exception:
            with self.lock:
                self.errors.append(f"function {name} raised:\n{traceback.format_exc()}")
            return {"errorMessage": "the test function raised"}


def _handler(endpoint: LambdaEndpoint) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return None

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            match = _PATH.match(urlsplit(self.path).path)
            if match is None:
                self._answer(404, {"message": f"no route {self.path}"}, "UnknownOperation")
                return
            name = unquote(match["name"])
            if ":function:" in name:  # a full or partial ARN, perhaps with a qualifier
                name = name.split(":function:", 1)[1].split(":", 1)[0]
            kind = self.headers.get("X-Amz-Invocation-Type") or "RequestResponse"
            auth = self.headers.get("Authorization") or ""
            scope = auth.split("Credential=", 1)[-1].split(",", 1)[0].split("/", 1)[-1]
            event = json.loads(body or b"{}")
            with endpoint.lock:
                endpoint.invocations.append(Invocation(name, kind, scope, event))
            registered = endpoint.functions.get(name)
            if registered is None:
                arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"
                message = f"Function not found: {arn}"
                self._answer(404, {"Type": "User", "message": message}, "ResourceNotFoundException")
            elif registered.error is not None:
                status, code = registered.error
                self._answer(status, {"Type": "Service", "message": f"{code} (test)"}, code)
            elif kind == "Event":
                if registered.before_answer:
                    endpoint.run(name, event)
                else:
                    threading.Thread(target=endpoint.run, args=(name, event), daemon=True).start()
                self._answer(202, None)
            else:
                self._answer(200, endpoint.run(name, event))

        def _answer(self, status: int, payload: Any, error: str | None = None) -> None:
            data = b"" if payload is None else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-Amz-Executed-Version", "$LATEST")
            if error:
                self.send_header("x-amzn-ErrorType", error)
            self.end_headers()
            self.wfile.write(data)

    return Handler


def serve(endpoint: LambdaEndpoint, sock: socket.socket) -> ThreadingHTTPServer:
    """Serve `endpoint` on an already listening socket, in a daemon thread. Stop it with
    `shutdown()` (not `server_close()`, which would close the caller's socket)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(endpoint), bind_and_activate=False)
    server.socket.close()
    server.socket = sock
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True, name="lambda-endpoint").start()
    return server
