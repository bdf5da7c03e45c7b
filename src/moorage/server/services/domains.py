"""Custom domains: host names the router sends to an app."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from moorage.errors import Conflict, InvalidParams, NotFound
from moorage.server.services import certs
from moorage.server.store.models import App, Domain
from moorage.settings import Settings
from moorage.spec.names import validate_dns_label


def add(
    session: Session, app: App, hostname: str, settings: Settings, sni_endpoint: str | None = None
) -> Domain:
    """Route ``hostname`` to ``app``; a name another app has, or the platform's own, is refused.

    It gets the certificate ``sni_endpoint`` names, or else the app's newest one covering it."""
    name = validate_dns_label(hostname.strip().lower().rstrip("."), "Domain", dots=True)
    if "." not in name:
        raise InvalidParams(f"{name!r} is not a full host name such as www.example.com.")
    if name == settings.domain or name.endswith("." + settings.domain):
        raise Conflict(f"{name} is under the platform's own domain {settings.domain}.")
    taken = session.scalar(select(Domain).where(Domain.hostname == name))
    if taken is not None:  # the other app is named only to its own owner
        owner = taken.app.name if taken.app.owner_id == app.owner_id else "another app"
        raise Conflict(f"{name} is already a domain of {owner}.")
    domain = Domain(app_id=app.id, hostname=name)
    app.domains.append(domain)  # in the session before a certificate refers to it
    if sni_endpoint is not None:
        certs.set_for_domain(app, domain, sni_endpoint)
    else:
        domain.sni_endpoint = certs.default_for(app, name)
    session.flush()
    return domain


def find(app: App, ident: str) -> Domain:
    """A domain of ``app`` by host name or id."""
    for d in app.domains:
        if ident in (d.id, d.hostname) or d.hostname == ident.strip().lower().rstrip("."):
            return d
    raise NotFound(f"{app.name} has no domain {ident}. See `moor domains -a {app.name}`.")


def remove(session: Session, app: App, domain: Domain) -> None:
    app.domains.remove(domain)
    session.flush()
