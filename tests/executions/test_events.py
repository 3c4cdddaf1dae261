"""Events on both stacks: every pipeline, stage and action state change is stored in
EventBridge's format (GET /api/v1/events) and delivered to notification targets after commit —
in order per target, retried after failures, signed for webhooks; failures stay visible. A
rolled-back change leaves no event."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any

import httpx
from tests.executions.declarations import commands, pipeline, s3_source, stage, unique
from tests.executions.stack import Stack
from tests.support.receivers import Receiver
from tests.support.servers import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY

from stageline.domain.arns import Arns
from stageline.identity import Principal
from stageline.persistence import migrate
from stageline.persistence.db import Database
from stageline.persistence.models_events import Event
from stageline.services.creation import create_and_start
from stageline.services.orchestrator import ExecutionSettings
from stageline.services.ports import NullDispatcher

ACCOUNT = "000000000000"
ALL_EVENT_TYPES = [
    f"codepipeline-pipeline-{kind}-{state}"
    for kind, states in (
        ("pipeline-execution", ("started", "succeeded", "failed")),
        ("stage-execution", ("started", "succeeded", "failed")),
        ("action-execution", ("started", "succeeded", "failed")),
    )
    for state in states
]


def rest(stack: Stack, path: str, **params: Any) -> Any:
    response = httpx.request(
        params.pop("method", "GET"),
        stack.server.url + path,
        params=params,
        auth=(ACCESS_KEY_ID, SECRET_ACCESS_KEY),
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()


def notes(stack: Stack) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "codestar-notifications",
        endpoint_url=stack.server.url,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
        config=Config(retries={"max_attempts": 1}),
    )


def two_stage_pipeline(stack: Stack, *more: str) -> tuple[str, str]:
    """A Source → Build (→ a Commands stage per name in `more`) pipeline whose first run
    (CreatePipeline's) has finished."""
    name, bucket = unique("e2e-events"), unique("src")
    stack.put_source(bucket, "app.zip", {"a.txt": "a"})
    later = [stage(extra, commands(extra, ["true"])) for extra in more]
    first = stack.create_pipeline(
        pipeline(
            name,
            stage("Source", s3_source(bucket)),
            stage("Build", commands("Build", ["true"])),
            *later,
        )
    )
    stack.wait(name, first)
    return name, f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:{name}"


def stored_secret(stack: Stack, address: str) -> str | None:
    from sqlalchemy import create_engine, text

    from stageline.settings import Settings

    raw = stack.database_url or f"sqlite:///{stack.server.data_dir / 'stageline.db'}"
    engine = create_engine(Settings(database_url=raw).resolved_database_url)
    try:
        with engine.connect() as conn:
            query = text("SELECT secret FROM notification_targets WHERE address = :a")
            value = conn.execute(query, {"a": address}).scalar()
    finally:
        engine.dispose()
    return str(value) if value is not None else None


def execution_events(stack: Stack, name: str, execution_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    after = 0
    while True:  # two at a time: the paging works
        page = rest(
            stack, "/api/v1/events", pipeline=name, executionId=execution_id, after=after, limit=2
        )
        if not page["events"]:
            return found
        found += [item["event"] for item in page["events"]]
        after = page["nextAfter"]


def summary(event: dict[str, Any]) -> tuple[str, ...]:
    detail = event["detail"]
    kind = event["detail-type"].split()[1]  # Pipeline | Stage | Action
    where = detail.get("action") or detail.get("stage") or ""
    return (kind, where, detail["state"])


EXPECTED = [
    ("Pipeline", "", "STARTED"),
    ("Stage", "Source", "STARTED"),
    ("Action", "Source", "STARTED"),
    ("Action", "Source", "SUCCEEDED"),
    ("Stage", "Source", "SUCCEEDED"),
    ("Stage", "Build", "STARTED"),
    ("Action", "Build", "STARTED"),
    ("Action", "Build", "SUCCEEDED"),
    ("Stage", "Build", "SUCCEEDED"),
    ("Pipeline", "", "SUCCEEDED"),
]


def test_events_reach_a_webhook_in_order_signed_after_retries(stack: Stack) -> None:
    name, arn = two_stage_pipeline(stack)
    client = notes(stack)
    with Receiver(fail_first=2) as good, Receiver(fail_first=10**6) as bad:
        client.create_notification_rule(
            Name=unique("all"),
            EventTypeIds=ALL_EVENT_TYPES,
            Resource=arn,
            Targets=[{"TargetType": "Webhook", "TargetAddress": good.url}],
            DetailType="BASIC",
        )
        client.create_notification_rule(
            Name=unique("broken"),
            EventTypeIds=["codepipeline-pipeline-pipeline-execution-started"],
            Resource=arn,
            Targets=[{"TargetType": "Webhook", "TargetAddress": bad.url}],
            DetailType="FULL",
        )
        execution_id = stack.start(name)
        stack.wait(name, execution_id)

        # Stored: the whole history of the run, in EventBridge's format, in order.
        events = execution_events(stack, name, execution_id)
        assert [summary(e) for e in events] == EXPECTED
        first = events[0]
        assert first["source"] == "aws.codepipeline" and first["version"] == "0"
        assert first["detail-type"] == "CodePipeline Pipeline Execution State Change"
        assert first["resources"] == [arn] and first["account"] == ACCOUNT
        assert first["detail"]["execution-trigger"]["trigger-type"] == "StartPipelineExecution"
        assert first["detail"]["version"] == 1.0
        build = events[6]["detail"]
        assert build["type"] == {
            "owner": "AWS", "provider": "Commands", "category": "Compute", "version": "1"
        }  # fmt: skip
        assert build["input-artifacts"] == [{"name": "SourceOutput"}]
        assert build["region"] == REGION

        # Delivered: the same events, in the same order, after two refused attempts.
        accepted = good.wait_for(len(EXPECTED), what="events")
        assert [r.answered for r in good.requests[:2]] == [500, 500]
        assert good.requests[0].body == good.requests[2].body  # the first event, again
        bodies = [r.json() for r in accepted]
        assert [b["detail"]["execution-id"] for b in bodies] == [execution_id] * len(EXPECTED)
        assert [(b["detailType"], b["detail"]["state"]) for b in bodies] == [
            (e["detail-type"], e["detail"]["state"]) for e in events
        ]
        assert "additionalAttributes" not in bodies[0]  # BASIC
        secret = rest(stack, "/api/v1/notification-targets/secret", address=good.url)["secret"]
        for request in accepted:
            expected = (
                "sha256=" + hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
            )
            assert hmac.compare_digest(request.headers["x-stageline-signature-256"], expected)
            assert request.headers["x-stageline-event-id"]

        # Failing: retried with backoff, visible on the deliveries and as UNREACHABLE.
        bad.wait_for(0)
        stack.wait_for("a failed delivery to retry", lambda: len(bad.requests) >= 2)
        failed = rest(stack, "/api/v1/deliveries", status="failed", limit=1000)["deliveries"]
        ours = [d for d in failed if d["address"] == bad.url]
        assert ours and ours[0]["attempts"] >= 1 and "HTTP 500" in ours[0]["lastError"]
        assert ours[0]["nextAttemptAt"]
        gap = bad.requests[1].at - bad.requests[0].at
        assert gap >= 0.8, "the retry waited for its backoff"
        targets = client.list_targets(Filters=[{"Name": "TARGET_ADDRESS", "Value": bad.url}])
        assert targets["Targets"][0]["TargetStatus"] == "UNREACHABLE"
        fine = client.list_targets(Filters=[{"Name": "TARGET_ADDRESS", "Value": good.url}])
        assert fine["Targets"][0]["TargetStatus"] == "ACTIVE"

        # Stored encrypted: the database holds no usable key.
        stored = stored_secret(stack, good.url)
        assert stored and secret not in stored

        # Rotating the secret changes the key of later signatures (REST only).
        rotated = rest(
            stack, "/api/v1/notification-targets/secret/rotate", method="POST", address=good.url
        )["secret"]
        assert rotated != secret


def test_a_rolled_back_change_leaves_no_event(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'stageline.db'}"
    migrate.upgrade(url)
    db = Database(url)
    arns = Arns(REGION, ACCOUNT)
    principal = Principal(ACCESS_KEY_ID, ACCOUNT, f"arn:aws:iam::{ACCOUNT}:root")

    def declaration(name: str) -> dict[str, Any]:
        return pipeline(
            name, stage("Source", s3_source("b")), stage("Build", commands("Build", ["true"]))
        )

    class Refused(Exception):
        pass

    try:
        with db.unit_of_work() as uow:
            create_and_start(
                uow, arns, NullDispatcher(), ExecutionSettings(), declaration("gone"), [], principal
            )
            assert uow.session.query(Event).count() > 0  # written, in this transaction
            raise Refused
    except Refused:
        pass
    with db.unit_of_work(write=False) as uow:
        assert uow.session.query(Event).count() == 0

    with db.unit_of_work() as uow:
        create_and_start(
            uow, arns, NullDispatcher(), ExecutionSettings(), declaration("kept"), [], principal
        )
    with db.unit_of_work(write=False) as uow:
        states = [(e.detail_type.split()[1], e.state) for e in uow.session.query(Event)]
    assert ("Pipeline", "STARTED") in states and ("Action", "STARTED") in states
    db.dispose()


def test_competing_deliverers_send_each_row_once_in_order(tmp_path: Path) -> None:
    """Two delivery loops (as in two worker processes) on one Postgres database: every row is
    sent exactly once, and each address gets its rows in order, while one address fails."""
    import threading
    import time
    from datetime import UTC, datetime

    from tests.support.servers import postgres_database

    from stageline.persistence.models_events import EventDelivery
    from stageline.services.event_delivery import Deliverer, DeliverySettings
    from stageline.services.event_targets import Outgoing, SendFailed
    from stageline.settings import Settings

    with postgres_database() as raw:
        url = Settings(database_url=raw).resolved_database_url
        migrate.upgrade(url)
        db = Database(url)
        now = datetime.now(UTC)
        with db.unit_of_work() as uow:
            for i in range(30):
                uow.session.add(
                    EventDelivery(
                        kind="webhook",
                        address=f"http://target-{i % 3}",
                        payload={"message": {"n": i}},
                        status="pending",
                        attempts=0,
                        next_attempt_at=now,
                        lease_token=0,
                        created_at=now,
                    )
                )
        sent: list[tuple[str, int]] = []
        lock = threading.Lock()
        refusals = {"left": 2}

        def sender(item: Outgoing) -> None:
            time.sleep(0.005)  # widen the window two loops could overlap in
            with lock:
                if item.address == "http://target-1" and refusals["left"] > 0:
                    refusals["left"] -= 1
                    raise SendFailed("HTTP 503 from the target")
                sent.append((item.address, item.payload["message"]["n"]))

        settings = DeliverySettings(backoff_base_seconds=0.05, backoff_cap_seconds=0.1)
        loops = [Deliverer(db, {"webhook": sender}, settings) for _ in range(2)]
        deadline = time.monotonic() + 60

        def run(deliverer: Deliverer) -> None:
            while len(sent) < 30 and time.monotonic() < deadline:
                deliverer.run_once()
                time.sleep(0.01)

        threads = [threading.Thread(target=run, args=(d,)) for d in loops]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        db.dispose()

    assert sorted(n for _, n in sent) == list(range(30)), "each row exactly once"
    for address in ("http://target-0", "http://target-1", "http://target-2"):
        numbers = [n for a, n in sent if a == address]
        assert numbers == sorted(numbers), f"{address} got its rows out of order"


def test_a_burst_of_events_reaches_a_webhook_soon_after_the_run(stack: Stack) -> None:
    """A pass goes on with an address's next row after a send, so a run's 14 events do not
    trickle out one per pass (0.5 s each: 3-5 s after the run before this was fixed)."""
    import time

    name, arn = two_stage_pipeline(stack, "Test")
    with Receiver() as receiver:
        notes(stack).create_notification_rule(
            Name=unique("burst"),
            EventTypeIds=ALL_EVENT_TYPES,
            Resource=arn,
            Targets=[{"TargetType": "Webhook", "TargetAddress": receiver.url}],
            DetailType="BASIC",
        )
        execution_id = stack.start(name)
        stack.wait(name, execution_id)
        ended = time.monotonic()  # at or after the run's end: wait() polls
        accepted = receiver.wait_for(14, what="events")
        bodies = [r.json() for r in accepted]
        assert len(bodies) == 14, "each event once"
        assert {b["detail"]["execution-id"] for b in bodies} == {execution_id}
        last = (bodies[-1]["detailType"], bodies[-1]["detail"]["state"])
        assert last == ("CodePipeline Pipeline Execution State Change", "SUCCEEDED")
        late = accepted[-1].at - ended
        # Generous for a loaded 2-core machine; production's workers tick on their own.
        assert late < (1.5 if stack.mode == "embedded" else 3.0), f"last event {late:.2f} s late"
