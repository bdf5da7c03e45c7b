from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from moorage.server.deps import PlatformDep, UserDep
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
