"""Request dependencies: the platform object and the authenticated user."""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from typing import Annotated, Any

from fastapi import Body, Depends, Request, WebSocket
from starlette.requests import HTTPConnection

from moorage.errors import Unauthorized
from moorage.server.platform import Platform, edge_proof
from moorage.server.services import auth
from moorage.server.services.ratelimit import FailedLogins
from moorage.server.store.models import User

EDGE = "127.0.0.1"  # our nginx edge: the only peer whose X-Forwarded-For is believed


def get_platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


def token_from(request: Request | WebSocket) -> str | None:
    """Bearer token, or the password of Basic auth (as ``docker login`` and git send it)."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return None


_HOST = re.compile(r"^[A-Za-z0-9.-]{1,253}(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")


def public_base(request: Request) -> str:
    """The API's base URL for links it hands out (log sessions, release output): from the
    platform's configured names, never from what a client claims (``Host``,
    ``X-Forwarded-Proto``): ``https://api.<domain>`` through the edge, else the API's own
    address (the Host header only when the API listens on every address, and only when it
    is a plain host name)."""
    platform: Platform = request.app.state.platform
    s = platform.settings
    if s.https_port and _from_edge(request):
        return s.public_api_url
    if s.api_host not in ("0.0.0.0", "::"):
        return s.api_url
    host = request.headers.get("host", "")
    return f"http://{host}" if _HOST.match(host) else s.api_url


def client_address(conn: HTTPConnection) -> str:
    """The caller's address: the peer's, or behind our edge the address the edge put in
    ``X-Forwarded-For`` (which it overwrites, never appends to). The edge is a peer of
    127.0.0.1 that also shows the edge proof (``X-Moorage-Edge``); any other local process
    may claim any address, so its claim is not believed."""
    peer = conn.client.host if conn.client else ""
    forwarded = conn.headers.get("x-forwarded-for", "").split(",")[-1].strip()
    if peer == EDGE and forwarded and _from_edge(conn):
        return forwarded
    return peer or "unknown"


def _from_edge(conn: HTTPConnection) -> bool:
    platform: Platform = conn.app.state.platform
    shown = conn.headers.get("x-moorage-edge", "")
    return bool(platform.secret) and hmac.compare_digest(
        shown.encode(), edge_proof(platform.secret).encode()
    )


def failed_logins(conn: HTTPConnection) -> FailedLogins:
    """The failed-login counter of this API process (see ``services/ratelimit.py``)."""
    limiter: FailedLogins = conn.app.state.failed_logins
    return limiter


def authenticate(conn: HTTPConnection, platform: Platform, token: str | None) -> User:
    """The owner of ``token``; a token matching no user counts as a failed login of the
    caller's address, which is refused (429) after too many of them."""
    limiter, address = failed_logins(conn), client_address(conn)
    limiter.check(address)
    try:
        with platform.store.session() as s:
            row = auth.token_row(s, token)
            conn.state.api_token_id = row.id  # what capability URLs it makes are bound to
            return row.user
    except Unauthorized:
        if token:
            limiter.failed(address)
        raise


def get_user(request: Request, platform: Annotated[Platform, Depends(get_platform)]) -> User:
    return authenticate(request, platform, token_from(request))


def ws_user(ws: WebSocket, platform: Platform) -> User:
    """The user of a WebSocket upgrade (same Authorization header as every API call)."""
    return authenticate(ws, platform, token_from(ws))


PlatformDep = Annotated[Platform, Depends(get_platform)]
UserDep = Annotated[User, Depends(get_user)]
JsonBody = Annotated[Any, Body()]
