"""Log drains: where an app's stream is forwarded (syslog over TCP/TLS, HTTPS)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from moorage.errors import Conflict, NotFound
from moorage.logs.drains import DrainStats, parse_drain_url
from moorage.schemas import drains as schema
from moorage.schemas.base import Ref
from moorage.server.store.models import App, Drain

MAX_DRAINS = 5


def view(d: Drain, stats: DrainStats | None) -> schema.Drain:
    """The drain as the API shows it, with its forwarder's counters (None: not running)."""
    return schema.Drain(
        id=d.id,
        url=d.url,
        token=d.token,
        app=Ref.of(d.app),
        created_at=d.created_at,
        updated_at=d.updated_at,
        moorage_stats=schema.DrainStats.model_validate(stats) if stats else None,
    )


def add(session: Session, app: App, url: str) -> Drain:
    normalized = parse_drain_url(url)
    existing = list_for(session, app)
    if any(d.url == normalized for d in existing):
        raise Conflict(f"{app.name} already drains to {normalized}.")
    if len(existing) >= MAX_DRAINS:
        raise Conflict(f"{app.name} has {MAX_DRAINS} drains already; remove one first.")
    drain = Drain(app_id=app.id, url=normalized, token=f"d.{uuid.uuid4()}")
    session.add(drain)
    session.flush()
    session.refresh(drain)
    return drain


def list_for(session: Session, app: App) -> list[Drain]:
    return list(session.scalars(select(Drain).where(Drain.app_id == app.id)))


def all_drains(session: Session) -> list[tuple[str, str, str]]:
    rows = session.execute(
        select(Drain.token, App.name, Drain.url).join(App, Drain.app_id == App.id)
    )
    return [(token, name, url) for token, name, url in rows]


def remove(session: Session, app: App, ident: str) -> Drain:
    for d in list_for(session, app):
        if ident in (d.id, d.url, d.token):
            session.delete(d)
            return d
    raise NotFound(f"{app.name} has no drain {ident}. See `moor drains -a {app.name}`.")
