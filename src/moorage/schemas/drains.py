"""Log drains in Heroku's ``log-drain`` shape (``/apps/{app}/log-drains``), with delivery
counters under ``moorage_stats``."""

from __future__ import annotations

from moorage.schemas.base import Body, Ref, Resource, Timestamp


class DrainStats(Resource):
    """Lines ``sent`` and ``dropped``, send ``errors`` and the ``last_error``."""

    sent: int = 0
    dropped: int = 0
    errors: int = 0
    last_error: str | None = None


class Drain(Resource):
    """Heroku's ``log-drain``; ``moorage_stats`` is None while its forwarder is not running."""

    id: str
    url: str
    token: str
    addon: Ref | None = None
    app: Ref
    created_at: Timestamp
    updated_at: Timestamp
    moorage_stats: DrainStats | None = None


class DrainCreate(Body):
    hint = 'Send {"url": "syslog+tls://host:port"} (or https://...).'
    url: str
