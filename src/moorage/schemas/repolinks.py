"""An app's linked repository (``/apps/{app}/repo-link``) and what its webhook answers."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from moorage.schemas.base import Body, Ref, Resource, Timestamp

Provider = Literal["github", "gitlab", "gitea"]


class RepoLinkCreate(Body):
    hint = (
        'Send {"url": "https://github.com/owner/repo.git", "provider": "github", "branch": "main"}.'
    )
    url: str = Field(max_length=2000)
    provider: Provider = "github"
    branch: str = Field("main", min_length=1, max_length=255, pattern=r"^[A-Za-z0-9._/-]+$")


class RepoLink(Resource):
    """``url`` without its password; ``hook_url`` is where the provider sends its events;
    ``secret`` (the webhook's signing secret) only in the answer to the link's creation."""

    id: str
    app: Ref
    provider: Provider
    url: str
    branch: str
    hook_url: str
    secret: str | None = None
    created_at: Timestamp


class HookResult(Resource):
    """What a delivery did: ``build`` when it started one, else ``message`` says why not."""

    message: str
    build: str | None = None
