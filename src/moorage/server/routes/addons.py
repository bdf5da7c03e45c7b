from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status

from moorage.errors import InvalidParams
from moorage.server.deps import JsonBody, PlatformDep, UserDep
from moorage.server.routes import converge
from moorage.server.services import addons as service
from moorage.server.services import apps, serialize

router = APIRouter()


@router.get("/apps/{ident}/addons")
def list_addons(ident: str, platform: PlatformDep, user: UserDep) -> list[dict[str, Any]]:
    with platform.store.session() as s:
        return [serialize.addon(a) for a in apps.get(s, user, ident).addons]


@router.post("/apps/{ident}/addons", status_code=status.HTTP_201_CREATED)
def create_addon(
    ident: str, platform: PlatformDep, user: UserDep, body: JsonBody = None
) -> dict[str, Any]:
    plan = body.get("plan") if isinstance(body, dict) else None
    if isinstance(plan, dict):
        plan = plan.get("name")
    if not isinstance(plan, str):
        raise InvalidParams('Send {"plan": "postgresql"}.')
    with platform.store.session() as s:
        addon, _ = service.create(s, apps.get(s, user, ident), user, plan, platform.providers)
        out = serialize.addon(addon)
    converge(platform)
    return out
