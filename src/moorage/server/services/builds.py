"""Builds from ``git push``: the rows the builder (``background/builder.py``) works on."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from moorage.errors import NotFound
from moorage.schemas import builds as shapes
from moorage.schemas.base import Ref
from moorage.server.store.models import App, Build, User
from moorage.spec.status import ProofStatus

LISTED = 100


def create(session: Session, app: App, user: User, checksum: str, version: str) -> Build:
    build = Build(
        app_id=app.id,
        user_id=user.id,
        status=ProofStatus.PENDING,
        source_checksum=checksum,
        source_version=version,
    )
    session.add(build)
    session.flush()
    return build


def get(session: Session, app: App, ident: str) -> Build:
    build = session.get(Build, ident)
    if build is None or build.app_id != app.id:
        raise NotFound(f"{app.name} has no build {ident}.")
    return build


def list_for(session: Session, app: App) -> list[Build]:
    """The app's latest builds, oldest first (as ``heroku builds`` lists them)."""
    rows = session.scalars(
        select(Build).where(Build.app_id == app.id).order_by(Build.created_at.desc()).limit(LISTED)
    )
    return list(reversed(list(rows)))


def view(build: Build, app: App, user: User | None = None) -> shapes.Build:
    release = None
    if build.release_id and build.release_version:
        release = shapes.BuildRelease(id=build.release_id, version=build.release_version)
    return shapes.Build(
        id=build.id,
        app=Ref.of(app),
        status=ProofStatus(build.status),
        message=build.message or None,
        source_blob=shapes.SourceBlob(
            checksum=build.source_checksum or None, version=build.source_version or None
        ),
        release=release,
        user=Ref(id=user.id, name=user.email) if user is not None else None,
        created_at=build.created_at,
        updated_at=build.updated_at,
    )
