"""Dashboard logins: an API token is exchanged for a session cookie.

The cookie is 32 random bytes; the store keeps only its SHA-256 (as for API tokens), the
user and a CSRF token. The cookie is HttpOnly, Secure, SameSite=Strict and limited to
``/dashboard``; every form carries the CSRF token and every POST must also come from the
dashboard's own origin when the browser says where it came from.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from moorage.errors import Forbidden
from moorage.server.services import auth
from moorage.server.store.models import ApiToken, User, WebSession

COOKIE = "moorage_session"
PATH = "/dashboard"
LIFETIME = timedelta(hours=12)


@dataclass(frozen=True)
class Login:
    user_id: str
    email: str
    csrf: str


def _hash(cookie: str) -> str:
    return hashlib.sha256(cookie.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def start(session: Session, token: str) -> tuple[str, Login]:
    """A new session for the owner of ``token`` (Unauthorized when it matches none)."""
    api_token = auth.token_row(session, token.strip())
    user = api_token.user
    cookie = secrets.token_urlsafe(32)
    row = WebSession(
        id_hash=_hash(cookie),
        user_id=user.id,
        token_id=api_token.id,
        csrf=secrets.token_urlsafe(32),
        expires_at=_now() + LIFETIME,
    )
    session.add(row)
    session.execute(delete(WebSession).where(WebSession.expires_at < _now()))
    return cookie, Login(user.id, user.email, row.csrf)


def find(session: Session, cookie: str | None) -> tuple[User, Login] | None:
    """The user of a live session cookie, or None."""
    if not cookie:
        return None
    row = session.scalar(select(WebSession).where(WebSession.id_hash == _hash(cookie)))
    if row is None or row.expires_at < _now():
        return None
    if row.token_id is None or session.get(ApiToken, row.token_id) is None:
        return None  # its API token was revoked
    return row.user, Login(row.user_id, row.user.email, row.csrf)


def end(session: Session, cookie: str | None) -> None:
    if cookie:
        session.execute(delete(WebSession).where(WebSession.id_hash == _hash(cookie)))


def check_csrf(login: Login, submitted: str | None) -> None:
    if not submitted or not hmac.compare_digest(login.csrf, submitted):
        raise Forbidden(
            "This form is stale or was sent from another site (CSRF check). "
            "Reload the page and try again."
        )


def check_origin(origin: str | None, own: str) -> None:
    """A browser's ``Origin`` must be the dashboard's own (``own``, as reached: behind the
    edge ``https://api.<domain>``) when it sends one."""
    if origin is not None and origin != own:
        raise Forbidden(f"Forms of this dashboard are only accepted from {own}, not {origin}.")
