from __future__ import annotations

from typing import Annotated

from fastapi import Body, status

from moorage.errors import InvalidParams
from moorage.schemas.apps import App, AppCreate, AppUpdate
from moorage.server.deps import PlatformDep, UserDep
from moorage.server.routes import api_router
from moorage.server.services import appremoval
from moorage.server.services import apps as service
from moorage.server.services.events import converge

router = api_router()


@router.get("/apps")
def list_apps(platform: PlatformDep, user: UserDep) -> list[App]:
    with platform.store.session() as s:
        return [service.view(a, platform.settings) for a in service.list_for(s, user)]


@router.post("/apps", status_code=status.HTTP_201_CREATED)
def create_app(
    platform: PlatformDep, user: UserDep, body: Annotated[AppCreate | None, Body()] = None
) -> App:
    if body is None:
        raise InvalidParams('An app name is required: {"name": "myapp"}.')
    made_by = service.origin(body.moorage.origin) if body.moorage else None
    with platform.store.session() as s:
        app = service.create(s, user, body.name, made_by)
        app.internal_routing = bool(body.internal_routing)
        out = service.view(app, platform.settings)
    platform.forget_app(out.name, destroyed=False)  # kept under the name before it was this app's
    converge(platform)
    return out


@router.get("/apps/{ident}")
def app_info(ident: str, platform: PlatformDep, user: UserDep) -> App:
    with platform.store.session() as s:
        return service.view(service.get(s, user, ident), platform.settings)


@router.patch("/apps/{ident}")
def update_app(
    ident: str,
    platform: PlatformDep,
    user: UserDep,
    body: Annotated[AppUpdate | None, Body()] = None,
) -> App:
    """Moorage extension ``{"moorage": {"group": "shop", "aliases": ["carts"]}}``: apps of a
    group reach each other's web dynos on a private network as ``<app>.internal`` and by the
    aliases (``"group": null`` leaves the group). Dynos are replaced the zero-downtime way."""
    if body is not None and body.internal_routing is not None:
        # Heroku's internal_routing: off the router, or back on it
        with platform.store.session() as s:
            app = service.get(s, user, ident)
            app.internal_routing = body.internal_routing
            out = service.view(app, platform.settings)
        converge(platform)
        return out
    ext = body.moorage if body is not None else None
    adopting = ext is not None and ext.model_fields_set == {"origin"} and not ext.model_extra
    if ext is not None and adopting:  # an import adopting the app
        with platform.store.session() as s:
            app = service.get(s, user, ident)
            app.origin = service.origin(ext.origin)
            return service.view(app, platform.settings)
    if ext is None or "group" not in ext.model_fields_set:
        raise InvalidParams(AppUpdate.hint)
    with platform.store.session() as s:
        app = service.get(s, user, ident)
        service.set_group(s, user, app, ext.group, ext.aliases or [])
        out = service.view(app, platform.settings)
    converge(platform)
    return out


@router.delete("/apps/{ident}")
def delete_app(ident: str, platform: PlatformDep, user: UserDep) -> App:
    """Delete the app, deprovision its add-ons, then remove dynos, network, images and routes."""
    with platform.store.session() as s:
        app = service.owned(s, user, ident)
        out = service.view(app, platform.settings)
    appremoval.remove(platform, user, out.id)
    return out
