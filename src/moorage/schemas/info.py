"""Facts about the platform a client needs (``GET /moorage/info``)."""

from __future__ import annotations

from moorage.schemas.base import Resource


class PlatformInfo(Resource):
    """Where the API, the registry and the router are. With HTTPS on, extra keys say where
    through the edge: ``heroku_host``, ``https_api_url``, ``https_registry``, ``https_port``,
    ``ca_path``."""

    api_url: str
    registry: str
    domain: str
    router_port: int
    registry_full: str | None = None
    user: str
