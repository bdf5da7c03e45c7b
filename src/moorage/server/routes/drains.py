"""Log drains in Heroku's ``/apps/{app}/log-drains`` shape, with delivery counters."""

from __future__ import annotations

from typing import Annotated

from fastapi import Body

from moorage.errors import InvalidParams
from moorage.schemas.drains import Drain, DrainCreate
from moorage.server.deps import PlatformDep, UserDep
from moorage.server.platform import Platform
from moorage.server.routes import api_router
from moorage.server.services import apps
from moorage.server.services import drains as service
from moorage.server.store.models import Drain as DrainRow

router = api_router()


def _drain(platform: Platform, d: DrainRow) -> Drain:
    return service.view(d, platform.drains.stats(d.token) if platform.drains else None)


@router.get("/apps/{ident}/log-drains")
def list_drains(ident: str, platform: PlatformDep, user: UserDep) -> list[Drain]:
    with platform.store.session() as s:
        return [_drain(platform, d) for d in service.list_for(s, apps.get(s, user, ident))]


@router.post("/apps/{ident}/log-drains", status_code=201)
def add_drain(
    ident: str,
    platform: PlatformDep,
    user: UserDep,
    body: Annotated[DrainCreate | None, Body()] = None,
) -> Drain:
    if body is None:
        raise InvalidParams(DrainCreate.hint)
    with platform.store.session() as s:
        out = _drain(platform, service.add(s, apps.get(s, user, ident), body.url))
    platform.sync_drains()
    return out


@router.delete("/apps/{ident}/log-drains/{drain:path}")
def remove_drain(ident: str, drain: str, platform: PlatformDep, user: UserDep) -> Drain:
    with platform.store.session() as s:
        out = _drain(platform, service.remove(s, apps.get(s, user, ident), drain))
    platform.sync_drains()
    return out
