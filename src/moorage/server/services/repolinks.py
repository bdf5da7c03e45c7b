"""Repositories linked to apps: the webhook that builds a branch when it is pushed."""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from moorage.errors import NotFound
from moorage.gitpush.fetch import check_url, redact
from moorage.schemas import repolinks as shapes
from moorage.schemas.base import Ref
from moorage.server.store.models import App, RepoLink, User


def link(session: Session, app: App, user: User, body: shapes.RepoLinkCreate) -> RepoLink:
    """Link ``app`` to the repository (replacing an earlier link) with a new secret."""
    found = session.scalar(select(RepoLink).where(RepoLink.app_id == app.id))
    if found is not None:
        session.delete(found)
        session.flush()
    made = RepoLink(
        app_id=app.id,
        user_id=user.id,
        provider=body.provider,
        url=check_url(body.url),
        branch=body.branch,
        secret=secrets.token_hex(32),
    )
    session.add(made)
    session.flush()
    return made


def get(session: Session, app: App) -> RepoLink:
    found = session.scalar(select(RepoLink).where(RepoLink.app_id == app.id))
    if found is None:
        raise NotFound(
            f"{app.name} is not linked to a repository. Link one with "
            f"`moor repo:link URL -a {app.name}`."
        )
    return found


def for_app_name(session: Session, name: str) -> tuple[App, RepoLink] | None:
    """The app called ``name`` and its link, for a webhook delivery (no user: the
    signature is the credential)."""
    row = session.execute(
        select(App, RepoLink).join(RepoLink, RepoLink.app_id == App.id).where(App.name == name)
    ).first()
    return None if row is None else (row[0], row[1])


def view(found: RepoLink, app: App, hook_url: str, with_secret: bool = False) -> shapes.RepoLink:
    return shapes.RepoLink(
        id=found.id,
        app=Ref.of(app),
        provider=found.provider,  # type: ignore[arg-type]
        url=redact(found.url),
        branch=found.branch,
        hook_url=hook_url,
        secret=found.secret if with_secret else None,
        created_at=found.created_at,
    )
