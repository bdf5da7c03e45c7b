"""Users and API tokens. Tokens are random, shown once, stored as SHA-256."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from moorage.errors import InvalidParams, NotFound, Unauthorized
from moorage.schemas.access import Authorization, TokenUser
from moorage.schemas.apps import Account
from moorage.server.store.models import ApiToken, User, WebSession

TOKEN_PREFIX = "moor_"  # noqa: S105 (a prefix, not a secret)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def ensure_user(session: Session, email: str) -> User:
    if "@" not in email or len(email) > 254:
        raise InvalidParams(f"{email!r} is not an email address.")
    user = session.scalar(select(User).where(User.email == email))
    if user is None:
        user = User(email=email)
        session.add(user)
        session.flush()
    return user


def create_token(session: Session, user: User, description: str = "") -> str:
    """Create a token for ``user`` and return it in clear (the only time it exists so)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, token_hash=hash_token(token), description=description))
    session.flush()
    return token


def authenticate(session: Session, token: str | None) -> User:
    """The user owning ``token``; the lookup is by hash, so no secret is compared in Python."""
    return token_row(session, token).user


def token_row(session: Session, token: str | None) -> ApiToken:
    """The stored API token ``token`` is (Unauthorized when none)."""
    if not token:
        raise Unauthorized("No API token given. Run `moor login` (or set MOORAGE_API_KEY).")
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if row is None:
        raise Unauthorized("Invalid credentials provided. Run `moor login` with a valid token.")
    return row


def tokens_of(session: Session, user: User) -> list[ApiToken]:
    """The user's API tokens (their hashes and descriptions), oldest first."""
    query = select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.created_at)
    return list(session.scalars(query))


def revoke(session: Session, user: User, token_id: str) -> ApiToken:
    """Delete the user's token ``token_id``: from the next request on it matches no user
    (401). Another user's token answers NotFound, as a missing one does."""
    row = session.get(ApiToken, token_id)
    if row is None or row.user_id != user.id:
        raise NotFound(f"No API token {token_id}. See GET /oauth/authorizations.")
    session.execute(delete(WebSession).where(WebSession.token_id == row.id))
    session.delete(row)
    session.flush()
    return row


def view_account(user: User) -> Account:
    return Account(
        id=user.id,
        email=user.email,
        name=user.email.split("@")[0],
        created_at=user.created_at,
        updated_at=user.created_at,
    )


def view_authorization(row: ApiToken, user: User) -> Authorization:
    """An API token as Heroku's ``oauth-authorization``, without its value."""
    return Authorization(
        id=row.id,
        description=row.description or "API token",
        scope=["global"],
        user=TokenUser(id=user.id, email=user.email),
        created_at=row.created_at,
        updated_at=row.created_at,
    )
