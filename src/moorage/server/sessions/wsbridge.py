"""The WebSocket bridge between a ``moor`` terminal and a :class:`TtySession` in a dyno.

``moor ps:exec`` and ``moor run`` reach a container's TTY through the platform's HTTP API: users
never touch the Docker socket and images need no sshd. The route authenticates the upgrade
request, opens the session (``moorage.runtime.session``) and hands both to :func:`bridge`.

Protocol (``moorage.client.terminal`` speaks the client side)::

    client -> server
        binary frame                    bytes for the process's stdin
        text frame {"resize": [r, c]}   set the TTY to r rows and c columns
        text frame {"eof": true}        close the process's stdin (a command without a TTY
                                        then reads end-of-file)
    server -> client
        binary frame                    output bytes (stdout and stderr merged)
        text frame {"exit": n}          the process ended with status n; the server then
                                        closes the connection with code 1000
        text frame {"error": "msg"}     the session failed; the server then closes with 1011

Text frames that are not JSON objects, and unknown keys, are ignored, so either side may grow
new control messages. A handshake the route rejects is an ordinary HTTP answer (401, 404, ...)
carrying the usual ``{"id": ..., "message": ...}`` body.

Accepting: :func:`bridge` accepts the WebSocket itself unless the route already did, so a route
can reject the handshake (raise a :class:`~moorage.errors.MoorageError` before calling it) or
accept early and still call :func:`bridge`.

Threads: the session's blocking calls run in worker threads under a per-session limiter, so the
event loop is never blocked and long sessions do not use up the shared thread pool. When the
client disconnects the session is closed, which hangs up the process; when the process's output
ends the exit status is sent and the WebSocket closed. Either way :func:`bridge` closes the
session before it returns.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from moorage.errors import MoorageError
from moorage.runtime.session import CHUNK, TtySession

log = logging.getLogger("moorage.server.sessions.wsbridge")

NORMAL_CLOSURE = 1000
INTERNAL_ERROR = 1011
MAX_TTY_SIDE = 10_000
_GONE = (WebSocketDisconnect, RuntimeError, OSError)  # what sending to a vanished client raises
T = TypeVar("T")


async def bridge(ws: WebSocket, session: TtySession) -> None:
    """Pump ``session`` <-> ``ws`` until either side ends; always closes ``session``."""
    try:
        if ws.application_state == WebSocketState.CONNECTING:
            await ws.accept()
        limiter = anyio.CapacityLimiter(2)  # one reader plus one stdin/control call at a time
        async with anyio.create_task_group() as tg:
            tg.start_soon(_pump_input, ws, session, limiter, tg.cancel_scope)
            await _pump_output(ws, session, limiter)
            tg.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(session.close, limiter=anyio.CapacityLimiter(1))


async def _blocking(limiter: anyio.CapacityLimiter, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in a worker thread; cancelling abandons the thread (close() wakes it)."""
    return await anyio.to_thread.run_sync(fn, *args, abandon_on_cancel=True, limiter=limiter)


async def _pump_output(ws: WebSocket, session: TtySession, limiter: anyio.CapacityLimiter) -> None:
    """Session output -> binary frames, then the exit status (or the error) and the close."""
    try:
        while data := await _blocking(limiter, session.read, CHUNK):
            await ws.send_bytes(data)
        code = await _blocking(limiter, session.exit_code)
    except _GONE:
        return  # the client went away; bridge() ends the input pump and closes the session
    except MoorageError as exc:
        await _finish(ws, {"error": exc.message}, INTERNAL_ERROR)
        return
    except Exception:
        log.exception("terminal session failed")
        await _finish(ws, {"error": "Internal error; see the server log."}, INTERNAL_ERROR)
        return
    if code is None:
        await _finish(ws, {"error": "The command ended without an exit status."}, INTERNAL_ERROR)
    else:
        await _finish(ws, {"exit": code}, NORMAL_CLOSURE)


async def _finish(ws: WebSocket, message: dict[str, Any], code: int) -> None:
    try:
        await ws.send_text(json.dumps(message))
        await ws.close(code)
    except _GONE:
        pass


async def _pump_input(
    ws: WebSocket, session: TtySession, limiter: anyio.CapacityLimiter, scope: anyio.CancelScope
) -> None:
    """Client frames -> stdin and control calls; a disconnect cancels the whole bridge."""
    stdin_open = True
    while True:
        try:
            message = await ws.receive()
        except _GONE:
            break
        if message["type"] == "websocket.disconnect":
            break
        data: bytes | None = message.get("bytes")
        text: str | None = message.get("text")
        try:
            if data is not None and stdin_open:
                await _blocking(limiter, session.write, data)
            elif text is not None:
                stdin_open = await _control(session, limiter, text) and stdin_open
        except MoorageError as exc:  # the process closed its stdin (or ended): drop input
            log.debug("stdin closed: %s", exc)
            stdin_open = False
    scope.cancel()


async def _control(session: TtySession, limiter: anyio.CapacityLimiter, text: str) -> bool:
    """Apply one control message; False when it closed stdin."""
    try:
        msg = json.loads(text)
    except ValueError:
        return True
    if not isinstance(msg, dict):
        return True
    size = _size(msg.get("resize"))
    if size is not None:
        try:
            await _blocking(limiter, session.resize, *size)
        except MoorageError as exc:  # not fatal: the process may just have ended
            log.debug("resize failed: %s", exc)
    if msg.get("eof") is True:
        await _blocking(limiter, session.close_stdin)
        return False
    return True


def _size(value: object) -> tuple[int, int] | None:
    """``[rows, cols]`` as two sane positive ints, else None."""
    if not isinstance(value, list) or len(value) != 2:
        return None
    rows, cols = value
    for side in (rows, cols):
        if isinstance(side, bool) or not isinstance(side, int) or not 0 < side <= MAX_TTY_SIDE:
            return None
    return rows, cols
