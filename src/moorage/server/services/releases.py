"""Releases: every image or config change makes version vN (images + config snapshot)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from moorage.errors import NotFound
from moorage.server.store.models import App, Release, User, now


def latest(session: Session, app: App) -> Release | None:
    return session.scalar(
        select(Release).where(Release.app_id == app.id).order_by(Release.version.desc()).limit(1)
    )


def current(session: Session, app: App) -> Release | None:
    """The release the platform runs: the newest one that has not failed."""
    return session.scalar(
        select(Release)
        .where(Release.app_id == app.id, Release.status != "failed")
        .order_by(Release.version.desc())
        .limit(1)
    )


def create(
    session: Session,
    app: App,
    user: User,
    description: str,
    *,
    images: dict[str, str] | None = None,
) -> Release:
    """A new release from the previous one's images (updated by ``images``) and app config."""
    prev = current(session, app)
    merged = dict(prev.images) if prev else {}
    merged.update(images or {})
    version = (
        session.scalar(select(func.max(Release.version)).where(Release.app_id == app.id)) or 0
    ) + 1
    release = Release(
        app_id=app.id,
        version=version,
        description=description,
        images=merged,
        config=dict(app.config),
        user_id=user.id,
        status="pending",
    )
    session.add(release)
    app.released_at = now()
    session.flush()
    session.refresh(release)
    return release


def get(session: Session, app: App, ident: str) -> Release:
    """By id, by version number, or by ``vN``."""
    text = ident[1:] if ident.startswith("v") and ident[1:].isdigit() else ident
    cond = Release.version == int(text) if text.isdigit() else Release.id == ident
    release = session.scalar(select(Release).where(Release.app_id == app.id, cond))
    if release is None:
        raise NotFound(f"Couldn't find release {ident} of app {app.name}.")
    return release


def list_for(session: Session, app: App) -> list[Release]:
    return list(
        session.scalars(select(Release).where(Release.app_id == app.id).order_by(Release.version))
    )
