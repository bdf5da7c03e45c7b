"""An app's linked repository (``/apps/{app}/repo-link``)."""

from __future__ import annotations

from moorage.client.api import Client, path
from moorage.schemas.repolinks import RepoLink, RepoLinkCreate


def link(c: Client, app: str, body: RepoLinkCreate) -> RepoLink:
    raw = c.request("PUT", path("/apps/{}/repo-link", app), body.model_dump())
    return RepoLink.model_validate(raw)


def show(c: Client, app: str) -> RepoLink:
    return RepoLink.model_validate(c.request("GET", path("/apps/{}/repo-link", app)))


def unlink(c: Client, app: str) -> RepoLink:
    return RepoLink.model_validate(c.request("DELETE", path("/apps/{}/repo-link", app)))
