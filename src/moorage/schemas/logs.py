"""Log sessions (``POST /apps/{app}/log-sessions``): a short-lived URL that streams the log."""

from __future__ import annotations

from pydantic import StrictBool, StrictInt, StrictStr

from moorage.schemas.base import Body, Resource, Timestamp


class LogSessionCreate(Body):
    """What to stream: the last ``lines`` lines, then new ones with ``tail``; only one dyno
    (``web.1``) or process type (``web``), only one source (app, router, moorage). The
    service checks the range of ``lines`` and the names, each with its own message."""

    hint = 'A log session is requested with a JSON object such as {"lines": 100, "tail": true}.'
    lines: StrictInt = 100
    tail: StrictBool | None = None
    dyno: StrictStr | None = None
    source: StrictStr | None = None


class LogSession(Resource):
    """Heroku's ``log-session``: ``logplex_url`` is the secret, good for one fetch."""

    id: str
    logplex_url: str
    created_at: Timestamp = None
    updated_at: Timestamp = None
