from __future__ import annotations

from typing import Any

from fastapi import status

from moorage.errors import InvalidParams
from moorage.server.deps import JsonBody, PlatformDep, UserDep
from moorage.server.routes import api_router
from moorage.server.services import addons, serialize
from moorage.server.services import apps as service
from moorage.server.services.events import converge

router = api_router()


@router.get("/apps")
def list_apps(platform: PlatformDep, user: UserDep) -> list[dict[str, Any]]:
    with platform.store.session() as s:
        return [serialize.app(a, platform.settings) for a in service.list_for(s, user)]


@router.post("/apps", status_code=status.HTTP_201_CREATED)
def create_app(platform: PlatformDep, user: UserDep, body: JsonBody = None) -> dict[str, Any]:
    name = body.get("name") if isinstance(body, dict) else None
    if not isinstance(name, str):
        raise InvalidParams('An app name is required: {"name": "myapp"}.')
    ext = body.get("moorage") if isinstance(body, dict) else None
    made_by = service.origin(ext.get("origin")) if isinstance(ext, dict) else None
    private = _internal_routing(body)
    with platform.store.session() as s:
        app = service.create(s, user, name, made_by)
        app.internal_routing = bool(private)
        out = serialize.app(app, platform.settings)
    platform.forget_app(name, destroyed=False)  # kept under the name before it was this app's
    converge(platform)
    return out


def _internal_routing(body: object) -> bool | None:
    value = body.get("internal_routing") if isinstance(body, dict) else None
    if value is not None and not isinstance(value, bool):
        raise InvalidParams("internal_routing is true (a private app) or false.")
    return value


@router.get("/apps/{ident}")
def app_info(ident: str, platform: PlatformDep, user: UserDep) -> dict[str, Any]:
    with platform.store.session() as s:
        return serialize.app(service.get(s, user, ident), platform.settings)


@router.patch("/apps/{ident}")
def update_app(
    ident: str, platform: PlatformDep, user: UserDep, body: JsonBody = None
) -> dict[str, Any]:
    """Moorage extension ``{"moorage": {"group": "shop", "aliases": ["carts"]}}``: apps of a
    group reach each other's web dynos on a private network as ``<app>.internal`` and by the
    aliases (``"group": null`` leaves the group). Dynos are replaced the zero-downtime way."""
    private = _internal_routing(body)
    if private is not None:  # Heroku's internal_routing: off the router, or back on it
        with platform.store.session() as s:
            app = service.get(s, user, ident)
            app.internal_routing = private
            out = serialize.app(app, platform.settings)
        converge(platform)
        return out
    ext = body.get("moorage") if isinstance(body, dict) else None
    if isinstance(ext, dict) and set(ext) == {"origin"}:  # an import adopting the app
        with platform.store.session() as s:
            app = service.get(s, user, ident)
            app.origin = service.origin(ext["origin"])
            return serialize.app(app, platform.settings)
    if not isinstance(ext, dict) or "group" not in ext:
        raise InvalidParams('Send {"moorage": {"group": "NAME" or null, "aliases": [...]}}.')
    group, aliases = ext.get("group"), ext.get("aliases") or []
    if group is not None and not isinstance(group, str):
        raise InvalidParams("group must be a string or null.")
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise InvalidParams("aliases must be a list of names.")
    with platform.store.session() as s:
        app = service.get(s, user, ident)
        service.set_group(s, user, app, group, aliases)
        out = serialize.app(app, platform.settings)
    converge(platform)
    return out


@router.delete("/apps/{ident}")
def delete_app(ident: str, platform: PlatformDep, user: UserDep) -> dict[str, Any]:
    """Delete the app, deprovision its add-ons, then remove dynos, network, images and routes."""
    with platform.store.session() as s:
        app = service.owned(s, user, ident)
        out = serialize.app(app, platform.settings)
        owned_addons = [a.id for a in app.addons]
        addons.destroy_all(s, app, user, platform.providers)
        service.delete(s, app)
    platform.remove_backups(owned_addons)
    platform.registry.delete_app(out["name"])
    converge(platform, wait=True)
    platform.forget_app(out["name"], destroyed=True)  # its dynos are gone: late lines dropped
    return out
