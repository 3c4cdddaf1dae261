"""V1 webhooks and PutActionRevision over HTTP (boto3 and the AWS CLI, SQLite and Postgres):
definitions with the secret redacted, AWS's errors for bad input, deliveries to the webhook
URL with JSONPath filters under GITHUB_HMAC / IP / UNAUTHENTICATED, registration with a
stand-in of GitHub's hooks API, and PutActionRevision's new-revision rule."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from botocore.exceptions import ClientError
from cryptography.fernet import Fernet
from sqlalchemy import select, update
from tests.executions.declarations import commands, s3_source, stage, unique
from tests.executions.declarations import pipeline as declaration
from tests.executions.stack import zip_bytes
from tests.support.github_payloads import FakeGitHubApi, github_delivery, github_push
from tests.support.servers import Server, postgres_database, running_server, server_env

from stageline.persistence.db import Database
from stageline.persistence.models import Pipeline
from stageline.persistence.models_triggers import Webhook
from stageline.services.secret_box import SecretBox
from stageline.services.triggering import SourceWatches

GITHUB_TOKEN = "gho_test_token_0123456789"
GITHUB_V1 = {"category": "Source", "owner": "ThirdParty", "provider": "GitHub", "version": "1"}
SECRET = "webhook-secret-token-1"
OLD, NEW = "1" * 40, "2" * 40


@pytest.fixture(scope="module")
def github() -> Iterator[FakeGitHubApi]:
    with FakeGitHubApi(GITHUB_TOKEN) as api:
        yield api


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, github: FakeGitHubApi
) -> Iterator[Server]:
    """A server whose GitHub API is the stand-in (overrides the shared fixture)."""
    data_dir = tmp_path_factory.mktemp(f"webhooks-{request.param}")
    extra = {"STAGELINE_GITHUB_API_URL": github.url, "STAGELINE_PUBLIC_URL": "https://cd.example"}
    if request.param == "sqlite":
        with running_server(data_dir, env=server_env(data_dir, None, **extra)) as srv:
            yield srv
    else:
        with postgres_database() as url:
            env = server_env(data_dir, url, **extra)
            with running_server(data_dir, url, env=env) as srv:
                yield srv


def pipeline(name: str, source_stage: dict[str, Any]) -> dict[str, Any]:
    """AWS wants two stages at least: the source, then a quick Commands action."""
    return declaration(name, source_stage, stage("Check", commands("Check", ["true"])))


def put_source(server: Server, bucket: str, content: str = "a") -> None:
    path = server.data_dir / "artifacts" / bucket / "app.zip"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(zip_bytes({"a.txt": content}))


def s3_pipeline(cp: Any, server: Server) -> str:
    name, bucket = unique("wh"), unique("src")
    put_source(server, bucket)
    cp.create_pipeline(pipeline=pipeline(name, stage("Source", s3_source(bucket))))
    return name


def github_pipeline(cp: Any, token: str = GITHUB_TOKEN) -> str:
    name = unique("gh")
    source = {
        "name": "Source",
        "actionTypeId": GITHUB_V1,
        "configuration": {"Owner": "octo", "Repo": "app", "Branch": "main", "OAuthToken": token},
        "outputArtifacts": [{"name": "SourceOutput"}],
    }
    cp.create_pipeline(pipeline=pipeline(name, stage("Source", source)))
    return name


def webhook(name: str, target: str, auth: str = "UNAUTHENTICATED", **config: str) -> dict[str, Any]:
    return {
        "name": name,
        "targetPipeline": target,
        "targetAction": "Source",
        "filters": [{"jsonPath": "$.ref", "matchEquals": "refs/heads/main"}],
        "authentication": auth,
        "authenticationConfiguration": config,
    }


def error_code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def executions(cp: Any, name: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = cp.list_pipeline_executions(pipelineName=name)[
        "pipelineExecutionSummaries"
    ]
    return found


def post(server: Server, url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    """POST to a webhook URL as the host would, at this server's address."""
    parts = urlsplit(url)
    return httpx.post(f"{server.url}{parts.path}?{parts.query}", content=body, headers=headers)


# -- definitions ---------------------------------------------------------------------------------


