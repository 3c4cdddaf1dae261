"""Event delivery: status change committed → a local webhook receiver has the notification,
against a bare HTTP POST of the same body to the same receiver; and what the outbox costs the
orchestration.

    python bench/events.py [--runs N] [--mode embedded|production|both]

On each stack (bench/_stacks.py) it makes two identical pipelines — an S3 source, then three
Commands actions in successive runOrders, each stamping `date +%s.%N` into an output variable
— and a notification rule (CodeStar Notifications, all event types, DetailType FULL) with a
Webhook target on one of them only. Runs of the two alternate, one at a time; a run with the
rule ends when its pipeline SUCCEEDED notification has arrived. It prints p50/p99 of:
- StartPipelineExecution returned → the pipeline STARTED notification received;
- an action's result recorded (lastUpdateTime) → its SUCCEEDED notification received;
- the execution's result recorded (lastUpdateTime) → the pipeline SUCCEEDED notification;
- the baseline: a received notification's body and headers POSTed again to the same receiver
  with http.client (a new connection each time, as the deliverer makes), start → arrival;
  and the same with `httpx.post`, which is what the deliverer calls;
- action → next action (one action's recorded end to the next one's own start stamp) and
  StartPipelineExecution → Succeeded, with and without the rule: the outbox's per-action cost.
A report, not a test: exit 0.
"""

from __future__ import annotations

import http.client
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
from _stacks import (
    HEADER,
    WALL_OFFSET,
    client,
    pct,
    poll,
    progress,
    row,
    stacks_from_args,
)
from orchestration import hops, pipeline, source_zip, true_action, wait
from tests.support.receivers import Receiver
from tests.support.servers import REGION

ACCOUNT = "000000000000"
Key = tuple[str, str, str, str]  # execution id, Pipeline|Stage|Action, stage or action, state


class Notifications:
    """The receiver's accepted notifications by what they are about, with arrival times."""

    def __init__(self, receiver: Receiver) -> None:
        self.receiver, self.seen, self.arrived = receiver, 0, dict[Key, float]()

    def at(self, key: Key) -> float | None:
        requests = self.receiver.requests
        for request in requests[self.seen :]:
            note = request.json()
            detail = note["detail"]
            kind = note["detailType"].split()[1]
            where = detail.get("action") or detail.get("stage") or ""
            self.arrived.setdefault(
                (detail["execution-id"], kind, where, detail["state"]), request.at
            )
        self.seen = len(requests)
        return self.arrived.get(key)


def event_types(notes: Any) -> list[str]:
    ids, token = [], None
    while True:
        page = notes.list_event_types(**({"NextToken": token} if token else {}))
        ids += [t["EventTypeId"] for t in page["EventTypes"]]
        if not (token := page.get("NextToken")):
            return ids


def measure(url: str, data: Path, runs: int, receiver: Receiver) -> dict[str, list[float]]:
    cp, notes = client(url, "codepipeline"), client(url, "codestar-notifications")
    source_zip(data)
    suffix = str(int(time.time()))
    quiet, loud = f"quiet-{suffix}", f"loud-{suffix}"
    chain = [[true_action(f"A{i}", i) for i in (1, 2, 3)]]
    for name in (quiet, loud):
        cp.create_pipeline(pipeline=pipeline(name, chain))
        first = cp.list_pipeline_executions(pipelineName=name)["pipelineExecutionSummaries"][0]
        wait(cp, name, first["pipelineExecutionId"])  # no events of it queue for the rule
    notes.create_notification_rule(
        Name=f"all-{suffix}",
        EventTypeIds=event_types(notes),
        Resource=f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:{loud}",
        Targets=[{"TargetType": "Webhook", "TargetAddress": receiver.url}],
        DetailType="FULL",
    )
    seen = Notifications(receiver)
    out: dict[str, list[float]] = {
        k: [] for k in ("started", "action", "finished", "hop0", "hop1", "e2e0", "e2e1")
    }
    for i in range(runs * 2):
        name, loud_run = (loud, True) if i % 2 else (quiet, False)
        progress(f"  run {i // 2 + 1}/{runs} {'with' if loud_run else 'without'} the rule")
        start = time.perf_counter()
        eid = cp.start_pipeline_execution(name=name)["pipelineExecutionId"]
        returned = time.monotonic()
        assert wait(cp, name, eid) == "Succeeded", f"{name} {eid} did not succeed"
        out[f"e2e{int(loud_run)}"].append(time.perf_counter() - start)
        out[f"hop{int(loud_run)}"] += hops(cp, name, eid)
        if not loud_run:
            continue
        done = poll(partial(seen.at, (eid, "Pipeline", "", "SUCCEEDED")), timeout=60)
        started = seen.at((eid, "Pipeline", "", "STARTED"))
        assert started is not None
        out["started"].append(started - returned)
        summary = cp.list_pipeline_executions(pipelineName=name, maxResults=5)
        ours = next(
            s for s in summary["pipelineExecutionSummaries"] if s["pipelineExecutionId"] == eid
        )
        out["finished"].append(done + WALL_OFFSET - ours["lastUpdateTime"].timestamp())
        rows = cp.list_action_executions(pipelineName=name, filter={"pipelineExecutionId": eid})
        for action in rows["actionExecutionDetails"]:
            arrived = seen.at((eid, "Action", action["actionName"], "SUCCEEDED"))
            assert arrived is not None, f"no SUCCEEDED notification for {action['actionName']}"
            out["action"].append(arrived + WALL_OFFSET - action["lastUpdateTime"].timestamp())
    progress("")
    return out


