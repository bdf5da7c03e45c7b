"""Who may use an app (collaborators), a user's apps, and the account's authorizations."""

from __future__ import annotations

from typing import Any

from fastapi import status

from moorage.errors import InvalidParams, NotFound
from moorage.server.deps import JsonBody, PlatformDep, UserDep
from moorage.server.routes import api_router
from moorage.server.services import apps, auth, serialize
from moorage.server.store.models import ApiToken, User

router = api_router()


@router.get("/apps/{ident}/collaborators")
def list_collaborators(ident: str, platform: PlatformDep, user: UserDep) -> list[dict[str, Any]]:
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        rows = [serialize.collaborator(app, app.owner, None)]
        rows += [serialize.collaborator(app, c.user, c) for c in app.collaborators]
        return rows


@router.post("/apps/{ident}/collaborators", status_code=status.HTTP_201_CREATED)
def add_collaborator(
    ident: str, platform: PlatformDep, user: UserDep, body: JsonBody = None
) -> dict[str, Any]:
    """``{"user": "email"}``: the owner gives a user access (Heroku's ``access:add``)."""
    email = body.get("user") if isinstance(body, dict) else None
    if isinstance(email, dict):
        email = email.get("email")
    if not isinstance(email, str):
        raise InvalidParams('Send {"user": "<email>"} to add a collaborator.')
    with platform.store.session() as s:
        app = apps.owned(s, user, ident)
        row = apps.add_collaborator(s, app, email.strip().lower())
        return serialize.collaborator(app, row.user, row)


@router.delete("/apps/{ident}/collaborators/{who}")
def remove_collaborator(
    ident: str, who: str, platform: PlatformDep, user: UserDep
) -> dict[str, Any]:
    """The owner removes a collaborator; a collaborator may remove themselves (leave)."""
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        if app.owner_id != user.id and who not in (user.email, user.id, "~"):
            app = apps.owned(s, user, ident)  # Forbidden, naming the owner
        row = apps.remove_collaborator(s, app, user.email if who == "~" else who)
        return serialize.collaborator(app, row.user, row)


@router.get("/users/{who}/apps")
def user_apps(who: str, platform: PlatformDep, user: UserDep) -> list[dict[str, Any]]:
    """``~`` (or one's own id or email): the apps one owns or collaborates on."""
    if who not in ("~", user.id, user.email):
        raise NotFound("Only your own apps can be listed: use /users/~/apps.")
    with platform.store.session() as s:
        return [serialize.app(a, platform.settings) for a in apps.list_for(s, user)]


@router.get("/oauth/authorizations")
def authorizations(platform: PlatformDep, user: UserDep) -> list[dict[str, Any]]:
    """The account's API tokens, never their values (only hashes are stored)."""
    with platform.store.session() as s:
        return [_authorization(row, user) for row in auth.tokens_of(s, user)]


@router.delete("/oauth/authorizations/{token_id}")
def revoke_authorization(token_id: str, platform: PlatformDep, user: UserDep) -> dict[str, Any]:
    """Revoke one of the account's API tokens: it is refused (401) from then on. Dashboard
    sessions and registry tokens (5 minutes) already made with it are not ended."""
    with platform.store.session() as s:
        return _authorization(auth.revoke(s, user, token_id), user)


def _authorization(row: ApiToken, user: User) -> dict[str, Any]:
    return {
        "id": row.id,
        "description": row.description or "API token",
        "scope": ["global"],
        "access_token": None,
        "refresh_token": None,
        "grant": None,
        "client": None,
        "session": None,
        "user": {"id": user.id, "email": user.email, "full_name": None},
        "created_at": serialize.ts(row.created_at),
        "updated_at": serialize.ts(row.created_at),
    }
