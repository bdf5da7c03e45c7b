"""Custom domains of an app, and the DNS proof that they are the owner's."""

from __future__ import annotations

from moorage.client.api import Client, path
from moorage.client.shapes import Shape
from moorage.schemas.domains import Domain, DomainCreate

_DOMAINS = Shape(list[Domain])


def domains(c: Client, app: str) -> list[Domain]:
    """The app's own name under the platform's domain first, then its custom domains."""
    return _DOMAINS.validate_python(c.request("GET", path("/apps/{}/domains", app)))


def add_domain(c: Client, app: str, hostname: str) -> Domain:
    body = DomainCreate(hostname=hostname).model_dump(exclude_unset=True)
    return Domain.model_validate(c.request("POST", path("/apps/{}/domains", app), body))


def verify_domain(c: Client, app: str, hostname: str) -> Domain:
    """Look the DNS proof up now: InvalidParams says what DNS does not show yet."""
    where = path("/apps/{}/domains/{}/actions/verify", app, hostname)
    return Domain.model_validate(c.request("POST", where))


def remove_domain(c: Client, app: str, hostname: str) -> Domain:
    return Domain.model_validate(c.request("DELETE", path("/apps/{}/domains/{}", app, hostname)))
