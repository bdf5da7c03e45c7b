from __future__ import annotations

from typing import Any

from moorage.errors import InvalidParams
from moorage.server.deps import JsonBody, PlatformDep, UserDep
from moorage.server.routes import announce, api_router, converge
from moorage.server.services import apps, serialize
from moorage.server.services import formation as service

router = api_router()


@router.get("/apps/{ident}/formation")
def list_formation(ident: str, platform: PlatformDep, user: UserDep) -> list[dict[str, Any]]:
    with platform.store.session() as s:
        return [serialize.formation(f) for f in apps.get(s, user, ident).formations]


@router.get("/apps/{ident}/formation/{ptype}")
def formation_info(ident: str, ptype: str, platform: PlatformDep, user: UserDep) -> dict[str, Any]:
    with platform.store.session() as s:
        return serialize.formation(service.get(apps.get(s, user, ident), ptype))


def apply_updates(
    platform: PlatformDep,
    user: UserDep,
    ident: str,
    raw: list[Any],
    copied: dict[str, tuple[str, str]] | None = None,
) -> list[dict[str, Any]]:
    """Formation updates (and a release when images change); ``copied``: see
    :func:`moorage.server.services.formation.batch_update`."""
    updates = [service.parse_update(u) for u in raw]
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        before = service.describe_scale(app)
        created = service.batch_update(s, app, user, updates, platform.registry, copied)
        touched = {u.type for u in updates}
        out = [serialize.formation(f) for f in app.formations if f.type in touched]
        after, name = service.describe_scale(app), app.name
        rel = serialize.release(created, created.version) if created else None
    if rel is not None:
        announce(platform, rel, user)
    if after != before:
        platform.emit(name, "api", f"Scaled to {after} by user {user.email}")
    converge(platform)
    return out


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
