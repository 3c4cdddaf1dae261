"""End-to-end latency of Stageline's AWS JSON API against a bare FastAPI floor, plus SigV4 cost.

    python bench/api_latency.py [--requests N] [--creates M] [--backend sqlite|postgres|both]

Starts real `stageline serve` processes (SQLite and/or a fresh Postgres database on
127.0.0.1:5432), and a bare FastAPI app (bench/_floor_app.py) under the same uvicorn settings
that answers with bodies captured from Stageline. One boto3 client per target (retries off)
times GetPipeline, ListPipelines (100 pipelines present, default page) and CreatePipeline; the
targets are interleaved in blocks so machine noise hits them alike. SigV4 verification is timed
in-process on a request boto3 really sent. Prints a table with PASS/MISS against the targets;
always exits 0 (it is a report, not a test). See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from tests.support.pipelines import two_stage, unique  # noqa: E402
from tests.support.servers import (  # noqa: E402
    ACCESS_KEY_ID,
    REGION,
    SECRET_ACCESS_KEY,
    free_port,
    postgres_database,
    running_server,
    server_env,
)

LIST_SIZE = 100  # pipelines present while ListPipelines is timed
MAX_PIPELINES = 1000  # Stageline's (and AWS's) per-account quota
WARMUP = 30  # untimed calls per operation and target
# Each target holds LIST_SIZE pipelines + 1 captured create + warm-up creates + timed creates.
MAX_CREATES = MAX_PIPELINES - LIST_SIZE - 1 - WARMUP
BLOCK = 25  # calls per target before switching to the next one
SIGV4_CALLS = 20_000
SIGV4_WARMUP = 2_000

TARGETS = {  # operation -> the most its p50 may be, as a multiple of the floor's p50
    "GetPipeline": 1.5,
    "ListPipelines": 2.0,
}
SIGV4_P99_MS = 0.2
FLOOR_APP = Path(__file__).with_name("_floor_app.py")


# --------------------------------------------------------------------------------------------
# Output helpers


_TTY = sys.stderr.isatty()


def progress(text: str) -> None:
    """A counter line on stderr, rewritten in place (only on a terminal)."""
    if _TTY:
        sys.stderr.write(f"\r\033[K{text}")
        sys.stderr.flush()


def progress_done(text: str) -> None:
    sys.stderr.write(f"\r\033[K{text}\n" if _TTY else f"{text}\n")
    sys.stderr.flush()


def cpu_seconds(pid: int) -> float | None:
    """CPU time of a process, all threads: nanosecond run time from schedstat where the kernel
    has it (threads alive now), else user + system clock ticks from /proc/<pid>/stat."""
    try:
        total = 0
        for task in Path(f"/proc/{pid}/task").iterdir():
            with suppress(FileNotFoundError):  # a thread that just ended
                total += int((task / "schedstat").read_text().split()[0])
        return total / 1e9
    except (OSError, ValueError, IndexError):
        pass
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(sorted_ns: list[int], p: float) -> float:
    """Nearest-rank percentile, in milliseconds."""
    rank = max(1, math.ceil(p / 100 * len(sorted_ns)))
    return sorted_ns[rank - 1] / 1e6


@dataclass
class Stats:
    n: int
    p50: float
    p90: float
    p99: float
    cpu_ms: float | None = None  # server process CPU per call, ms

    @classmethod
    def of(cls, samples_ns: list[int], cpu_s: float | None = None) -> Stats:
        s = sorted(samples_ns)
        cpu = None if cpu_s is None else cpu_s * 1000 / len(s)
        return cls(len(s), percentile(s, 50), percentile(s, 90), percentile(s, 99), cpu)


# --------------------------------------------------------------------------------------------
# Processes


def make_client(url: str) -> Any:
    return boto3.session.Session().client(
        "codepipeline",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
    )


@contextmanager
def stageline(backend: str, work: Path) -> Iterator[tuple[str, int]]:
    """A running `stageline serve` on `backend`; yields its URL and pid."""
    with ExitStack() as stack:
        database_url = stack.enter_context(postgres_database()) if backend == "postgres" else None
        data_dir = work / backend
        env = server_env(data_dir, database_url)
        env["STAGELINE_VALIDATE_RESPONSES"] = "0"  # a test aid, off in production
        server = stack.enter_context(running_server(data_dir, database_url, env=env))
        yield server.url, server.process.pid


@contextmanager
def floor_server(bodies: dict[str, bytes], work: Path) -> Iterator[tuple[str, int]]:
    """bench/_floor_app.py in a subprocess, answering with `bodies`; yields its URL and pid."""
    bodies_path = work / "floor-bodies.json"
    bodies_path.write_text(json.dumps({k: v.decode() for k, v in bodies.items()}))
    port = free_port()
    log_path = work / "floor.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, str(FLOOR_APP), "--port", str(port), "--bodies", str(bodies_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"floor app exited early:\n{log_path.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("floor app did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --------------------------------------------------------------------------------------------
# Setup and capture


class Capture:
    """Raw response bodies (after-call) and prepared requests (before-send) of one client."""

    def __init__(self, client: Any) -> None:
        self.bodies: dict[str, bytes] = {}
        self.requests: dict[str, Any] = {}
        client.meta.events.register("after-call.codepipeline.*", self._after_call)
        client.meta.events.register("before-send.codepipeline.*", self._before_send)
        self._client = client

    def _after_call(self, http_response: Any, model: Any, **_: Any) -> None:
        self.bodies[model.name] = http_response.content

    def _before_send(self, request: Any, **_: Any) -> None:
        target = request.headers.get("X-Amz-Target", b"")
        target = target.decode() if isinstance(target, bytes) else target
        self.requests[target.partition(".")[2]] = request

    def close(self) -> None:
        self._client.meta.events.unregister("after-call.codepipeline.*", self._after_call)
        self._client.meta.events.unregister("before-send.codepipeline.*", self._before_send)


def populate(client: Any, label: str) -> str:
    """Create LIST_SIZE pipelines; return the name of the one GetPipeline reads."""
    names = sorted(unique("bench") for _ in range(LIST_SIZE))
    for i, name in enumerate(names, 1):
        client.create_pipeline(pipeline=two_stage(name))
        if i % 10 == 0:
            progress(f"setup {label}: created {i}/{LIST_SIZE} pipelines")
    listed = client.list_pipelines()
    assert len(listed["pipelines"]) == LIST_SIZE and "nextToken" not in listed, listed.keys()
    return names[LIST_SIZE // 2]


def quiesce(pids: dict[str, int], timeout: float = 15.0) -> None:
    """Wait until no server burns CPU (e.g. the runs CreatePipeline starts have finished)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = {label: cpu_seconds(pid) for label, pid in pids.items()}
        time.sleep(0.3)
        busy = [
            label
            for label, pid in pids.items()
            if (now := cpu_seconds(pid)) is not None
            and (then := before[label]) is not None
            and now - then > 0.006  # over 2% of a core
        ]
        if not busy:
            return
        progress(f"waiting for {', '.join(busy)} to go idle")


