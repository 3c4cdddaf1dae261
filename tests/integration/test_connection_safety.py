"""Hosts and connection events at their edges, on both databases: CreateHost takes only
AWS's two host provider types (any git server is reached through one of them), and an event
posted to an unknown connection id is 404 "No such connection", not an authentication
failure."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tests.conftest import make_client
from tests.integration.test_tags_boto3 import code, fails, status
from tests.support.github_payloads import github_delivery, github_push
from tests.support.servers import Server


@pytest.fixture
def cc(server: Server) -> Any:
    return make_client(server.url, "codeconnections")


def test_host_provider_types(cc: Any) -> None:
    for provider in ("GitHub", "GitLab", "Bitbucket", "AzureDevOps"):
        refused = fails(
            cc.create_host, Name="h", ProviderType=provider, ProviderEndpoint="https://g.example"
        )
        assert code(refused) == "ValidationException" and status(refused) == 400
        assert "GitHubEnterpriseServer or GitLabSelfManaged" in str(refused)
    listed = {h["ProviderEndpoint"] for h in cc.list_hosts().get("Hosts", [])}
    assert "https://g.example" not in listed  # nothing half-written
    for provider, endpoint in [
        ("GitLabSelfManaged", "file:///srv/git"),
        ("GitHubEnterpriseServer", "http://git.internal:3000"),
    ]:
        arn = cc.create_host(Name="h", ProviderType=provider, ProviderEndpoint=endpoint)["HostArn"]
        assert cc.get_host(HostArn=arn)["ProviderType"] == provider
        cc.update_host(HostArn=arn, ProviderEndpoint=endpoint + "/x")
        cc.delete_host(HostArn=arn)


def test_events_for_an_unknown_connection_are_404(server: Server) -> None:
    payload = github_push("team/app", "refs/heads/main", "a" * 40, "b" * 40)
    body, headers = github_delivery("push", payload, "any-secret")
    answer = httpx.post(
        f"{server.url}/webhooks/connections/{'0' * 36}", content=body, headers=headers
    )
    assert answer.status_code == 404, answer.text
    error = answer.json()["error"]
    assert error["code"] == "ResourceNotFoundException"
    assert "No such connection" in error["message"]
