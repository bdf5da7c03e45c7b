"""Apps: create, find (authorized), list, delete; who may use them; their API shapes."""

from __future__ import annotations

import re

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from moorage.errors import Conflict, Forbidden, InvalidName, InvalidParams, NotFound
from moorage.schemas import access as access_shapes
from moorage.schemas import apps as shapes
from moorage.schemas.base import Ref
from moorage.server.store.models import App, Collaborator, Domain, User
from moorage.settings import Settings
from moorage.spec.names import validate_app_name, validate_dns_label

# the platform's own hosts (api.<domain>, registry.<domain>): an app of that name would get
# their plain-HTTP requests, and the bearer tokens of clients pointed at them
RESERVED_APP_NAMES = frozenset({"api", "registry"})


ORIGIN_RE = re.compile(r"[a-z0-9][a-z0-9:._-]{0,79}")


def origin(value: object) -> str | None:
    """What made an app (``k8s:<hash>``): short, lowercase letters, digits and ``:._-``."""
    if value is None:
        return None
    if not isinstance(value, str) or not ORIGIN_RE.fullmatch(value):
        raise InvalidParams("origin is up to 80 lowercase letters, digits and : . _ -.")
    return value


def create(session: Session, user: User, name: str, made_by: str | None = None) -> App:
    validate_app_name(name)
    if name in RESERVED_APP_NAMES:
        raise InvalidName(f"Name {name} is reserved: {name}.<domain> is the platform's own host.")
    if session.scalar(select(App).where(App.name == name)) is not None:
        raise Conflict(f"Name {name} is already taken. Choose another app name.")
    app = App(name=name, owner_id=user.id, config={}, origin=made_by)
    session.add(app)
    session.flush()
    session.refresh(app)
    return app


def get(session: Session, user: User, ident: str) -> App:
    """The app named or identified by ``ident`` if ``user`` may use it, else NotFound.

    Apps of other users answer exactly like missing apps, so names do not leak.
    """
    app = session.scalar(select(App).where(or_(App.name == ident, App.id == ident)))
    if app is None or not may_use(app, user):
        raise NotFound(f"Couldn't find that app: {ident}.")
    return app


def may_use(app: App, user: User) -> bool:
    return app.owner_id == user.id or any(c.user_id == user.id for c in app.collaborators)


def still_allowed(session: Session, app_id: str, user_id: str) -> bool:
    """Whether the app still exists (the same one, not a new one of its name) and the user
    may still use it: what a long-lived stream checks while it lasts."""
    app, user = session.get(App, app_id), session.get(User, user_id)
    return app is not None and user is not None and may_use(app, user)


def owned(session: Session, user: User, ident: str) -> App:
    """``get`` for what only the owner may do: destroy the app, change who has access."""
    app = get(session, user, ident)
    if app.owner_id != user.id:
        raise Forbidden(
            f"Only the owner of {app.name} ({app.owner.email}) may do this; "
            "collaborators may deploy, configure and scale."
        )
    return app


def list_for(session: Session, user: User) -> list[App]:
    """The apps ``user`` owns or collaborates on, by name."""
    shared = select(Collaborator.app_id).where(Collaborator.user_id == user.id)
    query = select(App).where(or_(App.owner_id == user.id, App.id.in_(shared)))
    return list(session.scalars(query.order_by(App.name)))


def add_collaborator(session: Session, app: App, email: str) -> Collaborator:
    """Give the existing user ``email`` access. Accounts are made by an operator (``moor
    setup --email``), never by an invitation: adding someone places the app in their
    listing. A missing user is NotFound; the owner or someone already there, a Conflict."""
    if "@" not in email or len(email) > 254:
        raise InvalidParams(f"{email!r} is not an email address.")
    user = session.scalar(select(User).where(User.email == email))
    if user is None:
        raise NotFound(
            f"No user {email} on this platform. An operator creates accounts "
            f"(`moor setup --email {email}`); then add them again."
        )
    if user.id == app.owner_id or any(c.user_id == user.id for c in app.collaborators):
        raise Conflict(f"{email} already has access to {app.name}.")
    collab = Collaborator(app_id=app.id, user_id=user.id)
    session.add(collab)
    session.flush()
    session.refresh(collab)
    session.refresh(app)
    return collab


