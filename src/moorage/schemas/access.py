"""Who may use an app (``/apps/{app}/collaborators``) and the account's API tokens
(``/oauth/authorizations``)."""

from __future__ import annotations

from typing import Literal

from moorage.schemas.base import Body, Ref, Resource, Timestamp


class CollaboratorUser(Resource):
    id: str
    email: str
    federated: bool = False


class Collaborator(Resource):
    """Heroku's ``collaborator``; the listing names the owner first (``role`` owner)."""

    id: str
    app: Ref
    user: CollaboratorUser
    role: Literal["owner", "collaborator"]
    created_at: Timestamp
    updated_at: Timestamp


class UserEmail(Body):
    email: str


class CollaboratorCreate(Body):
    """``{"user": "<email>"}`` (or ``{"user": {"email": ...}}``): an existing account."""

    hint = 'Send {"user": "<email>"} to add a collaborator.'
    user: str | UserEmail


class TokenUser(Resource):
    id: str
    email: str
    full_name: str | None = None


class Authorization(Resource):
    """Heroku's ``oauth-authorization`` of an API token. The token itself is never sent
    (only its hash is stored), and there are no OAuth clients, grants or sessions: those
    keys are always null."""

    id: str
    description: str
    scope: list[str]
    access_token: None = None
    refresh_token: None = None
    grant: None = None
    client: None = None
    session: None = None
    user: TokenUser
    created_at: Timestamp
    updated_at: Timestamp
