"""Request size limits: a body over 1 MiB is refused with ``413 payload_too_large``.

Plain ASGI (not ``BaseHTTPMiddleware``, which would buffer): a ``Content-Length`` over the
limit is refused before the app runs; a body without one (chunked) is counted as it streams
in, and once it passes the limit the 413 is sent, the app is told the client left, and what
it answers then is dropped. Nothing past the limit is read into memory.

Exempt, each for a reason:

- ``PUT /apps/{app}/addons/{addon}/actions/restore``: the dump file of
  ``pg:backups:restore ./file.dump``, as big as the database; the route streams it to a
  file in the backups directory and never holds it in memory.
- ``PUT /apps/{app}/volumes/{name}/archive``: the tar of ``volumes:import``, up to the
  volume's size; the route streams it to a temporary file and refuses what is larger.
- ``/git/<app>.git/...``: ``git push`` packs, streamed to ``git http-backend``.
- ``POST /apps/{app}/builds``: the pushed tree's tar (the pre-receive hook sends it); the
  route streams it to a file and refuses more than its own limit.
- ``/v2/...``: registry requests the edge sends here (those with Basic auth); image
  layers are large, and the registry sets its own limits.

Request heads are limited by the HTTP server, not here: uvicorn's h11 answers ``400`` to a
request line and headers over 16 KiB (tests/badinput/test_limits.py checks it).
"""

from __future__ import annotations

import json
import re

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from moorage.errors import PayloadTooLarge

MAX_BODY_BYTES = 1 << 20
EXEMPT = (
    re.compile(r"PUT /apps/[^/]+/addons/[^/]+/actions/restore"),
    re.compile(r"[A-Z]+ /v2/.*"),
    re.compile(r"PUT /apps/[^/]+/volumes/[^/]+/archive"),
    re.compile(r"(GET|POST) /git/[^/]+\.git/.*"),
    re.compile(r"POST /apps/[^/]+/builds"),
)
_DIGITS = re.compile(r"[0-9]{1,19}")


def exempt(method: str, path: str) -> bool:
    """Whether ``method path`` may send a body of any size."""
    return any(rule.fullmatch(f"{method} {path}") for rule in EXEMPT)


def too_large(limit: int) -> PayloadTooLarge:
    shown = f"{limit >> 20} MiB" if limit % (1 << 20) == 0 else f"{limit} bytes"
    return PayloadTooLarge(
        f"The request body is larger than {shown}, the most the API accepts. Send less "
        "per request (config vars in several PATCHes, for instance); a database dump is "
        "uploaded with `moor pg:backups:restore ./file.dump`, which takes any size."
    )


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_body`` bytes with the JSON error of the API."""

    def __init__(self, app: ASGIApp, max_body: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or exempt(scope["method"], scope["path"]):
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if _DIGITS.fullmatch(declared) and int(declared) > self.max_body:
            await _refuse(send, self.max_body)
            return
        await _Counted(self.app, self.max_body, receive, send).run(scope)


class _Counted:
    """One request whose body is counted as the app reads it."""

    def __init__(self, app: ASGIApp, limit: int, receive: Receive, send: Send) -> None:
        self.app, self.limit = app, limit
        self._receive, self._send = receive, send
        self.received = 0
        self.started = False  # the app began its answer
        self.refused = False  # we answered 413 instead

    async def run(self, scope: Scope) -> None:
        await self.app(scope, self.receive, self.send)

    async def receive(self) -> Message:
        if self.refused:
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                self.refused = not self.started
                if self.refused:
                    await _refuse(self._send, self.limit)
                return {"type": "http.disconnect"}
        return message

    async def send(self, message: Message) -> None:
        if self.refused:
            return  # the 413 was the answer
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


async def _refuse(send: Send, limit: int) -> None:
    body = json.dumps(too_large(limit).body()).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
