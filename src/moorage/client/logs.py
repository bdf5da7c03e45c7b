"""Log sessions: a secret URL made with the API token (``/apps/{app}/log-sessions``), then
read without it, as the Heroku CLI does."""

from __future__ import annotations

from collections.abc import Iterator

import httpx

from moorage import errors
from moorage.client.api import Client, path
from moorage.schemas.logs import LogSession, LogSessionCreate


def session(
    c: Client, app: str, *, lines: int, tail: bool, dyno: str | None, source: str | None
) -> LogSession:
    body = LogSessionCreate(lines=lines, tail=tail, dyno=dyno, source=source).model_dump()
    return LogSession.model_validate(c.request("POST", path("/apps/{}/log-sessions", app), body))


def stream_lines(url: str) -> Iterator[str]:
    """Lines of a log session URL as they arrive (no token: the URL is the secret)."""
    try:
        with httpx.stream("GET", url, timeout=httpx.Timeout(10.0, read=None)) as resp:
            if resp.status_code >= 400:
                resp.read()
                raise errors.NotFound(resp.json().get("message", resp.text))
            yield from resp.iter_lines()
    except httpx.HTTPError as exc:
        raise errors.ApiUnreachable(f"The log stream broke off: {exc}") from exc
