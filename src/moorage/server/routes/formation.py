from __future__ import annotations

from typing import Any

from moorage.errors import InvalidParams
from moorage.server.deps import JsonBody, PlatformDep, UserDep
from moorage.server.routes import api_router
from moorage.server.services import apps, serialize
from moorage.server.services import formation as service
from moorage.server.services.formation import apply_updates

router = api_router()


@router.get("/apps/{ident}/formation")
def list_formation(ident: str, platform: PlatformDep, user: UserDep) -> list[dict[str, Any]]:
    with platform.store.session() as s:
        return [serialize.formation(f) for f in apps.get(s, user, ident).formations]


@router.get("/apps/{ident}/formation/{ptype}")
def formation_info(ident: str, ptype: str, platform: PlatformDep, user: UserDep) -> dict[str, Any]:
    with platform.store.session() as s:
        return serialize.formation(service.get(apps.get(s, user, ident), ptype))


@router.patch("/apps/{ident}/formation")
def batch_update(
    ident: str, platform: PlatformDep, user: UserDep, body: JsonBody = None
) -> list[dict[str, Any]]:
    if not isinstance(body, dict) or not isinstance(body.get("updates"), list):
        raise InvalidParams('Send {"updates": [{"type": "web", "quantity": 1}, ...]}.')
    return apply_updates(platform, user, ident, body["updates"])


@router.patch("/apps/{ident}/formation/{ptype}")
def update_one(
    ident: str, ptype: str, platform: PlatformDep, user: UserDep, body: JsonBody = None
) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidParams('Send {"quantity": N} and/or {"size": ...}, {"port": ...}.')
    if ptype == "release":  # a phase, not a formation: there is nothing to answer with
        raise InvalidParams(
            "The release phase has no formation. Set its command with PATCH "
            f'/apps/{ident}/formation and {{"updates": [{{"type": "release", "command": ...}}]}}.'
        )
    return apply_updates(platform, user, ident, [{**body, "type": ptype}])[0]
