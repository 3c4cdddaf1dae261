"""The raw responses of the webhook operations and PutActionRevision fit botocore's output
shapes (the walker of test_response_shapes, on SQLite and Postgres)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from tests.executions.declarations import s3_source, stage, unique
from tests.integration import test_webhooks_api as api
from tests.integration.test_response_shapes import call, output_violations, put_source
from tests.support.servers import Server

from stageline.aws.codepipeline_webhooks import WEBHOOK_HANDLERS

# A server whose GitHub API is the stand-in, as in test_webhooks_api.
github = api.github
server = api.server
webhook, two_stages, SECRET, GITHUB_TOKEN = api.webhook, api.pipeline, api.SECRET, api.GITHUB_TOKEN

GITHUB_V1 = {"category": "Source", "owner": "ThirdParty", "provider": "GitHub", "version": "1"}


def _github_target(server: Server) -> str:
    name = unique("shape-gh")
    source = {
        "name": "Source",
        "actionTypeId": GITHUB_V1,
        "configuration": {"Owner": "o", "Repo": "r", "Branch": "main", "OAuthToken": GITHUB_TOKEN},
        "outputArtifacts": [{"name": "SourceOutput"}],
    }
    call(server, "CreatePipeline", {"pipeline": two_stages(name, stage("Source", source))})
    return name


def _s3_target(server: Server) -> str:
    name, bucket = unique("shape-s3"), unique("src")
    put_source(server, bucket)
    call(
        server, "CreatePipeline", {"pipeline": two_stages(name, stage("Source", s3_source(bucket)))}
    )
    return name


def puts(server: Server) -> list[dict[str, Any]]:
    target = _s3_target(server)
    hmac = webhook(unique("w"), target, "GITHUB_HMAC", SecretToken=SECRET)
    return [
        call(server, "PutWebhook", {"webhook": hmac, "tags": [{"key": "k", "value": "v"}]}),
        call(server, "PutWebhook", {"webhook": webhook(unique("w"), target)}),
    ]


def lists(server: Server) -> list[dict[str, Any]]:
    puts(server)
    first = call(server, "ListWebhooks", {"MaxResults": 1})
    return [first, call(server, "ListWebhooks", {})]


def deletes(server: Server) -> list[dict[str, Any]]:
    name = unique("w")
    call(server, "PutWebhook", {"webhook": webhook(name, _s3_target(server))})
    return [call(server, "DeleteWebhook", {"name": name})]


def registers(server: Server) -> list[dict[str, Any]]:
    name = unique("w")
    call(server, "PutWebhook", {"webhook": webhook(name, _github_target(server))})
    return [call(server, "RegisterWebhookWithThirdParty", {"webhookName": name})]


def deregisters(server: Server) -> list[dict[str, Any]]:
    name = unique("w")
    call(server, "PutWebhook", {"webhook": webhook(name, _github_target(server))})
    call(server, "RegisterWebhookWithThirdParty", {"webhookName": name})
    return [call(server, "DeregisterWebhookWithThirdParty", {"webhookName": name})]


def puts_revisions(server: Server) -> list[dict[str, Any]]:
    target = _s3_target(server)
    where = {"pipelineName": target, "stageName": "Source", "actionName": "Source"}
    revision = {"revisionId": "v-1", "revisionChangeId": "v-1", "created": 1_700_000_000}
    new = call(server, "PutActionRevision", {**where, "actionRevision": revision})
    same = call(server, "PutActionRevision", {**where, "actionRevision": revision})
    assert (new["newRevision"], same["newRevision"]) == (True, False)
    return [new, same]


SCENARIOS: dict[str, Callable[[Server], list[dict[str, Any]]]] = {
    "PutWebhook": puts,
    "ListWebhooks": lists,
    "DeleteWebhook": deletes,
    "RegisterWebhookWithThirdParty": registers,
    "DeregisterWebhookWithThirdParty": deregisters,
    "PutActionRevision": puts_revisions,
}


def test_every_webhook_operation_has_a_scenario() -> None:
    assert set(SCENARIOS) == set(WEBHOOK_HANDLERS)


@pytest.mark.parametrize("operation", sorted(SCENARIOS))
def test_the_raw_response_fits_the_output_shape(server: Server, operation: str) -> None:
    bodies = SCENARIOS[operation](server)

    assert bodies
    for body in bodies:
        assert output_violations(operation, body) == []