def bare_posts(receiver: Receiver, count: int) -> dict[str, list[float]]:
    """Start → arrival of a delivered notification's body and headers POSTed again: with
    http.client (the bare baseline) and with `httpx.post` (what the deliverer calls)."""
    sample = receiver.accepted[-1]
    keep = ("content-type", "user-agent", "x-stageline-signature-256", "x-stageline-event-id")
    headers = {k: v for k, v in sample.headers.items() if k in keep}
    target = urlsplit(receiver.url)

    def bare() -> None:
        conn = http.client.HTTPConnection(target.netloc, timeout=10)
        conn.request("POST", target.path, sample.body, headers)
        conn.getresponse().read()
        conn.close()

    def deliverer() -> None:
        httpx.post(receiver.url, content=sample.body, headers=headers, timeout=10)

    times: dict[str, list[float]] = {"bare": [], "httpx": []}
    for i in range(count + 20):
        if i % 50 == 0:
            progress(f"  bare POSTs {i}/{count + 20}")
        for key, send in (("bare", bare), ("httpx", deliverer)):
            before = len(receiver.requests)
            start = time.monotonic()
            send()
            if i >= 20:  # warm-up first
                times[key].append(receiver.requests[before].at - start)
    progress("")
    return times


def report(label: str, out: dict[str, list[float]], posts: dict[str, list[float]]) -> None:
    bare = posts["bare"]
    print(f"\n{label}")
    print(HEADER + "  (ratio: p50 / the baseline's p50)")
    print(row("bare POST of the notification, http.client (baseline)", bare))
    print(row("the same with httpx.post, as the deliverer sends it", posts["httpx"], bare))
    print(row("StartPipelineExecution returned → STARTED received", out["started"], bare))
    print(row("action result recorded → action SUCCEEDED received", out["action"], bare))
    print(row("execution result recorded → pipeline SUCCEEDED rcvd", out["finished"], bare))
    print("  outbox cost (ratio: with the rule / without)")
    print(row("action → next action, no rule", out["hop0"]))
    print(row("action → next action, rule + Webhook target", out["hop1"], out["hop0"]))
    print(row("Start → Succeeded (4 actions), no rule", out["e2e0"]))
    print(row("Start → Succeeded (4 actions), rule + Webhook target", out["e2e1"], out["e2e0"]))
    extra = (pct(out["e2e1"], 0.5) - pct(out["e2e0"], 0.5)) * 1000 / 4
    print(
        f"  per-action overhead of the outbox (Start → Succeeded p50 difference / 4): {extra:.1f} ms"
    )


def main() -> int:
    for label, url, data, runs in stacks_from_args(__doc__, 8, "runs of each pipeline"):
        with Receiver() as receiver:
            out = measure(url, data, runs, receiver)
            posts = bare_posts(receiver, max(200, runs * 5))
        report(label, out, posts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
