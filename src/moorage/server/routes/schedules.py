"""Schedules (a Moorage extension in the API's style): ``/apps/{app}/schedules``."""

from __future__ import annotations

from typing import Any

from moorage.errors import InvalidParams
from moorage.server.background.scheduler import next_after, utcnow
from moorage.server.deps import JsonBody, PlatformDep, UserDep
from moorage.server.routes import api_router
from moorage.server.services import apps
from moorage.server.services import schedules as service
from moorage.server.services.serialize import app_ref, ts
from moorage.server.store.models import Schedule

router = api_router()


def _schedule(sched: Schedule) -> dict[str, Any]:
    return {
        "id": sched.id,
        "app": app_ref(sched.app),
        "schedule": sched.cron,
        "command": sched.command,
        "size": sched.size,
        "concurrency": sched.concurrency,
        "last_run_at": ts(sched.last_run_at),
        "last_status": sched.last_status or None,
        "next_run_at": ts(next_after(sched.cron, sched.last_run_at or utcnow())),
        "created_at": ts(sched.created_at),
    }


@router.get("/apps/{ident}/schedules")
def list_schedules(ident: str, platform: PlatformDep, user: UserDep) -> list[dict[str, Any]]:
    with platform.store.session() as s:
        return [_schedule(x) for x in service.list_for(s, apps.get(s, user, ident))]


@router.post("/apps/{ident}/schedules", status_code=201)
def add_schedule(
    ident: str, platform: PlatformDep, user: UserDep, body: JsonBody = None
) -> dict[str, Any]:
    if not isinstance(body, dict) or not all(
        isinstance(body.get(k), str) for k in ("schedule", "command")
    ):
        raise InvalidParams('Send {"schedule": "*/5 * * * *", "command": "..."}.')
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        sched = service.add(
            s,
            app,
            body["schedule"],
            body["command"],
            str(body.get("size") or "basic"),
            str(body.get("concurrency") or "forbid"),
        )
        out = _schedule(sched)
    platform.emit(
        out["app"]["name"],
        "api",
        f"Schedule {out['schedule']} `{out['command']}` added by user {user.email}",
    )
    return out


@router.delete("/apps/{ident}/schedules/{sched}")
def remove_schedule(ident: str, sched: str, platform: PlatformDep, user: UserDep) -> dict[str, Any]:
    with platform.store.session() as s:
        return _schedule(service.remove(s, apps.get(s, user, ident), sched))