def test_put_list_delete_with_the_secret_redacted(cp: Any, server: Server) -> None:
    target = s3_pipeline(cp, server)
    name = unique("hook")
    put = cp.put_webhook(
        webhook=webhook(name, target, "GITHUB_HMAC", SecretToken=SECRET),
        tags=[{"key": "team", "value": "web"}],
    )["webhook"]
    assert put["definition"]["authenticationConfiguration"] == {"SecretToken": "****"}
    assert put["arn"] == f"arn:aws:codepipeline:us-east-1:000000000000:webhook:{name}"
    assert put["url"].startswith("https://cd.example/webhooks/trigger?t=")
    assert put["url"].endswith("&v=1")
    assert put["tags"] == [{"key": "team", "value": "web"}]
    assert SECRET not in json.dumps(put) and SECRET not in server.log()

    # Updating keeps the URL; "****" keeps the stored secret.
    changed = webhook(name, target, "GITHUB_HMAC", SecretToken="****")
    changed["filters"] = [{"jsonPath": "$.ref", "matchEquals": "refs/heads/dev"}]
    again = cp.put_webhook(webhook=changed)["webhook"]
    assert again["url"] == put["url"]
    assert again["definition"]["filters"] == changed["filters"]

    listed = [w for w in cp.list_webhooks()["webhooks"] if w["definition"]["name"] == name]
    assert [w["url"] for w in listed] == [put["url"]]
    assert SECRET not in json.dumps(listed, default=str)

    cp.delete_webhook(name=name)
    assert all(w["definition"]["name"] != name for w in cp.list_webhooks().get("webhooks", []))
    cp.delete_webhook(name=name)  # already deleted: AWS succeeds too
    recreated = cp.put_webhook(webhook=webhook(name, target))["webhook"]
    assert recreated["url"] != put["url"]  # a re-created webhook gets a new URL
    cp.delete_webhook(name=name)


def test_list_webhooks_pages(cp: Any, server: Server) -> None:
    target = s3_pipeline(cp, server)
    names = [unique("page") for _ in range(3)]
    for name in names:
        cp.put_webhook(webhook=webhook(name, target))
    seen: list[str] = []
    token = None
    while True:
        page = cp.list_webhooks(MaxResults=1, **({"NextToken": token} if token else {}))
        assert len(page.get("webhooks", [])) <= 1
        seen += [w["definition"]["name"] for w in page.get("webhooks", [])]
        token = page.get("NextToken")
        if not token:
            break
    assert set(names) <= set(seen)
    with pytest.raises(ClientError) as bad:
        cp.list_webhooks(NextToken="not-a-token")
    assert error_code(bad) == "InvalidNextTokenException"
    for name in names:
        cp.delete_webhook(name=name)


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"targetPipeline": "no-such-pipeline"}, "PipelineNotFoundException"),
        ({"targetAction": "Nope"}, "ValidationException"),
        ({"filters": [{"jsonPath": "$.[[["}]}, "InvalidWebhookFilterPatternException"),
        (
            {"filters": [{"jsonPath": "$.ref", "matchEquals": "refs/heads/{Missing}"}]},
            "InvalidWebhookFilterPatternException",
        ),
        (
            {
                "authentication": "IP",
                "authenticationConfiguration": {"AllowedIPRange": "10.0.0/33"},
            },
            "InvalidWebhookAuthenticationParametersException",
        ),
        (
            {"authentication": "GITHUB_HMAC", "authenticationConfiguration": {}},
            "InvalidWebhookAuthenticationParametersException",
        ),
        (
            {"authenticationConfiguration": {"SecretToken": "x"}},
            "InvalidWebhookAuthenticationParametersException",
        ),
        ({"authentication": "BASIC"}, "ValidationException"),
    ],
)
def test_put_webhook_errors(cp: Any, server: Server, change: dict[str, Any], code: str) -> None:
    target = s3_pipeline(cp, server)
    definition = {**webhook(unique("bad"), target), **change}
    with pytest.raises(ClientError) as bad:
        cp.put_webhook(webhook=definition)
    assert error_code(bad) == code
    assert bad.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    names = [w["definition"]["name"] for w in cp.list_webhooks().get("webhooks", [])]
    assert definition["name"] not in names  # nothing half-written


