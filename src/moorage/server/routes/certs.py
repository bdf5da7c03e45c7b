"""Custom certificates: SNI endpoints (Heroku shapes)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Body, status

from moorage.schemas.certs import SniEndpoint, SniEndpointCreate
from moorage.server.deps import PlatformDep, UserDep
from moorage.server.routes import api_router
from moorage.server.services import apps
from moorage.server.services import certs as service
from moorage.server.services.events import converge

router = api_router()
CertBody = Annotated[SniEndpointCreate | None, Body()]


@router.get("/apps/{ident}/sni-endpoints")
def list_endpoints(ident: str, platform: PlatformDep, user: UserDep) -> list[SniEndpoint]:
    """The app's custom certificates; hosts without one get the platform's edge certificate."""
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        return [service.view(e) for e in app.sni_endpoints]


@router.post("/apps/{ident}/sni-endpoints", status_code=status.HTTP_201_CREATED)
def add_endpoint(
    ident: str, platform: PlatformDep, user: UserDep, body: CertBody = None
) -> SniEndpoint:
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        out = service.view(service.add(s, app, body))
    converge(platform)
    return out


@router.get("/apps/{ident}/sni-endpoints/{name}")
def endpoint_info(ident: str, name: str, platform: PlatformDep, user: UserDep) -> SniEndpoint:
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        return service.view(service.find(app, name))


@router.patch("/apps/{ident}/sni-endpoints/{name}")
def update_endpoint(
    ident: str, name: str, platform: PlatformDep, user: UserDep, body: CertBody = None
) -> SniEndpoint:
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        out = service.view(service.update(s, app, service.find(app, name), body))
    converge(platform)
    return out


@router.delete("/apps/{ident}/sni-endpoints/{name}")
def remove_endpoint(ident: str, name: str, platform: PlatformDep, user: UserDep) -> SniEndpoint:
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        endpoint = service.find(app, name)
        out = service.view(endpoint)
        service.remove(s, app, endpoint)
    converge(platform)
    return out
