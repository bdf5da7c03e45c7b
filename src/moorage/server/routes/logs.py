"""Log sessions (Heroku's ``POST /apps/{app}/log-sessions``) and the stream they point at."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Body, Request
from fastapi.responses import StreamingResponse

from moorage.schemas.logs import LogSession as LogSessionShape
from moorage.schemas.logs import LogSessionCreate
from moorage.server.deps import PlatformDep, UserDep, public_base
from moorage.server.routes import api_router, non_json
from moorage.server.services import apps
from moorage.server.services.logsessions import LogSession, LogSessions, sse_events, while_allowed

router = api_router()
SESSIONS = LogSessions()


@router.post("/apps/{ident}/log-sessions", status_code=201)
def create_session(
    ident: str,
    request: Request,
    platform: PlatformDep,
    user: UserDep,
    body: Annotated[LogSessionCreate | None, Body()] = None,
) -> LogSessionShape:
    asked = body.model_dump() if body is not None else None
    with platform.store.session() as s:
        app = apps.get(s, user, ident)
        session = SESSIONS.create(app.name, app.id, user.id, asked)
    url = f"{public_base(request)}/log-sessions/{session.id}"
    return LogSessionShape(id=session.id, logplex_url=url, created_at=None, updated_at=None)


def _stream(platform: PlatformDep, session: LogSession) -> Iterator[bytes]:
    if not session.tail:
        lines = platform.logs.tail(session.app, session.lines, session.dyno, session.source)
        if lines:
            yield ("\n".join(lines) + "\n").encode()
        return
    follower = platform.logs.follow(
        session.app, lines=session.lines, dyno=session.dyno, source=session.source
    )
    for batch in while_allowed(platform, session.app_id, session.user_id, follower):
        yield ("\n".join(batch) + "\n").encode() if batch else b""


@router.get(
    "/log-sessions/{session_id}",
    response_class=StreamingResponse,
    responses=non_json("The log lines (or events).", "text/plain", "text/event-stream"),
)
def stream(session_id: str, request: Request, platform: PlatformDep) -> StreamingResponse:
    """The log as text lines; with ``tail`` it keeps streaming until the client leaves.

    A client asking for ``text/event-stream`` (the Heroku CLI's EventSource) gets events."""
    session = SESSIONS.take(session_id)
    chunks = _stream(platform, session)
    if "text/event-stream" in request.headers.get("accept", ""):
        return StreamingResponse(sse_events(chunks), media_type="text/event-stream")
    return StreamingResponse(chunks, media_type="text/plain; charset=utf-8")
