"""Custom domains (Heroku shapes)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status

from moorage.errors import InvalidParams
from moorage.server.deps import JsonBody, PlatformDep, UserDep
from moorage.server.routes import converge
from moorage.server.services import apps, serialize
from moorage.server.services import domains as service

router = APIRouter()


@router.get("/apps/{ident}/domains")
def list_domains(ident: str, platform: PlatformDep, user: UserDep) -> list[dict[str, Any]]:
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        return [serialize.default_domain(app, platform.settings)] + [
            serialize.domain(d, platform.settings) for d in app.domains
        ]


@router.post("/apps/{ident}/domains", status_code=status.HTTP_201_CREATED)
def add_domain(
    ident: str, platform: PlatformDep, user: UserDep, body: JsonBody = None
) -> dict[str, Any]:
    hostname = body.get("hostname") if isinstance(body, dict) else None
    if not isinstance(hostname, str):
        raise InvalidParams('Send {"hostname": "www.example.com"}.')
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        out = serialize.domain(service.add(s, app, hostname, platform.settings), platform.settings)
    converge(platform)
    return out


@router.delete("/apps/{ident}/domains/{hostname}")
def remove_domain(
    ident: str, hostname: str, platform: PlatformDep, user: UserDep
) -> dict[str, Any]:
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        found = service.find(app, hostname)
        out = serialize.domain(found, platform.settings)
        service.remove(s, app, found)
    converge(platform)
    return out


@router.get("/apps/{ident}/sni-endpoints")
def sni_endpoints(ident: str, platform: PlatformDep, user: UserDep) -> list[dict[str, Any]]:
    """Custom certificates of the app; its hosts are served with the platform's own until
    one is added (``heroku domains:add`` reads this first)."""
    with platform.store.session() as s:
        apps.get(s, user, ident)
    return []