# --------------------------------------------------------------------------------------------
# Measurement


@dataclass
class Operation:
    name: str
    count: int
    prepare: Callable[[str, int], dict[str, Any]]  # (target label, i) -> kwargs, untimed
    method: str  # boto3 client method


def measure(op: Operation, clients: dict[str, Any], pids: dict[str, int]) -> dict[str, Stats]:
    """Time op.count calls per target, interleaved in blocks; also the server CPU they cost."""
    samples: dict[str, list[int]] = {label: [] for label in clients}
    cpu: dict[str, float | None] = {label: 0.0 for label in clients}
    for label, client in clients.items():
        call = getattr(client, op.method)
        for i in range(WARMUP):
            call(**op.prepare(label, -1 - i))
    order = list(clients)
    clock = time.perf_counter_ns
    for block, start in enumerate(range(0, op.count, BLOCK)):
        rotated = order[block % len(order) :] + order[: block % len(order)]
        for label in rotated:
            call = getattr(clients[label], op.method)
            out = samples[label]
            before = cpu_seconds(pids[label])
            for i in range(start, min(op.count, start + BLOCK)):
                kwargs = op.prepare(label, i)
                t0 = clock()
                call(**kwargs)
                out.append(clock() - t0)
            after = cpu_seconds(pids[label])
            if before is None or after is None or cpu[label] is None:
                cpu[label] = None
            else:
                cpu[label] = cpu[label] + after - before  # type: ignore[operator]
        progress(f"{op.name}: {min(op.count, start + BLOCK)}/{op.count} calls per target")
    progress_done(f"{op.name}: {op.count} calls per target on {', '.join(order)}")
    return {label: Stats.of(samples[label], cpu[label]) for label in clients}


