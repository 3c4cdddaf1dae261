"""/api/v1/pipelines over HTTP against a real `stageline serve` (SQLite and Postgres)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from tests.support.pipelines import two_stage, unique
from tests.support.servers import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, Server

AUTH = (ACCESS_KEY_ID, SECRET_ACCESS_KEY)
BASE = "/api/v1/pipelines"


@pytest.fixture
def api(server: Server) -> Any:
    with httpx.Client(base_url=server.url, auth=AUTH, timeout=30) as c:
        yield c


@pytest.fixture
def anonymous(server: Server) -> Any:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def error_code(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    assert response.json()["error"]["message"]
    return code


def create(api: httpx.Client, name: str, **body: Any) -> dict[str, Any]:
    response = api.post(BASE, json={"pipeline": two_stage(name), **body})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def exists(api: httpx.Client, name: str) -> bool:
    response = api.get(f"{BASE}/{name}")
    assert response.status_code in (200, 404), response.text
    return response.status_code == 200


def signed(method: str, url: str, secret: str = SECRET_ACCESS_KEY, body: bytes = b"") -> Any:
    headers = {"Content-Type": "application/json"} if body else {}
    request = AWSRequest(method=method, url=url, data=body, headers=headers)
    SigV4Auth(Credentials(ACCESS_KEY_ID, secret), "codepipeline", REGION).add_auth(request)
    return dict(request.headers.items())


def test_unauthenticated_requests_are_refused(api: httpx.Client, anonymous: httpx.Client) -> None:
    name = unique("rest-anon")
    listed = anonymous.get(BASE)
    assert listed.status_code == 401
    assert error_code(listed) == "UnrecognizedClientException"

    posted = anonymous.post(BASE, json={"pipeline": two_stage(name)})
    assert posted.status_code == 401
    assert error_code(posted) == "UnrecognizedClientException"
    assert not exists(api, name)

    # An existing pipeline can be neither read, changed nor deleted anonymously.
    create(api, name)
    assert anonymous.get(f"{BASE}/{name}").status_code == 401
    changed = two_stage(name)
    changed["stages"][1]["actions"][0]["configuration"]["ProjectName"] = "hijacked"
    assert anonymous.put(f"{BASE}/{name}", json={"pipeline": changed}).status_code == 401
    assert anonymous.delete(f"{BASE}/{name}").status_code == 401
    current = api.get(f"{BASE}/{name}").json()["pipeline"]
    assert current["version"] == 1
    assert current["stages"][1]["actions"][0]["configuration"]["ProjectName"] == "app"


@pytest.mark.parametrize(
    "auth",
    [
        (ACCESS_KEY_ID, "wrong-" + SECRET_ACCESS_KEY),
        (ACCESS_KEY_ID, ""),
        ("AKIAUNKNOWNKEY000000", SECRET_ACCESS_KEY),
    ],
    ids=["wrong-secret", "empty-secret", "unknown-key"],
)
def test_basic_auth_with_bad_credentials_is_refused(
    server: Server, api: httpx.Client, auth: tuple[str, str]
) -> None:
    name = unique("rest-badauth")
    with httpx.Client(base_url=server.url, auth=auth, timeout=30) as bad:
        listed = bad.get(BASE)
        assert listed.status_code == 401
        assert error_code(listed) == "UnrecognizedClientException"
        assert bad.post(BASE, json={"pipeline": two_stage(name)}).status_code == 401
    assert not exists(api, name)


def test_malformed_basic_header_is_refused(anonymous: httpx.Client) -> None:
    response = anonymous.get(BASE, headers={"Authorization": "Basic !!not-base64!!"})
    assert response.status_code == 401


def test_lifecycle(api: httpx.Client) -> None:
    name = unique("rest")
    created = create(api, name)
    assert created["pipeline"]["name"] == name
    assert created["pipeline"]["version"] == 1

    listed = api.get(BASE, params={"maxResults": 1000})
    assert listed.status_code == 200
    summaries = [p for p in listed.json()["pipelines"] if p["name"] == name]
    assert len(summaries) == 1 and summaries[0]["version"] == 1

    got = api.get(f"{BASE}/{name}")
    assert got.status_code == 200
    body = got.json()
    assert body["pipeline"] == created["pipeline"]
    metadata = body["metadata"]
    assert metadata["pipelineArn"] == f"arn:aws:codepipeline:{REGION}:000000000000:{name}"
    assert datetime.fromisoformat(metadata["created"]) == datetime.fromisoformat(
        metadata["updated"]
    )

    declaration = body["pipeline"]
    declaration["stages"][1]["actions"][0]["configuration"]["ProjectName"] = "app-v2"
    put = api.put(f"{BASE}/{name}", json={"pipeline": declaration})
    assert put.status_code == 200, put.text
    assert put.json()["pipeline"]["version"] == 2

    latest = api.get(f"{BASE}/{name}").json()
    assert latest["pipeline"]["version"] == 2
    assert latest["pipeline"]["stages"][1]["actions"][0]["configuration"]["ProjectName"] == (
        "app-v2"
    )
    assert datetime.fromisoformat(latest["metadata"]["updated"]) > datetime.fromisoformat(
        latest["metadata"]["created"]
    )

    first = api.get(f"{BASE}/{name}", params={"version": 1})
    assert first.status_code == 200
    assert first.json()["pipeline"]["version"] == 1
    assert first.json()["pipeline"]["stages"][1]["actions"][0]["configuration"] == {
        "ProjectName": "app"
    }
    missing_version = api.get(f"{BASE}/{name}", params={"version": 3})
    assert missing_version.status_code == 404
    assert error_code(missing_version) == "PipelineVersionNotFoundException"

    deleted = api.delete(f"{BASE}/{name}")
    assert deleted.status_code == 204
    assert deleted.content == b""

    gone = api.get(f"{BASE}/{name}")
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "PipelineNotFoundException"
    assert name in gone.json()["error"]["message"]
    assert name not in [
        p["name"] for p in api.get(BASE, params={"maxResults": 1000}).json()["pipelines"]
    ]
    # Deleting again succeeds, as on AWS.
    assert api.delete(f"{BASE}/{name}").status_code == 204


def test_create_with_tags_returns_them(api: httpx.Client) -> None:
    name = unique("rest-tags")
    created = create(api, name, tags=[{"key": "team", "value": "core"}])
    assert created["tags"] == [{"key": "team", "value": "core"}]

    reserved = api.post(
        BASE,
        json={"pipeline": two_stage(unique("rest-tags")), "tags": [{"key": "aws:x", "value": "1"}]},
    )
    assert reserved.status_code == 400
    assert error_code(reserved) == "InvalidTagsException"


def test_invalid_structure_is_400_and_writes_nothing(api: httpx.Client) -> None:
    name = unique("rest-invalid")
    declaration = two_stage(name)
    declaration["stages"] = declaration["stages"][:1]
    response = api.post(BASE, json={"pipeline": declaration})
    assert response.status_code == 400
    assert error_code(response) == "InvalidStructureException"
    assert response.headers["x-amzn-errortype"] == "InvalidStructureException"
    assert not exists(api, name)


def test_input_breaking_the_aws_model_is_400(api: httpx.Client) -> None:
    bad_name = two_stage("has spaces!")
    response = api.post(BASE, json={"pipeline": bad_name})
    assert response.status_code == 400
    assert error_code(response) == "ValidationException"

    not_a_pipeline = api.post(BASE, json={"something": "else"})
    assert not_a_pipeline.status_code == 400
    assert error_code(not_a_pipeline) == "ValidationException"


def test_name_conflict_is_409(api: httpx.Client) -> None:
    name = unique("rest-dup")
    create(api, name)
    other = two_stage(name)
    other["stages"][1]["actions"][0]["configuration"]["ProjectName"] = "other"
    response = api.post(BASE, json={"pipeline": other})
    assert response.status_code == 409
    assert error_code(response) == "PipelineNameInUseException"
    kept = api.get(f"{BASE}/{name}").json()["pipeline"]
    assert kept["version"] == 1
    assert kept["stages"][1]["actions"][0]["configuration"]["ProjectName"] == "app"


def test_put_with_name_mismatch_is_400(api: httpx.Client) -> None:
    name = unique("rest-put")
    create(api, name)
    other = two_stage(unique("rest-other"))
    response = api.put(f"{BASE}/{name}", json={"pipeline": other})
    assert response.status_code == 400
    assert error_code(response) == "ValidationException"
    assert api.get(f"{BASE}/{name}").json()["pipeline"]["version"] == 1
    assert not exists(api, other["name"])


def test_put_of_missing_pipeline_is_404(api: httpx.Client) -> None:
    name = unique("rest-missing")
    response = api.put(f"{BASE}/{name}", json={"pipeline": two_stage(name)})
    assert response.status_code == 404
    assert error_code(response) == "PipelineNotFoundException"
    assert not exists(api, name)


def test_put_from_stale_version_is_409(api: httpx.Client) -> None:
    name = unique("rest-stale")
    base = create(api, name)["pipeline"]
    assert api.put(f"{BASE}/{name}", json={"pipeline": base}).status_code == 200
    stale = api.put(f"{BASE}/{name}", json={"pipeline": base})
    assert stale.status_code == 409
    assert error_code(stale) == "ConcurrentModificationException"


def test_pagination(api: httpx.Client) -> None:
    prefix = unique("rest-page")
    mine = [f"{prefix}-{i}" for i in range(5)]
    for name in mine:
        create(api, name)
    everything = [p["name"] for p in api.get(BASE, params={"maxResults": 1000}).json()["pipelines"]]
    assert len(everything) == len(set(everything))
    # The order is the database's (its collation); only membership is compared here.
    assert sorted(n for n in everything if n.startswith(prefix)) == mine

    collected: list[str] = []
    token: str | None = None
    for _ in range(1000):
        params: dict[str, Any] = {"maxResults": 2}
        if token:
            params["nextToken"] = token
        page = api.get(BASE, params=params)
        assert page.status_code == 200, page.text
        names = [p["name"] for p in page.json()["pipelines"]]
        assert 1 <= len(names) <= 2
        collected += names
        token = page.json().get("nextToken")
        if not token:
            break
    assert collected == everything

    forged = api.get(BASE, params={"nextToken": "bm90LWEtdG9rZW4"})
    assert forged.status_code == 400
    assert error_code(forged) == "InvalidNextTokenException"
    for bad in (0, 1001, "many"):
        response = api.get(BASE, params={"maxResults": bad})
        assert response.status_code == 400, (bad, response.text)
        assert error_code(response) == "ValidationException"


def test_sigv4_signed_requests(server: Server, api: httpx.Client) -> None:
    url = f"{server.url}{BASE}?maxResults=1"
    ok = httpx.get(url, headers=signed("GET", url))
    assert ok.status_code == 200, ok.text
    assert len(ok.json()["pipelines"]) <= 1

    name = unique("rest-sigv4")
    body = json.dumps({"pipeline": two_stage(name)}).encode()
    post_url = f"{server.url}{BASE}"
    created = httpx.post(post_url, content=body, headers=signed("POST", post_url, body=body))
    assert created.status_code == 201, created.text
    assert exists(api, name)

    wrong = httpx.get(url, headers=signed("GET", url, secret="wrong-" + SECRET_ACCESS_KEY))
    assert wrong.status_code == 403
    assert error_code(wrong) == "InvalidSignatureException"

    # A body changed after signing does not pass for the signed one.
    other = unique("rest-sigv4-tampered")
    tampered = json.dumps({"pipeline": two_stage(other)}).encode()
    refused = httpx.post(post_url, content=tampered, headers=signed("POST", post_url, body=body))
    assert refused.status_code == 403
    assert not exists(api, other)


def test_docs_and_openapi(anonymous: httpx.Client) -> None:
    docs = anonymous.get("/docs")
    assert docs.status_code == 200
    assert docs.headers["content-type"].startswith("text/html")
    assert "swagger-ui" in docs.text.lower()

    spec = anonymous.get("/openapi.json")
    assert spec.status_code == 200
    paths = spec.json()["paths"]
    assert {"get", "post"} <= set(paths[BASE])
    assert {"get", "put", "delete"} <= set(paths[f"{BASE}/{{name}}"])
    assert "/" not in paths  # the AWS JSON endpoint is not part of the REST API


def test_rest_and_aws_api_share_one_store(api: httpx.Client, cp: Any) -> None:
    via_rest = unique("rest-to-aws")
    created = create(api, via_rest)
    got = cp.get_pipeline(name=via_rest)
    assert got["pipeline"] == created["pipeline"]
    assert (
        got["metadata"]["pipelineArn"]
        == api.get(f"{BASE}/{via_rest}").json()["metadata"]["pipelineArn"]
    )
    assert via_rest in [
        p["name"]
        for page in cp.get_paginator("list_pipelines").paginate()
        for p in page["pipelines"]
    ]

    via_aws = unique("aws-to-rest")
    cp.create_pipeline(pipeline=two_stage(via_aws))
    rest_view = api.get(f"{BASE}/{via_aws}")
    assert rest_view.status_code == 200
    assert rest_view.json()["pipeline"] == cp.get_pipeline(name=via_aws)["pipeline"]

    declaration = rest_view.json()["pipeline"]
    declaration["stages"][1]["actions"][0]["configuration"]["ProjectName"] = "via-aws"
    cp.update_pipeline(pipeline=declaration)
    after = api.get(f"{BASE}/{via_aws}").json()["pipeline"]
    assert after["version"] == 2
    assert after["stages"][1]["actions"][0]["configuration"]["ProjectName"] == "via-aws"

    assert api.delete(f"{BASE}/{via_aws}").status_code == 204
    with pytest.raises(ClientError) as gone:
        cp.get_pipeline(name=via_aws)
    assert gone.value.response["Error"]["Code"] == "PipelineNotFoundException"