def test_the_aws_cli_speaks_webhooks(aws: Any, cp: Any, server: Server, tmp_path: Path) -> None:
    target = s3_pipeline(cp, server)
    name = unique("cli")
    given = tmp_path / "webhook.json"
    given.write_text(
        json.dumps({"webhook": webhook(name, target, "IP", AllowedIPRange="127.0.0.1/32")})
    )
    put = aws("codepipeline", "put-webhook", "--cli-input-json", f"file://{given}")
    assert put.returncode == 0, put.stderr
    assert put.json()["webhook"]["definition"]["authenticationConfiguration"] == {
        "AllowedIPRange": "127.0.0.1/32"
    }
    listed = aws("codepipeline", "list-webhooks")
    assert listed.returncode == 0 and name in listed.stdout
    bad = webhook(unique("cli"), target, "IP", AllowedIPRange="not-a-cidr")
    given.write_text(json.dumps({"webhook": bad}))
    refused = aws("codepipeline", "put-webhook", "--cli-input-json", f"file://{given}")
    assert refused.returncode != 0
    assert "InvalidWebhookAuthenticationParametersException" in refused.stderr
    bad = webhook(unique("cli"), target)
    bad["filters"] = [{"jsonPath": "$..[?(", "matchEquals": "x"}]
    given.write_text(json.dumps({"webhook": bad}))
    refused = aws("codepipeline", "put-webhook", "--cli-input-json", f"file://{given}")
    assert refused.returncode != 0
    assert "InvalidWebhookFilterPatternException" in refused.stderr
    missing = aws("codepipeline", "register-webhook-with-third-party", "--webhook-name", "nope")
    assert missing.returncode != 0 and "WebhookNotFoundException" in missing.stderr
    revision = "revisionId=r1,revisionChangeId=r1,created=2026-01-01T00:00:00Z"
    for pipeline_name, action, code in (
        ("no-such-pipeline", "Source", "PipelineNotFoundException"),
        (target, "Nope", "ActionNotFoundException"),
    ):
        answer = aws(
            "codepipeline",
            "put-action-revision",
            "--pipeline-name",
            pipeline_name,
            "--stage-name",
            "Source",
            "--action-name",
            action,
            "--action-revision",
            revision,
        )
        assert answer.returncode != 0 and code in answer.stderr, answer.stderr
    done = aws(
        "codepipeline",
        "put-action-revision",
        "--pipeline-name",
        target,
        "--stage-name",
        "Source",
        "--action-name",
        "Source",
        "--action-revision",
        revision,
    )
    assert done.returncode == 0, done.stderr
    assert done.json()["newRevision"] is True
    assert aws("codepipeline", "delete-webhook", "--name", name).returncode == 0


# -- deliveries ----------------------------------------------------------------------------------


def wait_for_runs(cp: Any, name: str, count: int, timeout: float = 20) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = executions(cp, name)
        if len(found) >= count:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{name} has {len(executions(cp, name))} runs, not {count}")


def test_unauthenticated_delivery_starts_only_when_every_filter_matches(
    cp: Any, server: Server
) -> None:
    target = s3_pipeline(cp, server)
    name = unique("open")
    definition = webhook(name, target)
    definition["filters"].append({"jsonPath": "$.repository.full_name", "matchEquals": "octo/app"})
    url = cp.put_webhook(webhook=definition)["webhook"]["url"]
    body, headers = github_delivery(
        "push", github_push("octo/app", "refs/heads/dev", OLD, NEW), None
    )
    answer = post(server, url, body, headers)
    assert answer.status_code == 200 and answer.json()["started"] is False
    body, headers = github_delivery(
        "push", github_push("other/app", "refs/heads/main", OLD, NEW), None
    )
    assert post(server, url, body, headers).json()["started"] is False
    assert len(executions(cp, target)) == 1  # CreatePipeline's run only

    body, headers = github_delivery(
        "push", github_push("octo/app", "refs/heads/main", OLD, NEW), None
    )
    answer = post(server, url, body, headers)
    assert answer.status_code == 200 and answer.json()["started"] is True
    run = cp.get_pipeline_execution(
        pipelineName=target, pipelineExecutionId=answer.json()["pipelineExecutionId"]
    )["pipelineExecution"]
    assert run["trigger"] == {
        "triggerType": "Webhook",
        "triggerDetail": f"arn:aws:codepipeline:us-east-1:000000000000:webhook:{name}",
    }
    item = next(w for w in cp.list_webhooks()["webhooks"] if w["definition"]["name"] == name)
    assert "lastTriggered" in item


