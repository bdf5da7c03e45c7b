"""Releases: every image or config change makes version vN (images + config snapshot)."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from moorage.errors import InvalidParams, NotFound
from moorage.schemas import releases as shapes
from moorage.schemas.base import Ref
from moorage.server.services import apps
from moorage.server.store.models import ApiToken, App, Release, User, now
from moorage.spec.status import ReleaseStatus

VERSION_RE = re.compile(r"v?([0-9]{1,9})")


def latest(session: Session, app: App) -> Release | None:
    return session.scalar(
        select(Release).where(Release.app_id == app.id).order_by(Release.version.desc()).limit(1)
    )


def current(session: Session, app: App) -> Release | None:
    """The release the platform runs: the newest one that has not failed."""
    return session.scalar(
        select(Release)
        .where(Release.app_id == app.id, Release.status != ReleaseStatus.FAILED)
        .order_by(Release.version.desc())
        .limit(1)
    )


def current_by_app(session: Session) -> dict[str, Release]:
    """:func:`current` of every app at once (app id -> release), in one query."""
    newest = (
        select(Release.app_id, func.max(Release.version).label("version"))
        .where(Release.status != ReleaseStatus.FAILED)
        .group_by(Release.app_id)
        .subquery()
    )
    rows = session.scalars(
        select(Release).join(
            newest, (Release.app_id == newest.c.app_id) & (Release.version == newest.c.version)
        )
    )
    return {r.app_id: r for r in rows}


def create(
    session: Session,
    app: App,
    user: User,
    description: str,
    *,
    images: dict[str, str] | None = None,
    release_command: str | None = None,
    commands: dict[str, str] | None = None,
    sources: dict[str, str] | None = None,
) -> Release:
    """A new release from the previous one's images (updated by ``images``) and app config.

    The release phase command and process commands carry over unless given; ``sources``:
    where the new prebuilt images came from (a pushed image has none).
    """
    prev = current(session, app)
    merged = dict(prev.images) if prev else {}
    merged.update(images or {})
    origins = {
        t: s for t, s in (prev.image_sources if prev else {}).items() if t not in (images or {})
    }
    origins.update(sources or {})
    if release_command is None and prev is not None:
        release_command = prev.release_command
    merged_commands = dict(prev.commands) if prev else {}
    merged_commands.update(commands or {})
    version = (
        session.scalar(select(func.max(Release.version)).where(Release.app_id == app.id)) or 0
    ) + 1
    release = Release(
        app_id=app.id,
        version=version,
        description=description,
        images=merged,
        image_sources=origins,
        config=dict(app.config),
        commands=merged_commands,
        release_command=release_command,
        user_id=user.id,
        status=ReleaseStatus.PENDING,
    )
    session.add(release)
    app.released_at = now()
    session.flush()
    session.refresh(release)
    return release


def get(session: Session, app: App, ident: str) -> Release:
    """By id, by version number, or by ``vN`` (ASCII digits; longer than any version is
    looked up as an id, so it is simply not found)."""
    version = VERSION_RE.fullmatch(ident)
    cond = Release.version == int(version[1]) if version else Release.id == ident
    release = session.scalar(select(Release).where(Release.app_id == app.id, cond))
    if release is None:
        raise NotFound(f"Couldn't find release {ident} of app {app.name}.")
    return release


def by_id(session: Session, release_id: str) -> Release:
    release = session.get(Release, release_id)
    if release is None:
        raise NotFound(f"Couldn't find release {release_id}.")
    return release


def list_for(session: Session, app: App) -> list[Release]:
    return list(
        session.scalars(select(Release).where(Release.app_id == app.id).order_by(Release.version))
    )


def rollback(session: Session, app: App, user: User, ident: str) -> Release:
    """A new release with ``ident``'s images, config and commands (the app's config too).
    The add-ons' variables keep their values of now (Heroku's rule): a rollback brings back
    code and config, not credentials rotated or databases promoted since, which no longer
    work, nor does it detach an add-on attached since."""
    target = get(session, app, ident)
    if target.status == ReleaseStatus.FAILED:
        raise InvalidParams(
            f"v{target.version} failed ({target.status_reason}); roll back to a release that "
            f"succeeded. See `moor releases -a {app.name}`."
        )
    if not target.images:
        raise InvalidParams(f"v{target.version} has no image to roll back to.")
    app.config = _with_addons_of_now(session, app, target.config)
    prev = current(session, app)
    rel = create(
        session,
        app,
        user,
        f"Rollback to v{target.version}",
        images=dict(target.images),
        release_command=target.release_command or "",
        commands=dict(target.commands),
    )
    rel.images = dict(target.images)  # not merged: exactly the old release's images
    rel.image_sources = dict(target.image_sources)
    rel.commands = dict(target.commands)
    if prev is not None and not target.release_command:
        rel.release_command = None
    return rel


def _with_addons_of_now(session: Session, app: App, config: dict[str, str]) -> dict[str, str]:
    from moorage.server.services import addons  # addons makes releases: imported on use

    attached = addons.attachments_of(session, app)
    return {**config, **{att.config_var: att.value for att in attached}}


def output_allowed(session: Session, rel: Release, token_id: str, grace: dt.timedelta) -> bool:
    """Whether a release's output stream may still be read with ``token_id``'s link: the
    token exists, its user may use the app, and the release is pending or ended less than
    ``grace`` ago."""
    token = session.get(ApiToken, token_id)
    if token is None or not apps.may_use(rel.app, token.user):
        return False
    ended = rel.updated_at.replace(tzinfo=rel.updated_at.tzinfo or dt.UTC)
    return rel.status == ReleaseStatus.PENDING or dt.datetime.now(dt.UTC) - ended < grace


def view(r: Release, current_version: int | None) -> shapes.Release:
    """Heroku's ``release`` of a row; ``current`` when ``r`` is ``current_version``."""
    return shapes.Release(
        id=r.id,
        app=Ref.of(r.app),
        version=r.version,
        description=r.description,
        status=ReleaseStatus(r.status),
        status_reason=r.status_reason or None,
        current=r.version == current_version,
        # a release without images cannot run anything, so it is no rollback target
        eligible_for_rollback=r.status == ReleaseStatus.SUCCEEDED and bool(r.images),
        created_at=r.created_at,
        updated_at=r.updated_at,
        user=shapes.UserRef(id=r.user.id, email=r.user.email),
        slug=None,
        artifacts=[shapes.Artifact(type="oci-image", id=ref) for ref in sorted(r.images.values())],
        images=dict(r.images),
        moorage=shapes.ReleaseExtension(image_sources=dict(r.image_sources or {})),
        release_command=r.release_command or None,
        addon_plan_names=sorted({a.plan for a in r.app.addons}),
        output_stream_url=None,
    )
