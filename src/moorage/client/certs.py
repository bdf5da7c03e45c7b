"""Custom certificates of an app (SNI endpoints)."""

from __future__ import annotations

from moorage.client.api import Client, path
from moorage.client.shapes import Shape
from moorage.schemas.certs import SniEndpoint, SniEndpointCreate

_ENDPOINTS = Shape(list[SniEndpoint])


def sni_endpoints(c: Client, app: str) -> list[SniEndpoint]:
    return _ENDPOINTS.validate_python(c.request("GET", path("/apps/{}/sni-endpoints", app)))


def sni_endpoint(c: Client, app: str, name: str) -> SniEndpoint:
    answer = c.request("GET", path("/apps/{}/sni-endpoints/{}", app, name))
    return SniEndpoint.model_validate(answer)


def add_sni_endpoint(c: Client, app: str, pair: SniEndpointCreate) -> SniEndpoint:
    """Serve a certificate for the app's domains it covers."""
    where = path("/apps/{}/sni-endpoints", app)
    return SniEndpoint.model_validate(c.request("POST", where, pair.model_dump()))


def update_sni_endpoint(c: Client, app: str, name: str, pair: SniEndpointCreate) -> SniEndpoint:
    """Replace a certificate and its key (a renewal)."""
    where = path("/apps/{}/sni-endpoints/{}", app, name)
    return SniEndpoint.model_validate(c.request("PATCH", where, pair.model_dump()))


def remove_sni_endpoint(c: Client, app: str, name: str) -> SniEndpoint:
    answer = c.request("DELETE", path("/apps/{}/sni-endpoints/{}", app, name))
    return SniEndpoint.model_validate(answer)