def measure_sigv4(request: Any) -> Stats:
    """Time stageline.aws.sigv4.verify on a request boto3 really sent, as the router sees it."""
    from starlette.datastructures import Headers

    from stageline.aws import sigv4

    def latin1(value: str | bytes) -> bytes:
        return value if isinstance(value, bytes) else value.encode("latin-1")

    # What uvicorn hands the router: lower-cased raw headers, plus the ones urllib3 adds.
    host = request.url.split("://", 1)[1].split("/", 1)[0]
    raw = [(b"host", host.encode()), (b"accept-encoding", b"identity")]
    raw += [(latin1(name.lower()), latin1(value)) for name, value in request.headers.items()]
    body = request.body if isinstance(request.body, bytes) else (request.body or b"")
    signed = sigv4.SignedRequest("POST", "/", "", Headers(raw=raw), body)
    secrets = {ACCESS_KEY_ID: SECRET_ACCESS_KEY}

    def lookup(access_key_id: str) -> str | None:  # as KeyStore.secret_for does it
        return secrets.get(access_key_id)

    verify = sigv4.verify
    assert verify(signed, lookup).access_key_id == ACCESS_KEY_ID
    for _ in range(SIGV4_WARMUP):
        verify(signed, lookup)
    clock = time.perf_counter_ns
    out: list[int] = []
    for i in range(SIGV4_CALLS):
        t0 = clock()
        verify(signed, lookup)
        out.append(clock() - t0)
        if i % 5000 == 0:
            progress(f"SigV4 verify: {i}/{SIGV4_CALLS}")
    progress_done(f"SigV4 verify: {SIGV4_CALLS} calls ({len(body)}-byte body)")
    return Stats.of(out)


# --------------------------------------------------------------------------------------------
# Report

HEADER = ["operation", "backend", "n", "p50 ms", "p90 ms", "p99 ms", "srv cpu ms",
          "floor p50", "ratio", "target", "result"]  # fmt: skip
LEFT = {"operation", "backend", "target"}


def table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [HEADER, *rows]) for i in range(len(HEADER))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if h in LEFT else c.rjust(w)
            for h, c, w in zip(HEADER, cells, widths, strict=True)
        ).rstrip()

    return "\n".join([line(HEADER), line(["-" * w for w in widths]), *map(line, rows)])


def api_rows(name: str, results: dict[str, Stats], backends: list[str]) -> list[list[str]]:
    floor = results["floor"]
    limit = TARGETS.get(name)
    rows = []
    for label in ["floor", *backends]:
        s = results[label]
        cells = [name, label, str(s.n), f"{s.p50:.3f}", f"{s.p90:.3f}", f"{s.p99:.3f}",
                 "?" if s.cpu_ms is None else f"{s.cpu_ms:.3f}"]  # fmt: skip
        if label == "floor":
            rows.append([*cells, "", "", "", ""])
            continue
        ratio = s.p50 / floor.p50
        target, verdict = (
            (f"<= {limit:.1f}x", "PASS" if ratio <= limit else "MISS") if limit else ("-", "-")
        )
        rows.append([*cells, f"{floor.p50:.3f}", f"{ratio:.2f}x", target, verdict])
    return rows


