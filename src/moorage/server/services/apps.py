"""Apps: create, find (authorized), list, delete."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from moorage.errors import Conflict, NotFound
from moorage.server.store.models import App, User
from moorage.spec.names import validate_app_name


def create(session: Session, user: User, name: str) -> App:
    validate_app_name(name)
    if session.scalar(select(App).where(App.name == name)) is not None:
        raise Conflict(f"Name {name} is already taken. Choose another app name.")
    app = App(name=name, owner_id=user.id, config={})
    session.add(app)
    session.flush()
    session.refresh(app)
    return app


def get(session: Session, user: User, ident: str) -> App:
    """The app named or identified by ``ident`` if ``user`` may use it, else NotFound.

    Apps of other users answer exactly like missing apps, so names do not leak.
    """
    app = session.scalar(select(App).where(or_(App.name == ident, App.id == ident)))
    if app is None or app.owner_id != user.id:
        raise NotFound(f"Couldn't find that app: {ident}.")
    return app


def list_for(session: Session, user: User) -> list[App]:
    return list(session.scalars(select(App).where(App.owner_id == user.id).order_by(App.name)))


def all_apps(session: Session) -> list[App]:
    return list(session.scalars(select(App).order_by(App.name)))


def delete(session: Session, app: App) -> None:
    session.delete(app)
    session.flush()
