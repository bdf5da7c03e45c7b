"""Who may use an app (collaborators), a user's apps, and the account's authorizations."""

from __future__ import annotations

from typing import Annotated

from fastapi import Body, status

from moorage.errors import InvalidParams, NotFound
from moorage.schemas.access import Authorization, Collaborator, CollaboratorCreate
from moorage.schemas.apps import App
from moorage.server.deps import PlatformDep, UserDep
from moorage.server.routes import api_router
from moorage.server.services import apps, auth

router = api_router()


@router.get("/apps/{ident}/collaborators")
def list_collaborators(ident: str, platform: PlatformDep, user: UserDep) -> list[Collaborator]:
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        rows = [apps.view_collaborator(app, app.owner, None)]
        rows += [apps.view_collaborator(app, c.user, c) for c in app.collaborators]
        return rows


@router.post("/apps/{ident}/collaborators", status_code=status.HTTP_201_CREATED)
def add_collaborator(
    ident: str,
    platform: PlatformDep,
    user: UserDep,
    body: Annotated[CollaboratorCreate | None, Body()] = None,
) -> Collaborator:
    """``{"user": "email"}``: the owner gives a user access (Heroku's ``access:add``)."""
    if body is None:
        raise InvalidParams(CollaboratorCreate.hint)
    email = body.user if isinstance(body.user, str) else body.user.email
    with platform.store.session() as s:
        app = apps.owned(s, user, ident)
        row = apps.add_collaborator(s, app, email.strip().lower())
        return apps.view_collaborator(app, row.user, row)


@router.delete("/apps/{ident}/collaborators/{who}")
def remove_collaborator(ident: str, who: str, platform: PlatformDep, user: UserDep) -> Collaborator:
    """The owner removes a collaborator; a collaborator may remove themselves (leave)."""
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        if app.owner_id != user.id and who not in (user.email, user.id, "~"):
            app = apps.owned(s, user, ident)  # Forbidden, naming the owner
        row = apps.remove_collaborator(s, app, user.email if who == "~" else who)
        return apps.view_collaborator(app, row.user, row)


@router.get("/users/{who}/apps")
def user_apps(who: str, platform: PlatformDep, user: UserDep) -> list[App]:
    """``~`` (or one's own id or email): the apps one owns or collaborates on."""
    if who not in ("~", user.id, user.email):
        raise NotFound("Only your own apps can be listed: use /users/~/apps.")
    with platform.store.session() as s:
        return [apps.view(a, platform.settings) for a in apps.list_for(s, user)]


@router.get("/oauth/authorizations")
def authorizations(platform: PlatformDep, user: UserDep) -> list[Authorization]:
    """The account's API tokens, never their values (only hashes are stored)."""
    with platform.store.session() as s:
        return [auth.view_authorization(row, user) for row in auth.tokens_of(s, user)]


@router.delete("/oauth/authorizations/{token_id}")
def revoke_authorization(token_id: str, platform: PlatformDep, user: UserDep) -> Authorization:
    """Revoke one of the account's API tokens: it is refused (401) from then on. Dashboard
    sessions and registry tokens (5 minutes) already made with it are not ended."""
    with platform.store.session() as s:
        return auth.view_authorization(auth.revoke(s, user, token_id), user)