def sigv4_row(what: str, s: Stats) -> list[str]:
    verdict = "PASS" if s.p99 <= SIGV4_P99_MS else "MISS"
    return [f"SigV4 verify ({what} req)", "in-process", str(s.n), f"{s.p50:.4f}", f"{s.p90:.4f}",
            f"{s.p99:.4f}", "", "", "", f"p99 <= {SIGV4_P99_MS} ms", verdict]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--requests", type=int, default=800,
        help="timed GetPipeline and ListPipelines calls per target (default 800)",
    )  # fmt: skip
    parser.add_argument(
        "--creates", type=int,
        help=f"timed CreatePipeline calls per target (default min(N, 300); at most {MAX_CREATES})",
    )  # fmt: skip
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    args = parser.parse_args(argv)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    n = max(1, args.requests)
    creates = max(1, min(args.creates or min(n, 300), MAX_CREATES))
    started = time.monotonic()
    load_before = os.getloadavg()[0]

    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="stageline-bench-")))
        clients: dict[str, Any] = {}
        pids: dict[str, int] = {}
        get_names: dict[str, str] = {}
        for backend in backends:
            progress(f"starting stageline serve on {backend}")
            url, pids[backend] = stack.enter_context(stageline(backend, work))
            clients[backend] = make_client(url)
            get_names[backend] = populate(clients[backend], backend)

        # Capture real bodies (and the signed requests boto3 sent) from the first backend.
        first = backends[0]
        capture = Capture(clients[first])
        clients[first].get_pipeline(name=get_names[first])
        clients[first].list_pipelines()
        clients[first].create_pipeline(pipeline=two_stage(unique("c")))
        capture.close()
        bodies = dict(capture.bodies)
        progress_done(
            f"captured from {first}: " + ", ".join(f"{k} {len(v)} B" for k, v in bodies.items())
        )

        progress("starting floor app")
        floor_url, pids["floor"] = stack.enter_context(floor_server(bodies, work))
        all_clients = {"floor": make_client(floor_url), **clients}
        get_names["floor"] = get_names[first]

        operations = [
            Operation("GetPipeline", n, lambda label, i: {"name": get_names[label]}, "get_pipeline"),
            Operation("ListPipelines", n, lambda label, i: {}, "list_pipelines"),
            Operation("CreatePipeline", creates,
                      lambda label, i: {"pipeline": two_stage(unique("c"))}, "create_pipeline"),
        ]  # fmt: skip
        results = {}
        for op in operations:
            quiesce(pids)
            results[op.name] = measure(op, all_clients, pids)

        quiesce(pids)  # the runs the timed creates started must not share the CPU with this
        sigv4_get = measure_sigv4(capture.requests["GetPipeline"])
        sigv4_create = measure_sigv4(capture.requests["CreatePipeline"])
        elapsed = time.monotonic() - started
    load_after = os.getloadavg()[0]

    rows = [row for op in operations for row in api_rows(op.name, results[op.name], backends)]
    rows += [sigv4_row("GetPipeline", sigv4_get), sigv4_row("CreatePipeline", sigv4_create)]
    print(
        f"Stageline API latency: {platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, {n} calls per target ({creates} creates), "
        f"{LIST_SIZE} pipelines listed, {elapsed:.0f} s, "
        f"1-min load average {load_before:.2f} before / {load_after:.2f} after"
    )
    print(
        "floor = bare FastAPI+uvicorn returning the same bytes; ratio = p50 / floor p50 (same op); "
        "srv cpu = server process CPU per call (Postgres's own CPU not included)"
    )
    print()
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
