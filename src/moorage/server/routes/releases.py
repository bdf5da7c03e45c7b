from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from moorage.errors import InvalidParams
from moorage.server.deps import JsonBody, PlatformDep, UserDep
from moorage.server.routes import announce, converge
from moorage.server.services import apps, serialize
from moorage.server.services import releases as service

router = APIRouter()


@router.get("/apps/{ident}/releases")
def list_releases(ident: str, platform: PlatformDep, user: UserDep) -> list[dict[str, Any]]:
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        cur = service.current(s, app)
        version = cur.version if cur else None
        return [serialize.release(r, version) for r in service.list_for(s, app)]


@router.get("/apps/{ident}/releases/{release}")
def release_info(ident: str, release: str, platform: PlatformDep, user: UserDep) -> dict[str, Any]:
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        cur = service.current(s, app)
        return serialize.release(service.get(s, app, release), cur.version if cur else None)


@router.post("/apps/{ident}/releases", status_code=201)
def rollback(
    ident: str, platform: PlatformDep, user: UserDep, body: JsonBody = None
) -> dict[str, Any]:
    """Heroku's rollback: ``{"release": <id or version>}`` makes a new release from it."""
    target = body.get("release") if isinstance(body, dict) else None
    if not isinstance(target, str | int) or isinstance(target, bool):
        raise InvalidParams('Send {"release": "<release id or version>"} to roll back.')
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        rel = service.rollback(s, app, user, str(target))
        out = serialize.release(rel, rel.version)
    announce(platform, out, user)
    converge(platform)
    return out