def remove_collaborator(session: Session, app: App, ident: str) -> Collaborator:
    for c in app.collaborators:
        if ident in (c.id, c.user.email, c.user_id):
            session.delete(c)
            session.flush()
            return c
    raise NotFound(f"{ident} is not a collaborator on {app.name}.")


def all_apps(session: Session, *, for_reconciler: bool = False) -> list[App]:
    """Every app by name; ``for_reconciler`` loads what :func:`desired_for` reads (formations,
    volumes, domains and their certificates) in four queries instead of four per app."""
    query = select(App).order_by(App.name)
    if for_reconciler:
        query = query.options(
            selectinload(App.formations),
            selectinload(App.volumes),
            selectinload(App.domains).selectinload(Domain.sni_endpoint),
        )
    return list(session.scalars(query))


def delete(session: Session, app: App) -> None:
    session.delete(app)
    session.flush()


def set_group(
    session: Session, user: User, app: App, group: str | None, aliases: list[str]
) -> None:
    """Put ``app`` in ``group`` (None: no group) answering to ``aliases`` on its network.

    A group belongs to whoever may use every app already in it (the owner who made it and
    the collaborators they add on its apps): anyone else is refused without learning which
    apps are in it, so no one can put a dyno on another team's private network."""
    if group is not None:
        validate_dns_label(group, "Group")
    for alias in aliases:
        validate_dns_label(alias, "Alias", dots=True)
    if group is None and aliases:
        raise InvalidParams("Aliases need a group: they are names on the group's network.")
    if group is not None:
        members = list(session.scalars(select(App).where(App.group == group, App.id != app.id)))
        if not all(may_use(other, user) for other in members):
            raise Forbidden(
                f"Group {group} is another team's: joining it needs access to every app in it "
                "(its owner can add you as a collaborator). Choose another group name."
            )
        taken = {
            alias: other.name
            for other in members
            for alias in [f"{other.name}.internal", *(other.aliases or [])]
        }
        clash = sorted(a for a in aliases if a in taken)
        if clash:
            raise Conflict(f"{clash[0]} is already a name of {taken[clash[0]]} in group {group}.")
    app.group, app.aliases = group, list(dict.fromkeys(aliases))


def view(a: App, settings: Settings) -> shapes.App:
    """The app as the API shows it (Heroku's ``app``, with Moorage's part)."""
    return shapes.App(
        id=a.id,
        name=a.name,
        owner=shapes.Owner(id=a.owner.id, email=a.owner.email),
        created_at=a.created_at,
        updated_at=a.updated_at,
        released_at=a.released_at,
        web_url=None if a.internal_routing else settings.web_url(a.name),
        git_url=settings.git_url(a.name),
        internal_routing=a.internal_routing,
        moorage=shapes.AppExtension(
            group=a.group,
            aliases=list(a.aliases or []),
            internal_host=f"{a.name}.internal" if a.group else None,
            origin=a.origin,
        ),
    )


def view_collaborator(a: App, user: User, row: Collaborator | None) -> access_shapes.Collaborator:
    """The owner (``row`` None) or a collaborator, as ``/apps/{app}/collaborators`` lists."""
    return access_shapes.Collaborator(
        id=row.id if row else a.owner.id,
        app=Ref.of(a),
        user=access_shapes.CollaboratorUser(id=user.id, email=user.email),
        role="collaborator" if row else "owner",
        created_at=row.created_at if row else a.created_at,
        updated_at=row.updated_at if row else a.updated_at,
    )