def test_placeholders_resolve_from_the_target_configuration(cp: Any) -> None:
    target = github_pipeline(cp)
    definition = webhook(unique("ph"), target)
    definition["filters"] = [
        {"jsonPath": "$.ref", "matchEquals": "refs/heads/{Branch}"},
        {"jsonPath": "$.repository.name", "matchEquals": "{Repo}"},
    ]
    url = cp.put_webhook(webhook=definition)["webhook"]["url"]
    server_url = cp.meta.endpoint_url
    push = github_push("octo/app", "refs/heads/main", OLD, NEW)
    body, headers = github_delivery("push", push, None)
    parts = urlsplit(url)
    answer = httpx.post(f"{server_url}{parts.path}?{parts.query}", content=body, headers=headers)
    assert answer.json()["started"] is True
    other = github_push("octo/app", "refs/heads/release", OLD, NEW)
    body, headers = github_delivery("push", other, None)
    answer = httpx.post(f"{server_url}{parts.path}?{parts.query}", content=body, headers=headers)
    assert answer.json()["started"] is False


def test_github_hmac_refuses_forged_and_missing_signatures(cp: Any, server: Server) -> None:
    target = s3_pipeline(cp, server)
    url = cp.put_webhook(
        webhook=webhook(unique("hmac"), target, "GITHUB_HMAC", SecretToken=SECRET)
    )["webhook"]["url"]
    push = github_push("octo/app", "refs/heads/main", OLD, NEW)
    body, forged = github_delivery("push", push, "not-the-secret")
    assert post(server, url, body, forged).status_code == 403
    _, signed = github_delivery("push", push, SECRET)
    tampered = body.replace(b"octo/app", b"evil/app")
    assert post(server, url, tampered, signed).status_code == 403
    unsigned = {k: v for k, v in signed.items() if not k.startswith("X-Hub-Signature")}
    assert post(server, url, body, unsigned).status_code == 403
    assert len(executions(cp, target)) == 1  # nothing started

    answer = post(server, url, body, signed)
    assert answer.status_code == 200 and answer.json()["started"] is True
    sha1_only = {k: v for k, v in signed.items() if k != "X-Hub-Signature-256"}
    assert post(server, url, body, sha1_only).json()["started"] is True
    assert SECRET not in server.log()


def test_ip_authentication_checks_the_callers_address(cp: Any, server: Server) -> None:
    target = s3_pipeline(cp, server)
    inside = cp.put_webhook(
        webhook=webhook(unique("ip"), target, "IP", AllowedIPRange="127.0.0.0/8")
    )
    outside = cp.put_webhook(
        webhook=webhook(unique("ip"), target, "IP", AllowedIPRange="10.0.0.0/8")
    )
    body, headers = github_delivery("push", github_push("o/r", "refs/heads/main", OLD, NEW), None)
    assert post(server, outside["webhook"]["url"], body, headers).status_code == 403
    assert len(executions(cp, target)) == 1
    answer = post(server, inside["webhook"]["url"], body, headers)
    assert answer.status_code == 200 and answer.json()["started"] is True


def test_unknown_url_and_bad_payload(cp: Any, server: Server) -> None:
    target = s3_pipeline(cp, server)
    url = cp.put_webhook(webhook=webhook(unique("x"), target))["webhook"]["url"]
    gone = httpx.post(f"{server.url}/webhooks/trigger?t=unknown-token&v=1", content=b"{}")
    assert gone.status_code == 404
    assert post(server, url, b"not json", {"Content-Type": "application/json"}).status_code == 400
    huge = b"{" + b" " * (25 * 1024 * 1024) + b"}"  # GitHub's own cap is 25 MB
    assert post(server, url, huge, {"Content-Type": "application/json"}).status_code == 413
    assert len(executions(cp, target)) == 1


# -- third-party registration --------------------------------------------------------------------


