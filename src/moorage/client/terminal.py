"""The client side of a terminal session in a dyno (``moor ps:exec``, ``moor run``).

:func:`run_terminal` connects to the API's WebSocket, pumps the local stdin to it and its output
to the local stdout, and returns the remote command's exit status. The protocol is documented in
``moorage.server.sessions.wsbridge``. When stdin is a terminal it is put in raw mode for the
session (so keys such as Ctrl-C reach the remote program) and the window size is sent at the
start and on every SIGWINCH.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import ssl
import sys
import termios
import threading
import tty
from collections.abc import Iterator
from types import FrameType
from typing import Any, BinaryIO

from websockets.exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    InvalidStatus,
    InvalidURI,
    WebSocketException,
)
from websockets.sync.client import ClientConnection, connect

from moorage import errors

CHUNK = 65536
SIGPIPE_EXIT = 141
JOIN_SECONDS = 5.0
_BY_STATUS: dict[int, type[errors.MoorageError]] = {
    401: errors.Unauthorized,
    403: errors.Forbidden,
    404: errors.NotFound,
    409: errors.Conflict,
    422: errors.InvalidParams,
    503: errors.RuntimeFailure,
}


def run_terminal(
    url: str,
    token: str,
    *,
    interactive: bool | None = None,
    stdin: BinaryIO | None = None,
    stdout: BinaryIO | None = None,
) -> int:
    """Run the session at ``url`` (``ws://`` or ``wss://``) and return its exit status.

    ``interactive`` defaults to "stdin is a terminal". Raises :class:`RuntimeFailure` when the
    server reports an error, :class:`Unauthorized`/:class:`NotFound`/... when it rejects the
    connection, and :class:`ApiUnreachable` when it cannot be reached or the connection drops.
    """
    src = stdin if stdin is not None else sys.stdin.buffer
    dst = stdout if stdout is not None else sys.stdout.buffer
    in_fd, out_fd = _fileno(src), _fileno(dst)
    raw = interactive if interactive is not None else in_fd is not None and os.isatty(in_fd)
    size_fds = [fd for fd in (out_fd, in_fd) if fd is not None] if raw else []
    wake = _Wakeup()
    pump: threading.Thread | None = None
    try:
        with contextlib.ExitStack() as stack:
            ws = _connect(url, token, stack)
            pump = threading.Thread(
                target=_pump_stdin, args=(ws, src, in_fd, wake, size_fds), daemon=True
            )
            stack.enter_context(_raw_mode(in_fd if raw else None))
            stack.enter_context(_on_winch(wake, enabled=raw))
            _send_size(ws, size_fds)
            pump.start()
            stack.callback(wake.poke, b"q")  # runs first on the way out: stop the pump
            return _pump_output(ws, dst)
    finally:
        if pump is not None and pump.is_alive():
            pump.join(JOIN_SECONDS)
        if pump is None or not pump.is_alive():
            wake.close()


def _fileno(stream: BinaryIO) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both
        return None


# -- connecting -------------------------------------------------------------------------------
def _ssl_context() -> ssl.SSLContext:
    """The system CA store, plus the CA file in ``MOORAGE_CA_FILE`` when set."""
    context = ssl.create_default_context()
    ca_file = os.environ.get("MOORAGE_CA_FILE")
    if ca_file:
        try:
            context.load_verify_locations(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise errors.InvalidParams(f"Cannot load MOORAGE_CA_FILE {ca_file}: {exc}") from exc
    return context


def _connect(url: str, token: str, stack: contextlib.ExitStack) -> ClientConnection:
    """Open the WebSocket (closed when ``stack`` unwinds), translating handshake failures."""
    options: dict[str, Any] = {"max_size": None}
    if token:
        options["additional_headers"] = {"Authorization": f"Bearer {token}"}
    if url.startswith("wss://"):
        options["ssl"] = _ssl_context()
    try:
        conn: ClientConnection = stack.enter_context(connect(url, **options))
        return conn
    except InvalidStatus as exc:
        raise _rejected(exc) from exc
    except InvalidURI as exc:
        raise errors.InvalidParams(f"Not a WebSocket URL: {url}") from exc
    except ssl.SSLCertVerificationError as exc:
        raise errors.ApiUnreachable(
            f"Cannot verify the TLS certificate of {url}: {exc.verify_message}. "
            "Point MOORAGE_CA_FILE at the CA that signed it."
        ) from exc
    except (OSError, WebSocketException) as exc:
        raise errors.ApiUnreachable(
            f"Cannot reach the Moorage API at {url} ({exc}). Is `moor server` running?"
        ) from exc


def _rejected(exc: InvalidStatus) -> errors.MoorageError:
    """The handshake's HTTP error answer as a Moorage error, with the server's message."""
    status = exc.response.status_code
    message = ""
    try:
        body = json.loads(exc.response.body or b"")
        if isinstance(body, dict):
            message = str(body.get("message") or "")
    except ValueError:
        pass
    if not message:
        message = f"The API refused the terminal connection (HTTP {status})."
        if status == 401:
            message += " Run `moor login`."
    return _BY_STATUS.get(status, errors.MoorageError)(message)


# -- the local terminal -----------------------------------------------------------------------
@contextlib.contextmanager
def _raw_mode(fd: int | None) -> Iterator[None]:
    """Raw mode on ``fd`` while the block runs, when it is a terminal; always restored."""
    if fd is None or not os.isatty(fd):
        yield
        return
    saved = termios.tcgetattr(fd)
    try:
        tty.setraw(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


class _Wakeup:
    """A self-pipe that wakes the stdin pump: ``w`` = window resized, ``q`` = quit."""

    def __init__(self) -> None:
        self.r, self.w = os.pipe()
        os.set_blocking(self.w, False)

    def poke(self, what: bytes) -> None:
        """Safe from a signal handler: never blocks."""
        try:
            os.write(self.w, what)
        except OSError:  # full (the pump is already due to wake) or closed
            pass

    def close(self) -> None:
        for fd in (self.r, self.w):
            os.close(fd)


@contextlib.contextmanager
def _on_winch(wake: _Wakeup, *, enabled: bool) -> Iterator[None]:
    """Forward SIGWINCH to the stdin pump (signals can only be set up in the main thread)."""
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(_signum: int, _frame: FrameType | None) -> None:
        wake.poke(b"w")

    previous = signal.signal(signal.SIGWINCH, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGWINCH, previous if previous is not None else signal.SIG_DFL)


def _send_size(ws: ClientConnection, fds: list[int]) -> None:
    for fd in fds:
        try:
            size = os.get_terminal_size(fd)
        except OSError:
            continue
        with contextlib.suppress(ConnectionClosed):  # the command may have ended already
            ws.send(json.dumps({"resize": [size.lines, size.columns]}))
        return


# -- pumps ------------------------------------------------------------------------------------
def _pump_stdin(
    ws: ClientConnection, src: BinaryIO, fd: int | None, wake: _Wakeup, size_fds: list[int]
) -> None:
    """Local stdin -> binary frames and ``{"eof": true}``; resizes on SIGWINCH. Own thread."""
    try:
        if fd is None:
            while data := src.read(CHUNK):
                ws.send(data)
            ws.send(json.dumps({"eof": True}))
            return
        watched = [fd, wake.r]
        while True:
            ready, _, _ = select.select(watched, [], [])
            if wake.r in ready:
                poked = os.read(wake.r, 64)
                if b"q" in poked:
                    return
                _send_size(ws, size_fds)
            if fd in ready:
                data = os.read(fd, CHUNK)
                if not data:
                    ws.send(json.dumps({"eof": True}))
                    watched = [wake.r]  # keep forwarding resizes until the session ends
                    continue
                ws.send(data)
    except (ConnectionClosed, OSError, ValueError):
        return  # the session ended; the output pump reports how


def _pump_output(ws: ClientConnection, dst: BinaryIO) -> int:
    """Binary frames -> ``dst`` until ``{"exit": n}`` (returned) or ``{"error": ...}``."""
    try:
        for message in ws:
            if isinstance(message, bytes):
                dst.write(message)
                dst.flush()
                continue
            control = _control(message)
            if "exit" in control:
                return int(control["exit"])
            if "error" in control:
                raise errors.RuntimeFailure(str(control["error"]))
    except BrokenPipeError:
        return SIGPIPE_EXIT  # our stdout went away (e.g. `| head`); ws.close() hangs up
    except ConnectionClosedError as exc:
        raise errors.ApiUnreachable(f"The terminal connection dropped: {exc}") from exc
    raise errors.ApiUnreachable("The terminal connection closed before the command finished.")


def _control(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
