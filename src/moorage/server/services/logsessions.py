"""Log sessions: a short-lived secret URL (Heroku's ``logplex_url``) that streams a log.

The CLI creates one with its API token, then fetches the URL without a token, as the Heroku
CLI does. Sessions live in memory: each is good for one fetch within five minutes.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from moorage.errors import InvalidParams, NotFound
from moorage.logs.format import SOURCES
from moorage.server.services import apps

if TYPE_CHECKING:
    from moorage.server.platform import Platform

TTL_SECONDS = 300.0
MAX_LINES = 10_000


@dataclass(frozen=True)
class LogSession:
    id: str
    app: str
    app_id: str
    user_id: str  # whose access the stream keeps checking while it lasts
    lines: int
    tail: bool
    dyno: str | None
    source: str | None
    expires: float


class LogSessions:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[str, LogSession] = {}

    def create(self, app: str, app_id: str, user_id: str, body: object) -> LogSession:
        """A session for ``body`` (the JSON object of ``schemas.logs.LogSessionCreate``, or
        None for the defaults), its range and names checked here, each with its message."""
        if body is not None and not isinstance(body, dict):
            raise InvalidParams(
                'A log session is requested with a JSON object such as {"lines": 100, '
                f'"tail": true}}, not a {type(body).__name__}.'
            )
        raw = body or {}
        lines = raw.get("lines", 100)
        if isinstance(lines, bool) or not isinstance(lines, int) or not 0 <= lines <= MAX_LINES:
            raise InvalidParams(f"lines must be a whole number from 0 to {MAX_LINES}.")
        source = raw.get("source") or None
        if source is not None and source not in SOURCES:
            raise InvalidParams(f"source must be one of {', '.join(SOURCES)}, got {source!r}.")
        dyno = raw.get("dyno") or None
        if dyno is not None and (not isinstance(dyno, str) or len(dyno) > 40):
            raise InvalidParams("dyno must be a dyno name (web.1) or a process type (web).")
        tail = raw.get("tail")
        if tail is not None and not isinstance(tail, bool):
            raise InvalidParams("tail must be true or false.")
        session = LogSession(
            id=secrets.token_urlsafe(24),
            app=app,
            app_id=app_id,
            user_id=user_id,
            lines=lines,
            tail=bool(tail),
            dyno=dyno,
            source=source,
            expires=time.monotonic() + TTL_SECONDS,
        )
        with self._lock:
            now = time.monotonic()
            self._sessions = {k: v for k, v in self._sessions.items() if v.expires > now}
            self._sessions[session.id] = session
        return session

    def take(self, session_id: str) -> LogSession:
        with self._lock:
            session = self._sessions.pop(session_id, None)
        if session is None or session.expires < time.monotonic():
            raise NotFound("This log session expired or was used; run `moor logs` again.")
        return session


def while_allowed(
    platform: Platform,
    app_id: str,
    user_id: str,
    batches: Generator[list[str], None, None],
    every: float = 2.0,
) -> Iterator[list[str]]:
    """``batches`` of a followed log for as long as the reader may read them: the stream
    ends within ``every`` seconds of the app's destruction or the reader's loss of access
    (a new app of the same name is another app)."""
    checked = time.monotonic()
    try:
        for batch in batches:
            if time.monotonic() - checked >= every:
                with platform.store.session() as s:
                    if not apps.still_allowed(s, app_id, user_id):
                        return
                checked = time.monotonic()
            yield batch
    finally:
        batches.close()


def sse_events(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The same lines as server-sent events (one event per batch; a comment keeps alive)."""
    for chunk in chunks:
        lines = chunk.decode().splitlines()
        yield ("".join(f"data: {line}\n" for line in lines) + "\n").encode() if lines else b":\n\n"
