from __future__ import annotations

from typing import Annotated

from fastapi import Body

from moorage.schemas.config import ConfigVars, ConfigVarsUpdate
from moorage.server.deps import PlatformDep, UserDep
from moorage.server.routes import api_router
from moorage.server.services import apps, config, releases
from moorage.server.services.events import announce, converge

router = api_router()


@router.get("/apps/{ident}/config-vars")
def get_config(ident: str, platform: PlatformDep, user: UserDep) -> ConfigVars:
    with platform.store.session() as s:
        return dict(apps.get(s, user, ident).config)


@router.get("/apps/{ident}/releases/{release}/config-vars")
def get_release_config(
    ident: str, release: str, platform: PlatformDep, user: UserDep
) -> ConfigVars:
    with platform.store.session() as s:
        return dict(releases.get(s, apps.get(s, user, ident), release).config)


@router.patch("/apps/{ident}/config-vars")
def update_config(
    ident: str,
    platform: PlatformDep,
    user: UserDep,
    body: Annotated[ConfigVarsUpdate | None, Body()] = None,
) -> ConfigVars:
    changes = config.validate_changes(body.model_extra if body is not None else None)
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        created = config.update(s, app, user, changes)
        out = dict(app.config)
        rel = releases.view(created, created.version) if created else None
    if rel is not None:
        announce(platform, rel, user)
        converge(platform)
    return out
