"""Schedules (a Moorage extension in the API's style): ``/apps/{app}/schedules``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Body

from moorage.errors import InvalidParams
from moorage.schemas.schedules import Schedule, ScheduleCreate
from moorage.server.deps import PlatformDep, UserDep
from moorage.server.routes import api_router
from moorage.server.services import apps
from moorage.server.services import schedules as service
from moorage.server.services.events import emit

router = api_router()


@router.get("/apps/{ident}/schedules")
def list_schedules(ident: str, platform: PlatformDep, user: UserDep) -> list[Schedule]:
    with platform.store.session() as s:
        return [service.view(x) for x in service.list_for(s, apps.get(s, user, ident))]


@router.post("/apps/{ident}/schedules", status_code=201)
def add_schedule(
    ident: str,
    platform: PlatformDep,
    user: UserDep,
    body: Annotated[ScheduleCreate | None, Body()] = None,
) -> Schedule:
    if body is None:
        raise InvalidParams(ScheduleCreate.hint)
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        sched = service.add(
            s,
            app,
            body.schedule,
            body.command,
            body.size or "basic",
            body.concurrency or "forbid",
        )
        out = service.view(sched)
    emit(
        platform,
        out.app.name,
        f"Schedule {out.schedule} `{out.command}` added by user {user.email}",
    )
    return out


@router.delete("/apps/{ident}/schedules/{sched}")
def remove_schedule(ident: str, sched: str, platform: PlatformDep, user: UserDep) -> Schedule:
    with platform.store.session() as s:
        return service.view(service.remove(s, apps.get(s, user, ident), sched))
