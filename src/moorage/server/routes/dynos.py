from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from moorage.server.deps import PlatformDep, UserDep
from moorage.server.services import apps, serialize

router = APIRouter()


@router.get("/apps/{ident}/dynos")
def list_dynos(ident: str, platform: PlatformDep, user: UserDep) -> list[dict[str, Any]]:
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        commands = {f.type: f.command or "" for f in app.formations}
        reconciler = platform.reconciler
        dynos = reconciler.runtime.list_dynos() if reconciler else []
        mine = sorted((d for d in dynos if d.app == app.name), key=lambda d: (d.type, d.number))
        return [serialize.dyno(d, app, commands.get(d.type, "")) for d in mine]
