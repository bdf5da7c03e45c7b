"""Log drains in Heroku's ``/apps/{app}/log-drains`` shape, with delivery counters."""

from __future__ import annotations

from typing import Any

from moorage.errors import InvalidParams
from moorage.server.deps import JsonBody, PlatformDep, UserDep
from moorage.server.platform import Platform
from moorage.server.routes import api_router
from moorage.server.services import apps
from moorage.server.services import drains as service
from moorage.server.services.serialize import app_ref, ts
from moorage.server.store.models import Drain

router = api_router()


def _drain(platform: Platform, d: Drain) -> dict[str, Any]:
    stats = platform.drains.stats(d.token) if platform.drains else None
    return {
        "id": d.id,
        "url": d.url,
        "token": d.token,
        "addon": None,
        "app": app_ref(d.app),
        "created_at": ts(d.created_at),
        "updated_at": ts(d.updated_at),
        "moorage_stats": dict(stats) if stats else None,
    }


@router.get("/apps/{ident}/log-drains")
def list_drains(ident: str, platform: PlatformDep, user: UserDep) -> list[dict[str, Any]]:
    with platform.store.session() as s:
        return [_drain(platform, d) for d in service.list_for(s, apps.get(s, user, ident))]


@router.post("/apps/{ident}/log-drains", status_code=201)
def add_drain(
    ident: str, platform: PlatformDep, user: UserDep, body: JsonBody = None
) -> dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get("url"), str):
        raise InvalidParams('Send {"url": "syslog+tls://host:port"} (or https://...).')
    with platform.store.session() as s:
        out = _drain(platform, service.add(s, apps.get(s, user, ident), body["url"]))
    platform.sync_drains()
    return out


@router.delete("/apps/{ident}/log-drains/{drain:path}")
def remove_drain(ident: str, drain: str, platform: PlatformDep, user: UserDep) -> dict[str, Any]:
    with platform.store.session() as s:
        out = _drain(platform, service.remove(s, apps.get(s, user, ident), drain))
    platform.sync_drains()
    return out
