"""Pure rules of connections and hosts: ARNs as AWS shapes them, where a provider's
repositories live, and the links and APIs a provider offers.

AWS shapes: arn:aws:codeconnections:REGION:ACCOUNT:connection/<uuid> and
arn:aws:codeconnections:REGION:ACCOUNT:host/<name>-<8 hex>; the same with
`codestar-connections` for resources made through that (older) API. Both APIs read both forms.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

SERVICES = ("codeconnections", "codestar-connections")
PENDING, AVAILABLE, ERROR = "PENDING", "AVAILABLE", "ERROR"
HOST_AVAILABLE = "AVAILABLE"

# Connections without a host reach the provider's public service.
PUBLIC_ENDPOINTS = {
    "GitHub": "https://github.com",
    "GitLab": "https://gitlab.com",
    "Bitbucket": "https://bitbucket.org",
    "AzureDevOps": "https://dev.azure.com",
}
SELF_MANAGED = frozenset({"GitHubEnterpriseServer", "GitLabSelfManaged"})
ENDPOINT_SCHEMES = frozenset({"https", "http", "ssh", "git", "file"})

_ARN = re.compile(
    r"arn:aws[a-z-]*:(codeconnections|codestar-connections):([a-z0-9-]+):([0-9]{12}):"
    r"(connection|host)/(.+)"
)
_REPOSITORY = re.compile(r"[A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)+")


@dataclass(frozen=True)
class ResourceName:
    service: str
    region: str
    account: str
    kind: str  # connection | host
    resource_id: str


def parse_arn(arn: str) -> ResourceName | None:
    """The parts of a connection or host ARN of either API; None for anything else."""
    match = _ARN.fullmatch(arn)
    if match is None:
        return None
    return ResourceName(*match.groups())


def make_arn(service: str, region: str, account: str, kind: str, resource_id: str) -> str:
    return f"arn:aws:{service}:{region}:{account}:{kind}/{resource_id}"


def host_resource_id(name: str, suffix: str) -> str:
    """AWS's host resource: the name (unsafe characters as '-') and a random suffix."""
    return f"{re.sub(r'[^A-Za-z0-9-]', '-', name)[:64]}-{suffix}"


def endpoint_problem(endpoint: str) -> str | None:
    """Why a ProviderEndpoint cannot be used as a git server address; None when it can."""
    parts = urlsplit(endpoint)
    if parts.scheme not in ENDPOINT_SCHEMES:
        return (
            f"ProviderEndpoint {endpoint} must be an https, http, ssh, git or file URL of a "
            "git server"
        )
    if parts.scheme != "file" and not parts.hostname:
        return f"ProviderEndpoint {endpoint} names no host"
    if parts.query or parts.fragment:
        return f"ProviderEndpoint {endpoint} must not have a query or fragment"
    return None


def repository_problem(full_repository_id: str) -> str | None:
    """FullRepositoryId is `owner/name` (GitLab groups may nest: `group/sub/name`)."""
    if not _REPOSITORY.fullmatch(full_repository_id) or ".." in full_repository_id:
        return (
            f"FullRepositoryId {full_repository_id!r} must look like owner/repository "
            "(letters, digits, '.', '_', '~', '-')"
        )
    return None


def repository_url(endpoint: str, full_repository_id: str) -> str:
    return f"{endpoint.rstrip('/')}/{full_repository_id}"


def web_url(endpoint: str, provider_type: str, full_repository_id: str) -> str | None:
    """The repository's page in a browser; None where there is no web UI (file, ssh)."""
    if urlsplit(endpoint).scheme not in ("https", "http"):
        return None
    return repository_url(endpoint, full_repository_id.removesuffix(".git"))


def commit_url(web: str | None, provider_type: str, commit: str) -> str | None:
    if web is None:
        return None
    if provider_type in ("GitLab", "GitLabSelfManaged"):
        return f"{web}/-/commit/{commit}"
    if provider_type == "Bitbucket":
        return f"{web}/commits/{commit}"
    return f"{web}/commit/{commit}"


def api_url(endpoint: str, provider_type: str) -> str | None:
    """The base of the provider's REST API (commit statuses); None when unknown."""
    base = endpoint.rstrip("/")
    if urlsplit(base).scheme not in ("https", "http"):
        return None
    if provider_type == "GitHub" and base == PUBLIC_ENDPOINTS["GitHub"]:
        return "https://api.github.com"
    if provider_type in ("GitHub", "GitHubEnterpriseServer"):
        return f"{base}/api/v3"
    if provider_type in ("GitLab", "GitLabSelfManaged"):
        return f"{base}/api/v4"
    return None


def token_username(provider_type: str) -> str:
    """The user name each provider expects beside an access token over HTTPS."""
    return {
        "GitHub": "x-access-token",
        "GitHubEnterpriseServer": "x-access-token",
        "GitLab": "oauth2",
        "GitLabSelfManaged": "oauth2",
        "Bitbucket": "x-token-auth",
    }.get(provider_type, "git")
