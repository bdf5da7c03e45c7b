"""Custom domains (Heroku shapes)."""

from __future__ import annotations

from typing import Any

from fastapi import status

from moorage.errors import InvalidParams
from moorage.server.deps import JsonBody, PlatformDep, UserDep
from moorage.server.routes import api_router, converge
from moorage.server.services import apps, certs, serialize
from moorage.server.services import domains as service

router = api_router()


@router.get("/apps/{ident}/domains")
def list_domains(ident: str, platform: PlatformDep, user: UserDep) -> list[dict[str, Any]]:
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        return [serialize.default_domain(app, platform.settings)] + [
            serialize.domain(d, platform.settings) for d in app.domains
        ]


@router.post("/apps/{ident}/domains", status_code=status.HTTP_201_CREATED)
def add_domain(
    ident: str, platform: PlatformDep, user: UserDep, body: JsonBody = None
) -> dict[str, Any]:
    hostname = body.get("hostname") if isinstance(body, dict) else None
    if not isinstance(hostname, str):
        raise InvalidParams('Send {"hostname": "www.example.com"}.')
    cert = _cert_name(body)
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        added = service.add(s, app, hostname, platform.settings, sni_endpoint=cert)
        out = serialize.domain(added, platform.settings)
    converge(platform)
    return out


def _cert_name(body: object) -> str | None:
    value = body.get("sni_endpoint") if isinstance(body, dict) else None
    if value is not None and not isinstance(value, str):
        raise InvalidParams('"sni_endpoint" is the name or id of a certificate, or null.')
    return value


@router.get("/apps/{ident}/domains/{domain}")
def domain_info(ident: str, domain: str, platform: PlatformDep, user: UserDep) -> dict[str, Any]:
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        if domain in (f"{app.id}-default", platform.settings.app_host(app.name)):
            return serialize.default_domain(app, platform.settings)
        return serialize.domain(service.find(app, domain), platform.settings)


@router.patch("/apps/{ident}/domains/{domain}")
def update_domain(
    ident: str, domain: str, platform: PlatformDep, user: UserDep, body: JsonBody = None
) -> dict[str, Any]:
    """Choose the certificate the router presents for the domain (``sni_endpoint``)."""
    if not isinstance(body, dict) or "sni_endpoint" not in body:
        raise InvalidParams('Send {"sni_endpoint": "<certificate name>"} or null.')
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        found = service.find(app, domain)
        certs.set_for_domain(app, found, _cert_name(body))
        s.flush()
        out = serialize.domain(found, platform.settings)
    converge(platform)
    return out


@router.delete("/apps/{ident}/domains/{hostname}")
def remove_domain(
    ident: str, hostname: str, platform: PlatformDep, user: UserDep
) -> dict[str, Any]:
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        found = service.find(app, hostname)
        out = serialize.domain(found, platform.settings)
        service.remove(s, app, found)
    converge(platform)
    return out
