"""Custom domains (Heroku shapes)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Body, status
from sqlalchemy.orm import Session

from moorage.errors import InvalidParams
from moorage.schemas.domains import Domain, DomainCreate, DomainUpdate
from moorage.server.deps import PlatformDep, UserDep
from moorage.server.platform import Platform
from moorage.server.routes import api_router
from moorage.server.services import apps, certs
from moorage.server.services import domains as service
from moorage.server.services.domainproof import Claims, Standing, record_name
from moorage.server.services.events import converge
from moorage.server.store.models import Domain as DomainRow

router = api_router()


def _out(platform: Platform, d: DomainRow, standing: Standing) -> Domain:
    proof = (record_name(d.hostname), platform.prover.value(d.app.owner_id, d.hostname))
    return service.view(d, platform.settings, standing, proof)


def _standing(platform: Platform, s: Session, d: DomainRow) -> Standing:
    return Claims.load(s, platform.settings.domains_need_proof).standing(d)


@router.get("/apps/{ident}/domains")
def list_domains(ident: str, platform: PlatformDep, user: UserDep) -> list[Domain]:
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        claims = Claims.load(s, platform.settings.domains_need_proof)
        return [service.view_default_domain(app, platform.settings)] + [
            _out(platform, d, claims.standing(d)) for d in app.domains
        ]


@router.post("/apps/{ident}/domains", status_code=status.HTTP_201_CREATED)
def add_domain(
    ident: str,
    platform: PlatformDep,
    user: UserDep,
    body: Annotated[DomainCreate | None, Body()] = None,
) -> Domain:
    if body is None:
        raise InvalidParams(DomainCreate.hint)
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        added = service.add(
            s, app, body.hostname, platform.settings, platform.prover, body.sni_endpoint
        )
        out = _out(platform, added, _standing(platform, s, added))
    converge(platform)
    return out


@router.get("/apps/{ident}/domains/{domain}")
def domain_info(ident: str, domain: str, platform: PlatformDep, user: UserDep) -> Domain:
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        if domain in (f"{app.id}-default", platform.settings.app_host(app.name)):
            return service.view_default_domain(app, platform.settings)
        found = service.find(app, domain)
        unproven = found.verified_at is None
        out = _out(
            platform, found, service.refresh(s, app, found, platform.prover, platform.settings)
        )
        proven_now = unproven and found.verified_at is not None
    if proven_now:
        converge(platform)  # routed from now on
    return out


@router.post("/apps/{ident}/domains/{domain}/actions/verify")
def verify_domain(ident: str, domain: str, platform: PlatformDep, user: UserDep) -> Domain:
    """Look the domain's ownership proof (a DNS TXT record) up now (a Moorage extension)."""
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        found = service.find(app, domain)
        service.verify(app, found, platform.prover)
        s.flush()
        out = _out(platform, found, _standing(platform, s, found))
    converge(platform)
    return out


@router.patch("/apps/{ident}/domains/{domain}")
def update_domain(
    ident: str,
    domain: str,
    platform: PlatformDep,
    user: UserDep,
    body: Annotated[DomainUpdate | None, Body()] = None,
) -> Domain:
    """Choose the certificate the router presents for the domain (``sni_endpoint``)."""
    if body is None:
        raise InvalidParams(DomainUpdate.hint)
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        found = service.find(app, domain)
        certs.set_for_domain(app, found, body.sni_endpoint)
        s.flush()
        out = _out(platform, found, _standing(platform, s, found))
    converge(platform)
    return out


@router.delete("/apps/{ident}/domains/{hostname}")
def remove_domain(ident: str, hostname: str, platform: PlatformDep, user: UserDep) -> Domain:
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        found = service.find(app, hostname)
        out = _out(platform, found, _standing(platform, s, found))
        service.remove(s, app, found)
    converge(platform)
    return out
