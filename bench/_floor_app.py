"""The latency floor for bench/api_latency.py: a bare FastAPI app with one `POST /`.

It answers every AWS JSON call with a fixed body captured from a real Stageline server (chosen by
the operation in X-Amz-Target), so the bytes on the wire match Stageline's. It does no signature
check, no validation and no database work: what is left is uvicorn + FastAPI + boto3 itself.

Run by the benchmark as a subprocess:

    python bench/_floor_app.py --port 8123 --bodies bodies.json

where bodies.json maps operation names (GetPipeline, ListPipelines, CreatePipeline) to the
response bodies as text. uvicorn runs with the same settings `stageline serve` uses: default loop
and HTTP implementation, log level warning, no access log.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import uvicorn
from fastapi import FastAPI, Request, Response

CONTENT_TYPE = "application/x-amz-json-1.1"
REQUEST_ID = "00000000-0000-4000-8000-000000000000"  # Stageline sends a uuid4 here


def create_app(bodies: dict[str, bytes]) -> FastAPI:
    app = FastAPI()
    fallback = bodies["GetPipeline"]

    @app.post("/", include_in_schema=False)
    async def aws_json(request: Request) -> Response:
        await request.body()  # receive the request like a real endpoint would; no verification
        operation = request.headers.get("x-amz-target", "").partition(".")[2]
        return Response(
            content=bodies.get(operation, fallback),
            media_type=CONTENT_TYPE,
            headers={"x-amzn-RequestId": REQUEST_ID},
        )

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bodies", type=Path, required=True)
    args = parser.parse_args()
    raw = json.loads(args.bodies.read_text())
    bodies = {operation: text.encode() for operation, text in raw.items()}
    uvicorn.run(
        create_app(bodies), host=args.host, port=args.port, log_level="warning", access_log=False
    )


if __name__ == "__main__":
    main()
