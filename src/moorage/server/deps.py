"""Request dependencies: the platform object and the authenticated user."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

from fastapi import Body, Depends, Request, WebSocket

from moorage.server.platform import Platform
from moorage.server.services import auth
from moorage.server.store.models import User


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


def public_base(request: Request) -> str:
    """The API's base URL as the caller reached it (``https://api.<domain>`` via the edge)."""
    proto = request.headers.get("x-forwarded-proto") or request.url.scheme
    host = request.headers.get("host") or request.url.netloc
    return f"{proto}://{host}"


def get_user(request: Request, platform: Annotated[Platform, Depends(get_platform)]) -> User:
    with platform.store.session() as s:
        return auth.authenticate(s, token_from(request))


def ws_user(ws: WebSocket, platform: Platform) -> User:
    """The user of a WebSocket upgrade (same Authorization header as every API call)."""
    with platform.store.session() as s:
        return auth.authenticate(s, token_from(ws))


PlatformDep = Annotated[Platform, Depends(get_platform)]
UserDep = Annotated[User, Depends(get_user)]
JsonBody = Annotated[Any, Body()]
