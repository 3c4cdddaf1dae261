"""ProviderEndpoint values a user gets wrong: a URL that does not parse is a 400
ValidationException (it was a 500), and one holding a password is refused without echoing it,
since GetHost and ListHosts show the endpoint to whoever may list hosts."""

from __future__ import annotations

from typing import Any

import pytest
from tests.conftest import make_client
from tests.integration.test_tags_boto3 import code, fails, status
from tests.support.servers import Server

PASSWORD = "hunter2-do-not-show"


@pytest.fixture
def cc(server: Server) -> Any:
    return make_client(server.url, "codeconnections")


def create(cc: Any, endpoint: str) -> Any:
    return fails(
        cc.create_host, Name="h", ProviderType="GitLabSelfManaged", ProviderEndpoint=endpoint
    )


def test_unparsable_endpoints_are_validation_errors(cc: Any, server: Server) -> None:
    for endpoint in ("http://[::1", "https://git.example.com:notaport"):
        error = create(cc, endpoint)
        assert (code(error), status(error)) == ("ValidationException", 400), endpoint
        assert "ProviderEndpoint is not a valid URL" in str(error)
    assert cc.list_hosts().get("Hosts", []) == []
    assert "Traceback" not in server.log()


def test_a_password_in_the_endpoint_is_refused_and_never_echoed(cc: Any, server: Server) -> None:
    error = create(cc, f"https://ci:{PASSWORD}@git.example.com")
    assert code(error) == "ValidationException" and "must not hold a password" in str(error)
    assert PASSWORD not in str(error.response)
    host = cc.create_host(
        Name="h", ProviderType="GitLabSelfManaged", ProviderEndpoint="ssh://git@git.example.com"
    )["HostArn"]  # a user name alone is how ssh endpoints are written
    refused = fails(cc.update_host, HostArn=host, ProviderEndpoint=f"https://u:{PASSWORD}@x.org")
    assert code(refused) == "ValidationException" and PASSWORD not in str(refused.response)
    assert cc.get_host(HostArn=host)["ProviderEndpoint"] == "ssh://git@git.example.com"
    cc.delete_host(HostArn=host)
    assert PASSWORD not in server.log()
