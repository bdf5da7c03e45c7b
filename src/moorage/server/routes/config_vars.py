from __future__ import annotations

from moorage.server.deps import JsonBody, PlatformDep, UserDep
from moorage.server.routes import api_router
from moorage.server.services import apps, config, releases
from moorage.server.services.events import announce, converge

router = api_router()


@router.get("/apps/{ident}/config-vars")
def get_config(ident: str, platform: PlatformDep, user: UserDep) -> dict[str, str]:
    with platform.store.session() as s:
        return dict(apps.get(s, user, ident).config)


@router.get("/apps/{ident}/releases/{release}/config-vars")
def get_release_config(
    ident: str, release: str, platform: PlatformDep, user: UserDep
) -> dict[str, str]:
    with platform.store.session() as s:
        return dict(releases.get(s, apps.get(s, user, ident), release).config)


@router.patch("/apps/{ident}/config-vars")
def update_config(
    ident: str, platform: PlatformDep, user: UserDep, body: JsonBody = None
) -> dict[str, str]:
    changes = config.validate_changes(body)
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        created = config.update(s, app, user, changes)
        out = dict(app.config)
        rel = releases.view(created, created.version) if created else None
    if rel is not None:
        announce(platform, rel, user)
        converge(platform)
    return out