def test_register_and_deregister_with_github(cp: Any, github: FakeGitHubApi) -> None:
    target = github_pipeline(cp)
    name = unique("reg")
    url = cp.put_webhook(webhook=webhook(name, target, "GITHUB_HMAC", SecretToken=SECRET))[
        "webhook"
    ]["url"]
    before = len(github.calls)
    cp.register_webhook_with_third_party(webhookName=name)
    created = github.calls[before]
    assert (created["method"], created["path"]) == ("POST", "/repos/octo/app/hooks")
    assert created["authorization"] == f"Bearer {GITHUB_TOKEN}"
    assert created["body"]["config"] == {
        "url": url,
        "content_type": "json",
        "insecure_ssl": "0",
        "secret": SECRET,
    }
    assert created["body"]["events"] == ["push"]
    hook_id = next(k for k, v in github.hooks.items() if v["config"]["url"] == url)

    cp.deregister_webhook_with_third_party(webhookName=name)
    deleted = github.calls[-1]
    assert (deleted["method"], deleted["path"]) == ("DELETE", f"/repos/octo/app/hooks/{hook_id}")
    assert hook_id not in github.hooks
    cp.deregister_webhook_with_third_party(webhookName=name)  # nothing registered: fine


def test_registration_errors(cp: Any, server: Server, github: FakeGitHubApi) -> None:
    with pytest.raises(ClientError) as missing:
        cp.register_webhook_with_third_party(webhookName="no-such-webhook")
    assert error_code(missing) == "WebhookNotFoundException"
    with pytest.raises(ClientError) as missing:
        cp.deregister_webhook_with_third_party(webhookName="no-such-webhook")
    assert error_code(missing) == "WebhookNotFoundException"

    refused = github_pipeline(cp, token="gho_wrong")
    name = unique("reg")
    cp.put_webhook(webhook=webhook(name, refused))
    with pytest.raises(ClientError) as bad:
        cp.register_webhook_with_third_party(webhookName=name)
    assert error_code(bad) == "ValidationException"
    assert "401" in bad.value.response["Error"]["Message"]
    assert "gho_wrong" not in bad.value.response["Error"]["Message"]

    s3_name = unique("reg")
    cp.put_webhook(webhook=webhook(s3_name, s3_pipeline(cp, server)))
    with pytest.raises(ClientError) as bad:
        cp.register_webhook_with_third_party(webhookName=s3_name)
    assert error_code(bad) == "ValidationException"


# -- PutActionRevision ---------------------------------------------------------------------------


