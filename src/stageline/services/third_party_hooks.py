"""RegisterWebhookWithThirdParty / DeregisterWebhookWithThirdParty: the git host's hook API.

For a GitHub (version 1) source action, "Create a repository webhook"
(`POST /repos/{owner}/{repo}/hooks`) with the action's OAuthToken, delivering push events as
JSON to the webhook's URL, signed with its secret token; deregistering deletes that hook.
The API base is STAGELINE_GITHUB_API_URL (GitHub Enterprise: https://HOST/api/v3). Failures
are ValidationException with the host's status, never the token.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from stageline.domain.errors import ServiceError, ValidationException

TIMEOUT = 15.0


@dataclass(frozen=True)
class GitHubRepo:
    api_url: str
    owner: str
    repo: str
    token: str = field(repr=False)

    @classmethod
    def of_action(cls, api_url: str, configuration: Mapping[str, str]) -> GitHubRepo:
        missing = [p for p in ("Owner", "Repo", "OAuthToken") if not configuration.get(p)]
        if missing:
            raise ValidationException(
                f"The target action has no {', '.join(missing)}: a GitHub webhook cannot be "
                "registered for it."
            )
        return cls(
            api_url.rstrip("/"),
            configuration["Owner"],
            configuration["Repo"],
            configuration["OAuthToken"],
        )

    @property
    def hooks_url(self) -> str:
        return f"{self.api_url}/repos/{self.owner}/{self.repo}/hooks"

    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "Stageline",
        }

    def create_hook(self, url: str, secret: str | None) -> str:
        config = {"url": url, "content_type": "json", "insecure_ssl": "0"}
        if secret is not None:
            config["secret"] = secret
        body = {"name": "web", "active": True, "events": ["push"], "config": config}
        response = self._call("POST", self.hooks_url, body)
        if response.status_code != 201:
            raise _refused("register", self, response)
        hook_id = _json(response).get("id")
        if hook_id is None:
            raise ValidationException(
                f"GitHub answered without a hook id for {self.owner}/{self.repo}."
            )
        return str(hook_id)

    def delete_hook(self, hook_id: str) -> None:
        response = self._call("DELETE", f"{self.hooks_url}/{hook_id}", None)
        # Already gone (deleted on GitHub by hand) is what deregistering wants anyway.
        if response.status_code not in (204, 404):
            raise _refused("deregister", self, response)

    def _call(self, method: str, url: str, body: object) -> httpx.Response:
        try:
            return httpx.request(method, url, json=body, headers=self._headers(), timeout=TIMEOUT)
        except httpx.HTTPError as exc:
            raise ValidationException(
                f"Cannot reach the GitHub API at {self.api_url}: {type(exc).__name__}."
            ) from None


def _json(response: httpx.Response) -> dict[str, Any]:
    """The response's JSON object; {} for anything else."""
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _refused(what: str, repo: GitHubRepo, response: httpx.Response) -> ServiceError:
    detail = _json(response).get("message")
    why = {
        401: "the OAuthToken was refused",
        403: "the OAuthToken may not manage hooks",
        404: "the repository was not found (or the token cannot see it)",
    }.get(response.status_code, "unexpected answer")
    return ValidationException(
        f"Could not {what} the webhook with GitHub repository {repo.owner}/{repo.repo}: "
        f"HTTP {response.status_code}, {why}" + (f" ({detail})" if detail else "") + "."
    )
