"""The connections APIs (codeconnections and codestar-connections) through boto3 and the AWS
CLI, the REST routes that finish a connection with credentials, and `stageline connections`:
CRUD, AWS's errors, paging, tags, nothing half-written, credentials never shown."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import make_client
from tests.integration.test_tags_boto3 import code, fails
from tests.support.servers import ACCESS_KEY_ID, SECRET_ACCESS_KEY, Server

ACCOUNT = "000000000000"
AUTH = (ACCESS_KEY_ID, SECRET_ACCESS_KEY)


@pytest.fixture
def cc(server: Server) -> Any:
    return make_client(server.url, "codeconnections")


@pytest.fixture
def csc(server: Server) -> Any:
    return make_client(server.url, "codestar-connections")


def connection_id(arn: str) -> str:
    return arn.rsplit("/", 1)[1]


def new_host(client: Any, endpoint: str = "https://git.example.com", **extra: Any) -> str:
    return str(
        client.create_host(
            Name="my-host", ProviderType="GitLabSelfManaged", ProviderEndpoint=endpoint, **extra
        )["HostArn"]
    )


def test_hosts_and_connections_crud_with_aws_shaped_arns(cc: Any) -> None:
    host_arn = new_host(cc, "https://git.example.com/")
    assert re.fullmatch(
        rf"arn:aws:codeconnections:us-east-1:{ACCOUNT}:host/my-host-[0-9a-f]{{8}}", host_arn
    )
    host = cc.get_host(HostArn=host_arn)
    assert host["Name"] == "my-host"
    assert host["ProviderType"] == "GitLabSelfManaged"
    assert host["ProviderEndpoint"] == "https://git.example.com"
    assert host["Status"] == "AVAILABLE"
    assert any(h["HostArn"] == host_arn for h in cc.list_hosts(MaxResults=100)["Hosts"])

    arn = cc.create_connection(ConnectionName="gitlab", HostArn=host_arn)["ConnectionArn"]
    assert re.fullmatch(
        rf"arn:aws:codeconnections:us-east-1:{ACCOUNT}:connection/[0-9a-f-]{{36}}", arn
    )
    got = cc.get_connection(ConnectionArn=arn)["Connection"]
    assert got == {
        "ConnectionName": "gitlab",
        "ConnectionArn": arn,
        "ProviderType": "GitLabSelfManaged",
        "OwnerAccountId": ACCOUNT,
        "ConnectionStatus": "PENDING",
        "HostArn": host_arn,
    }
    public = cc.create_connection(ConnectionName="gh", ProviderType="GitHub")["ConnectionArn"]
    assert "HostArn" not in cc.get_connection(ConnectionArn=public)["Connection"]

    # A host with connections cannot go; once they are gone it can.
    assert code(fails(cc.delete_host, HostArn=host_arn)) == "ResourceUnavailableException"
    cc.update_host(HostArn=host_arn, ProviderEndpoint="https://git2.example.com")
    assert cc.get_host(HostArn=host_arn)["ProviderEndpoint"] == "https://git2.example.com"
    cc.delete_connection(ConnectionArn=arn)
    cc.delete_connection(ConnectionArn=public)
    cc.delete_host(HostArn=host_arn)
    assert code(fails(cc.get_connection, ConnectionArn=arn)) == "ResourceNotFoundException"
    assert code(fails(cc.get_host, HostArn=host_arn)) == "ResourceNotFoundException"
    assert code(fails(cc.delete_connection, ConnectionArn=arn)) == "ResourceNotFoundException"


def test_both_apis_share_the_resources_and_keep_their_arn_prefix(cc: Any, csc: Any) -> None:
    arn = csc.create_connection(ConnectionName="old-api", ProviderType="Bitbucket")["ConnectionArn"]
    assert arn.startswith(f"arn:aws:codestar-connections:us-east-1:{ACCOUNT}:connection/")
    assert cc.get_connection(ConnectionArn=arn)["Connection"]["ConnectionArn"] == arn
    # The other API's ARN form names the same connection.
    other = arn.replace("codestar-connections", "codeconnections")
    assert cc.get_connection(ConnectionArn=other)["Connection"]["ConnectionName"] == "old-api"
    host = new_host(csc, "ssh://git@git.example.com:2222")
    assert host.startswith("arn:aws:codestar-connections:")
    assert cc.get_host(HostArn=host)["ProviderEndpoint"] == "ssh://git@git.example.com:2222"
    csc.delete_connection(ConnectionArn=other)
    cc.delete_host(HostArn=host)


def test_errors_are_aws_codes_and_write_nothing(cc: Any, server: Server) -> None:
    bad = fails(cc.create_host, Name="h", ProviderType="GitHub", ProviderEndpoint="ftp://x")
    assert code(bad) == "ValidationException" and "ProviderEndpoint" in str(bad)
    assert code(fails(cc.create_connection, ConnectionName="x")) == "ValidationException"
    needs_host = fails(cc.create_connection, ConnectionName="x", ProviderType="GitLabSelfManaged")
    assert code(needs_host) == "ValidationException" and "HostArn" in str(needs_host)
    missing = f"arn:aws:codeconnections:us-east-1:{ACCOUNT}:host/nope-00000000"
    assert code(fails(cc.create_connection, ConnectionName="x", HostArn=missing)) == (
        "ResourceNotFoundException"
    )
    assert code(fails(cc.get_connection, ConnectionArn="not-an-arn")) == "ValidationException"
    other_region = f"arn:aws:codeconnections:eu-west-1:{ACCOUNT}:connection/{'0' * 8}"
    assert code(fails(cc.get_connection, ConnectionArn=other_region)) == (
        "ResourceNotFoundException"
    )
    host = new_host(cc)
    mismatch = fails(cc.create_connection, ConnectionName="x", HostArn=host, ProviderType="GitHub")
    assert code(mismatch) == "ValidationException"
    # A reserved tag key fails the whole create: no connection is left behind.
    reserved = [{"Key": "aws:owner", "Value": "me"}]
    refused = fails(cc.create_connection, ConnectionName="half", HostArn=host, Tags=reserved)
    assert code(refused) == "ValidationException"
    assert cc.list_connections(HostArnFilter=host).get("Connections", []) == []
    assert (
        code(
            fails(
                cc.create_repository_link,
                ConnectionArn=other_region,
                OwnerId="o",
                RepositoryName="r",
            )
        )
        == "NotImplemented"
    )
    cc.delete_host(HostArn=host)
    assert "Traceback" not in server.log()


def test_listing_pages_and_filters(cc: Any, csc: Any) -> None:
    host = new_host(cc)
    made = [
        cc.create_connection(ConnectionName=f"c{i}", HostArn=host)["ConnectionArn"]
        for i in range(5)
    ]
    first = cc.list_connections(HostArnFilter=host, MaxResults=2)
    assert [c["ConnectionArn"] for c in first["Connections"]] == made[:2]
    # The older API's model accepts only its own host ARNs; both name the same host.
    old_form = host.replace("codeconnections", "codestar-connections")
    seen, token = [], None  # botocore has no paginator for it: follow NextToken by hand
    while True:
        page = csc.list_connections(
            HostArnFilter=old_form, MaxResults=2, **({"NextToken": token} if token else {})
        )
        assert len(page["Connections"]) <= 2
        seen += [c["ConnectionArn"] for c in page["Connections"]]
        token = page.get("NextToken")
        if not token:
            break
    assert seen == made
    by_type = cc.list_connections(ProviderTypeFilter="GitLabSelfManaged", MaxResults=100)
    assert set(made) <= {c["ConnectionArn"] for c in by_type["Connections"]}
    by_other = cc.list_connections(ProviderTypeFilter="AzureDevOps", MaxResults=100)
    assert not set(made) & {c["ConnectionArn"] for c in by_other.get("Connections", [])}
    bad_token = fails(cc.list_connections, NextToken="garbage")
    assert code(bad_token) in ("InvalidNextTokenException", "ValidationException")
    for arn in made:
        cc.delete_connection(ConnectionArn=arn)
    cc.delete_host(HostArn=host)


def test_tags_of_connections_and_hosts(cc: Any, csc: Any) -> None:
    arn = cc.create_connection(
        ConnectionName="tagged", ProviderType="GitHub", Tags=[{"Key": "team", "Value": "a"}]
    )["ConnectionArn"]
    cc.tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": "prod"}])
    tags = {t["Key"]: t["Value"] for t in csc.list_tags_for_resource(ResourceArn=arn)["Tags"]}
    assert tags == {"team": "a", "env": "prod"}
    cc.untag_resource(ResourceArn=arn, TagKeys=["team"])
    assert cc.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "env", "Value": "prod"}]
    reserved = fails(cc.tag_resource, ResourceArn=arn, Tags=[{"Key": "aws:x", "Value": "1"}])
    assert code(reserved) == "ValidationException"
    too_many = [{"Key": f"k{i}", "Value": "v"} for i in range(60)]
    assert code(fails(cc.tag_resource, ResourceArn=arn, Tags=too_many)) == "LimitExceededException"
    host = cc.create_host(
        Name="tagged-host",
        ProviderType="GitHubEnterpriseServer",
        ProviderEndpoint="https://ghe.example.com",
        Tags=[{"Key": "k", "Value": "v"}],
    )
    assert host["Tags"] == [{"Key": "k", "Value": "v"}]
    assert cc.list_tags_for_resource(ResourceArn=host["HostArn"])["Tags"] == host["Tags"]
    cc.delete_connection(ConnectionArn=arn)
    gone = fails(cc.list_tags_for_resource, ResourceArn=arn)
    assert code(gone) == "ResourceNotFoundException"
    pipeline_arn = f"arn:aws:codepipeline:us-east-1:{ACCOUNT}:p"
    assert code(fails(cc.list_tags_for_resource, ResourceArn=pipeline_arn)) == (
        "ResourceNotFoundException"
    )
    cc.delete_host(HostArn=host["HostArn"])


def test_credentials_finish_a_connection_and_never_come_back(cc: Any, server: Server) -> None:
    token = "ghp_SECRETtoken0123456789abcdef"
    arn = cc.create_connection(ConnectionName="secret", ProviderType="GitHub")["ConnectionArn"]
    cid = connection_id(arn)
    bodies: list[str] = []
    with httpx.Client(base_url=server.url, auth=AUTH) as rest:
        refused = rest.put(
            f"/api/v1/connections/{cid}/credentials", json={"token": token, "anonymous": True}
        )
        assert refused.status_code == 400 and token not in refused.text
        assert cc.get_connection(ConnectionArn=arn)["Connection"]["ConnectionStatus"] == "PENDING"
        done = rest.put(f"/api/v1/connections/{cid}/credentials", json={"token": token})
        assert done.status_code == 200, done.text
        view = done.json()["connection"]
        assert view["status"] == "AVAILABLE" and view["credentials"] == "token"
        assert view["webhookUrl"].endswith(f"/webhooks/connections/{cid}")
        assert view["providerEndpoint"] == "https://github.com"
        bodies += [done.text, rest.get(f"/api/v1/connections/{cid}").text]
        bodies.append(rest.get("/api/v1/connections").text)
        secret = rest.get(f"/api/v1/connections/{cid}/webhook-secret").json()["webhookSecret"]
        rotated = rest.post(f"/api/v1/connections/{cid}/webhook-secret").json()["webhookSecret"]
        assert secret != rotated
        assert rest.get(f"/api/v1/connections/{cid}/webhook-secret").json() == {
            "webhookSecret": rotated
        }
        missing = rest.get("/api/v1/connections/00000000-0000-0000-0000-000000000000")
        assert missing.status_code == 404
    got = cc.get_connection(ConnectionArn=arn)
    assert got["Connection"]["ConnectionStatus"] == "AVAILABLE"
    bodies.append(json.dumps(got, default=str))
    bodies.append(json.dumps(cc.list_connections(MaxResults=100), default=str))
    for body in bodies:
        assert token not in body
    assert token not in server.log()
    if server.database_url is None:  # stored encrypted: not in the SQLite files either
        for path in server.data_dir.glob("stageline.db*"):
            assert token.encode() not in path.read_bytes()
    cc.delete_connection(ConnectionArn=arn)


def test_the_aws_cli_speaks_both_connection_apis(aws: Any) -> None:
    for api in ("codestar-connections", "codeconnections"):
        made = aws(
            api,
            "create-connection",
            "--provider-type",
            "GitLab",
            "--connection-name",
            f"cli-{api[:8]}",
        )
        assert made.returncode == 0, made.stderr
        arn = made.json()["ConnectionArn"]
        assert arn.startswith(f"arn:aws:{api}:")
        got = aws(api, "get-connection", "--connection-arn", arn)
        assert got.json()["Connection"]["ConnectionStatus"] == "PENDING"
        listed = aws(api, "list-connections", "--provider-type-filter", "GitLab")
        assert arn in {c["ConnectionArn"] for c in listed.json()["Connections"]}
        assert aws(api, "delete-connection", "--connection-arn", arn).returncode == 0
        missing = aws(api, "get-connection", "--connection-arn", arn)
        assert missing.returncode != 0 and "ResourceNotFoundException" in missing.stderr


def test_stageline_connections_complete(cc: Any, server: Server, tmp_path: Path) -> None:
    arn = cc.create_connection(ConnectionName="by-cli", ProviderType="GitHub")["ConnectionArn"]
    token_file = tmp_path / "token"
    token_file.write_text("cli-token-value-98765\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "STAGELINE_"))}
    env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET_ACCESS_KEY)

    def stageline(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "stageline.cli",
                "connections",
                *args,
                "--endpoint-url",
                server.url,
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    done = stageline("complete", arn, "--token-file", str(token_file))
    assert done.returncode == 0, done.stderr
    assert "AVAILABLE" in done.stdout and "cli-token-value" not in done.stdout + done.stderr
    assert cc.get_connection(ConnectionArn=arn)["Connection"]["ConnectionStatus"] == "AVAILABLE"
    listed = stageline("list")
    assert listed.returncode == 0 and arn in listed.stdout
    unknown = stageline("complete", arn.replace(connection_id(arn), "0" * 36), "--anonymous")
    assert unknown.returncode != 0 and "ResourceNotFoundException" in unknown.stderr
    cc.delete_connection(ConnectionArn=arn)