def wait_status(cp: Any, name: str, execution_id: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run: dict[str, Any] = cp.get_pipeline_execution(
            pipelineName=name, pipelineExecutionId=execution_id
        )["pipelineExecution"]
        if run["status"] not in ("InProgress", "Stopping"):
            return run
        time.sleep(0.1)
    raise AssertionError(f"{execution_id} still running")


def revision(value: str) -> dict[str, Any]:
    return {"revisionId": value, "revisionChangeId": value, "created": 1_700_000_000}


def test_put_action_revision(cp: Any, server: Server) -> None:
    name, bucket = unique("par"), unique("src")
    put_source(server, bucket, "first")
    cp.create_pipeline(pipeline=pipeline(name, stage("Source", s3_source(bucket))))
    first = wait_status(cp, name, executions(cp, name)[0]["pipelineExecutionId"])
    ran = first["artifactRevisions"][0]["revisionId"]

    same = cp.put_action_revision(
        pipelineName=name, stageName="Source", actionName="Source", actionRevision=revision(ran)
    )
    assert same["newRevision"] is False
    assert len(executions(cp, name)) == 1

    put_source(server, bucket, "second")
    etag = _etag(server, bucket)
    new = cp.put_action_revision(
        pipelineName=name, stageName="Source", actionName="Source", actionRevision=revision(etag)
    )
    assert new["newRevision"] is True
    run = wait_status(cp, name, new["pipelineExecutionId"])
    assert run["status"] == "Succeeded"
    assert run["trigger"]["triggerType"] == "PutActionRevision"
    assert run["trigger"]["triggerDetail"].startswith("arn:aws:iam::000000000000:")
    assert run["artifactRevisions"][0]["revisionId"] == etag
    again = cp.put_action_revision(
        pipelineName=name, stageName="Source", actionName="Source", actionRevision=revision(etag)
    )
    assert again["newRevision"] is False
    assert len(executions(cp, name)) == 2


def _etag(server: Server, bucket: str) -> str:
    data = (server.data_dir / "artifacts" / bucket / "app.zip").read_bytes()
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


@pytest.mark.parametrize(
    ("where", "code"),
    [
        ({"pipelineName": "no-such-pipeline"}, "PipelineNotFoundException"),
        ({"stageName": "Nope"}, "StageNotFoundException"),
        ({"actionName": "Nope"}, "ActionNotFoundException"),
    ],
)
def test_put_action_revision_errors(
    cp: Any, server: Server, where: dict[str, str], code: str
) -> None:
    name = s3_pipeline(cp, server)
    params = {"pipelineName": name, "stageName": "Source", "actionName": "Source", **where}
    with pytest.raises(ClientError) as bad:
        cp.put_action_revision(**params, actionRevision=revision("abc"))
    assert error_code(bad) == code


# -- one start per revision ----------------------------------------------------------------------


def test_source_watches_let_one_of_two_detectors_win(cp: Any, server: Server) -> None:
    """Two processes that read the same revision race to move it: the conditional UPDATE lets
    exactly one through, the other waits for it and then sees it lost."""
    name = s3_pipeline(cp, server)
    db = Database(server.database_url or f"sqlite:///{server.data_dir / 'stageline.db'}")
    try:
        with db.unit_of_work(write=False) as uow:
            pipeline_id = uow.session.scalar(select(Pipeline.id).where(Pipeline.name == name))
        assert pipeline_id is not None
        with db.unit_of_work() as uow:
            assert SourceWatches(uow.session).first(pipeline_id, "Source", "r1")
        with db.unit_of_work() as uow:
            assert not SourceWatches(uow.session).first(pipeline_id, "Source", "r9")

        results: list[bool] = []
        holding, release = threading.Event(), threading.Event()

        def detector(hold: bool) -> None:
            with db.unit_of_work() as uow:
                results.append(
                    SourceWatches(uow.session).advance(pipeline_id, "Source", "r1", "r2")
                )
                if hold:  # keep the transaction (and its row lock) open a moment
                    holding.set()
                    release.wait(5)

        first = threading.Thread(target=detector, args=(True,))
        first.start()
        assert holding.wait(5)
        second = threading.Thread(target=detector, args=(False,))
        second.start()
        time.sleep(0.3)
        release.set()
        first.join(10)
        second.join(10)
        assert results == [True, False]

        with db.unit_of_work() as uow:
            watches = SourceWatches(uow.session)
            assert not watches.claim(pipeline_id, "Source", "r2")  # started already
            assert watches.claim(pipeline_id, "Source", "r3")
            assert not watches.advance(pipeline_id, "Source", "r2", "r4")
    finally:
        db.dispose()


def test_webhook_tags_by_arn(cp: Any, server: Server) -> None:
    name = unique("tagged")
    arn = cp.put_webhook(
        webhook=webhook(name, s3_pipeline(cp, server)), tags=[{"key": "a", "value": "1"}]
    )["webhook"]["arn"]
    cp.tag_resource(resourceArn=arn, tags=[{"key": "b", "value": "2"}])
    cp.untag_resource(resourceArn=arn, tagKeys=["a"])
    assert cp.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "b", "value": "2"}]
    listed = next(w for w in cp.list_webhooks()["webhooks"] if w["arn"] == arn)
    assert listed["tags"] == [{"key": "b", "value": "2"}]
    cp.delete_webhook(name=name)
    with pytest.raises(ClientError) as gone:
        cp.list_tags_for_resource(resourceArn=arn)
    assert error_code(gone) == "ResourceNotFoundException"


def test_a_secret_this_server_cannot_read_refuses_deliveries(cp: Any, server: Server) -> None:
    """A secret stored under another key (replicas without a shared STAGELINE_SECRET_KEY) is a
    clear 403, not a server error."""
    name = unique("rekeyed")
    url = cp.put_webhook(
        webhook=webhook(name, s3_pipeline(cp, server), "GITHUB_HMAC", SecretToken=SECRET)
    )["webhook"]["url"]
    other_key = SecretBox(Fernet.generate_key()).encrypt(SECRET)
    db = Database(server.database_url or f"sqlite:///{server.data_dir / 'stageline.db'}")
    try:
        with db.unit_of_work() as uow:
            uow.session.execute(
                update(Webhook).where(Webhook.name == name).values(secret=other_key)
            )
    finally:
        db.dispose()
    body, headers = github_delivery("push", github_push("o/r", "refs/heads/main", OLD, NEW), SECRET)
    answer = post(server, url, body, headers)
    assert answer.status_code == 403
    assert "STAGELINE_SECRET_KEY" in answer.json()["error"]["message"]
