"""Custom certificates (SNI endpoints) and which of an app's domains use them.

A new or updated certificate is associated with every domain of the app it covers (as
``dokku certs:add`` does); ``PATCH /apps/{app}/domains/{domain}`` chooses one by hand (as
the Heroku CLI does after ``certs:add``). Domains without one get the platform's edge
certificate.
"""

from __future__ import annotations

import functools

from cryptography import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from moorage.errors import Conflict, InvalidParams, NotFound
from moorage.router.sni import CertFacts, covers, inspect_pair, load_roots
from moorage.schemas import certs as shapes
from moorage.schemas.base import Ref
from moorage.server.store.models import App, Domain, SniEndpoint


@functools.cache
def _roots() -> list[x509.Certificate]:
    return load_roots()


def _pair(body: shapes.SniEndpointCreate | None) -> CertFacts:
    if body is None:
        raise InvalidParams(shapes.SniEndpointCreate.hint)
    return inspect_pair(body.certificate_chain, body.private_key, roots=_roots())


def _apply(endpoint: SniEndpoint, facts: CertFacts) -> None:
    endpoint.certificate_chain = facts.chain
    endpoint.private_key = facts.key
    endpoint.cert_domains = list(facts.domains)
    endpoint.subject = facts.subject
    endpoint.issuer = facts.issuer
    endpoint.self_signed = facts.self_signed
    endpoint.ca_signed = facts.ca_signed
    endpoint.fingerprint = facts.fingerprint
    endpoint.starts_at = facts.starts_at.replace(tzinfo=None)
    endpoint.expires_at = facts.expires_at.replace(tzinfo=None)


def _associate_covered(app: App, endpoint: SniEndpoint) -> None:
    for domain in app.domains:
        if covers(endpoint.cert_domains, domain.hostname):
            domain.sni_endpoint = endpoint


def _new_name(session: Session, app: App) -> str:
    n = 1
    while True:
        name = f"{app.name[:21]}-cert-{n}"
        if session.scalar(select(SniEndpoint.id).where(SniEndpoint.name == name)) is None:
            return name
        n += 1


def add(session: Session, app: App, body: shapes.SniEndpointCreate | None) -> SniEndpoint:
    """Check and store a certificate; it covers the app's matching domains at once."""
    facts = _pair(body)
    endpoint = SniEndpoint(app_id=app.id, name=_new_name(session, app))
    _apply(endpoint, facts)
    app.sni_endpoints.append(endpoint)
    session.flush()
    _associate_covered(app, endpoint)
    session.flush()
    return endpoint


def find(app: App, ident: str) -> SniEndpoint:
    for endpoint in app.sni_endpoints:
        if ident in (endpoint.id, endpoint.name):
            return endpoint
    raise NotFound(f"{app.name} has no certificate {ident}. See `moor certs -a {app.name}`.")


def update(
    session: Session, app: App, endpoint: SniEndpoint, body: shapes.SniEndpointCreate | None
) -> SniEndpoint:
    """Replace the certificate and key (a renewal); domains it no longer covers drop it."""
    facts = _pair(body)
    _apply(endpoint, facts)
    for domain in list(endpoint.domains):
        if not covers(endpoint.cert_domains, domain.hostname):
            domain.sni_endpoint = None
    _associate_covered(app, endpoint)
    session.flush()
    return endpoint


def remove(session: Session, app: App, endpoint: SniEndpoint) -> None:
    for domain in list(endpoint.domains):
        domain.sni_endpoint = None
    app.sni_endpoints.remove(endpoint)
    session.delete(endpoint)
    session.flush()


def set_for_domain(app: App, domain: Domain, ident: str | None) -> None:
    """Give ``domain`` the certificate ``ident`` (name or id), or none (``None``)."""
    if ident is None:
        domain.sni_endpoint = None
        return
    endpoint = find(app, ident)
    if not covers(endpoint.cert_domains, domain.hostname):
        raise Conflict(
            f"Certificate {endpoint.name} is for {', '.join(endpoint.cert_domains)}, "
            f"not {domain.hostname}."
        )
    domain.sni_endpoint = endpoint


def default_for(app: App, hostname: str) -> SniEndpoint | None:
    """The newest certificate of ``app`` that covers ``hostname`` (for a new domain)."""
    matching = [e for e in app.sni_endpoints if covers(e.cert_domains, hostname)]
    return matching[-1] if matching else None


def view(e: SniEndpoint) -> shapes.SniEndpoint:
    """A custom certificate; the private key is never sent back."""
    return shapes.SniEndpoint(
        id=e.id,
        name=e.name,
        app=Ref.of(e.app),
        certificate_chain=e.certificate_chain,
        domains=[d.id for d in e.domains],
        ssl_cert=shapes.SslCert(
            id=e.id,
            ca_signed=e.ca_signed,
            self_signed=e.self_signed,
            cert_domains=list(e.cert_domains),
            subject=e.subject,
            issuer=e.issuer,
            starts_at=e.starts_at,
            expires_at=e.expires_at,
        ),
        created_at=e.created_at,
        updated_at=e.updated_at,
    )
