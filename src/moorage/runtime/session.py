"""Interactive sessions on Docker containers: ``docker exec`` and ``docker attach`` as byte pipes.

A :class:`TtySession` is what the WebSocket bridge (``moorage.server.sessions.wsbridge``) pumps:
blocking ``read``/``write`` on the hijacked HTTP connection docker-py hands back, plus resize,
half-close and the exit code. Two openers make one:

* :func:`open_exec` runs a command in a running dyno (``moor ps:exec``);
* :func:`open_attach` attaches to a *created, not yet started* one-off container and then starts
  it, so no output is lost (``moor run``).

Without a TTY Docker multiplexes stdout and stderr into frames with 8-byte headers; the session
strips them, so ``read()`` always returns the program's plain bytes (stdout and stderr merged).

Reads go through the HTTP response's buffered reader, not the bare socket: the reader may already
hold output that arrived together with the response headers.

Closing a session shuts the connection down (which wakes a reader blocked in another thread) and
hangs up the process if it still runs: Docker itself leaves an exec's process running when its
client goes away, so the session sends it SIGHUP; an attached one-off container is sent SIGHUP
and, if it is still up after a grace period, SIGKILL.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from typing import Any, Protocol

import docker
import docker.errors

from moorage.errors import MoorageError, NotFound, RuntimeFailure

log = logging.getLogger("moorage.runtime.session")

CHUNK = 65536
HEADER = 8
EXIT_POLL_SECONDS = 5.0
HANGUP_GRACE_SECONDS = 3


class TtySession(Protocol):
    """A process's stdin/stdout as a byte pipe. ``read``/``write`` block; all may run in threads."""

    def read(self, n: int = CHUNK) -> bytes:
        """Up to ``n`` output bytes, blocking until some arrive; ``b""`` at end of output."""
        ...

    def write(self, data: bytes) -> None:
        """Send ``data`` to the process's stdin."""
        ...

    def close_stdin(self) -> None:
        """Half-close stdin so a program without a TTY reads end-of-file."""
        ...

    def resize(self, rows: int, cols: int) -> None:
        """Set the TTY's window size (a no-op without a TTY)."""
        ...

    def exit_code(self) -> int | None:
        """The process's exit status; meaningful once ``read`` returned ``b""``."""
        ...

    def close(self) -> None:
        """Release the connection and hang up the process if it still runs. Idempotent."""
        ...


class _Demux:
    """Strips Docker's stream framing (1 byte stream, 3 zero bytes, 4 bytes big-endian size)."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._left = 0

    def feed(self, data: bytes) -> bytes:
        """Payload bytes contained in ``data`` plus what was held back before."""
        self._buf += data
        out = bytearray()
        while self._buf:
            if self._left == 0:
                if len(self._buf) < HEADER:
                    break
                self._left = int.from_bytes(self._buf[4:HEADER], "big")
                del self._buf[:HEADER]
                continue
            take = min(self._left, len(self._buf))
            out += self._buf[:take]
            del self._buf[:take]
            self._left -= take
        return bytes(out)


def _what(container_id: str, name: str) -> str:
    return f"Dyno {name}" if name else f"Container {container_id[:12]}"


def _translate(exc: Exception, what: str, doing: str) -> MoorageError:
    """A docker-py (or transport) error as the Moorage error a user should see."""
    if isinstance(exc, docker.errors.NotFound):
        return NotFound(f"{what} does not exist (any more).")
    if isinstance(exc, docker.errors.APIError):
        text = str(exc.explanation or exc).lower()
        if exc.status_code == 409 or "not running" in text or "is paused" in text:
            return NotFound(f"{what} is not running.")
    return RuntimeFailure(f"Docker Engine failed to {doing} ({what.lower()}): {exc}")


class _Stream:
    """The hijacked HTTP connection of an exec or attach request."""

    def __init__(self, hijacked: Any, *, multiplexed: bool) -> None:
        self._hijacked = hijacked
        self._sock: socket.socket = getattr(hijacked, "_sock", hijacked)
        self._sock.settimeout(None)  # docker-py's client timeout would end idle sessions
        response = getattr(hijacked, "_response", None)
        reader = getattr(getattr(getattr(response, "raw", None), "_fp", None), "fp", None)
        self._response = response
        self._read: Callable[[int], bytes] = getattr(reader, "read1", self._sock.recv)
        self._demux = _Demux() if multiplexed else None
        self._closed = False
        self._tty = not multiplexed  # Docker multiplexes the streams only without a TTY
        self._mid_line = False  # the last byte written to a TTY was not a newline

    def read(self, n: int = CHUNK) -> bytes:
        while True:
            try:
                chunk = self._read(n)
            except (OSError, ValueError):  # shut down or closed by close() in another thread
                return b""
            if not chunk or self._demux is None:
                return chunk
            payload = self._demux.feed(chunk)
            if payload:
                return payload

    def write(self, data: bytes) -> None:
        try:
            self._sock.sendall(data)
        except OSError as exc:
            raise RuntimeFailure(f"The session's stdin is closed: {exc}") from exc
        if data:
            self._mid_line = not data.endswith((b"\n", b"\r"))

    def resize(self, rows: int, cols: int) -> None:
        try:
            self._resize(rows, cols)
        except (docker.errors.DockerException, OSError) as exc:
            raise RuntimeFailure(f"Docker Engine failed to resize the TTY: {exc}") from exc

    def _resize(self, rows: int, cols: int) -> None:
        """The engine call that sets the TTY's size (the exec's, or the container's)."""
        raise NotImplementedError

    def close_stdin(self) -> None:
        """End of input. A TTY gets ^D, as a terminal user types it (twice after a partial
        line): the command reads end-of-file and the session keeps its output. Shutting the
        connection down would make the engine end a TTY session, output and all."""
        try:
            if self._tty:
                self._sock.sendall(b"\x04\x04" if self._mid_line else b"\x04")
            else:
                self._sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        if self._closed:
            return
        self._close_connection()
        try:
            self._hang_up()
        except (MoorageError, docker.errors.DockerException, OSError) as exc:
            log.warning("could not hang up %s: %s", self._process(), exc)

    def _hang_up(self) -> None:
        """Stop the process the session served if it still runs (the engine leaves it)."""

    def _process(self) -> str:
        """The session's process, for the log."""
        return "session"

    def _close_connection(self) -> None:
        self._closed = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        for thing in (self._response, self._hijacked, self._sock):
            try:
                if thing is not None:
                    thing.close()
            except (OSError, ValueError):
                pass


def _same_pid_namespace(pid: int, container_pid: int) -> bool:
    """True when host ``pid`` is visible here and lives in the container's PID namespace."""
    try:
        return os.readlink(f"/proc/{pid}/ns/pid") == os.readlink(f"/proc/{container_pid}/ns/pid")
    except OSError:
        return False


class _ExecSession(_Stream):
    """A process started with ``docker exec``."""

    def __init__(self, api: Any, container_id: str, exec_id: str, hijacked: Any, tty: bool) -> None:
        super().__init__(hijacked, multiplexed=not tty)
        self._api = api
        self._container_id = container_id
        self._exec_id = exec_id

    def _resize(self, rows: int, cols: int) -> None:
        self._api.exec_resize(self._exec_id, height=rows, width=cols)

    def _inspect(self) -> dict[str, Any]:
        try:
            info: dict[str, Any] = self._api.exec_inspect(self._exec_id)
        except (docker.errors.DockerException, OSError) as exc:
            raise RuntimeFailure(f"Docker Engine failed to inspect the exec: {exc}") from exc
        return info

    def exit_code(self) -> int | None:
        deadline = time.monotonic() + EXIT_POLL_SECONDS
        info = self._inspect()
        while info.get("Running") and time.monotonic() < deadline:
            time.sleep(0.05)  # the stream can end a moment before Docker records the exit
            info = self._inspect()
        code = info.get("ExitCode")
        return None if info.get("Running") or code is None else int(code)

    def _process(self) -> str:
        return f"exec {self._exec_id[:12]}"

    def _hang_up(self) -> None:
        """SIGHUP the exec's process (group), which Docker leaves running when we disconnect."""
        info = self._inspect()
        pid = int(info.get("Pid") or 0)
        if not info.get("Running") or pid <= 0:
            return
        state = self._api.inspect_container(self._container_id).get("State", {})
        container_pid = int(state.get("Pid") or 0)
        if pid == container_pid or not _same_pid_namespace(pid, container_pid):
            log.warning("exec %s (pid %d) outlives its session", self._exec_id[:12], pid)
            return
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGHUP)
        else:
            os.kill(pid, signal.SIGHUP)


class _AttachSession(_Stream):
    """A one-off container's main process, attached before it started."""

    def __init__(self, api: Any, container_id: str, hijacked: Any, tty: bool) -> None:
        super().__init__(hijacked, multiplexed=not tty)
        self._api = api
        self._container_id = container_id

    def _resize(self, rows: int, cols: int) -> None:
        self._api.resize(self._container_id, height=rows, width=cols)

    def exit_code(self) -> int | None:
        try:
            result = self._api.wait(self._container_id, timeout=int(EXIT_POLL_SECONDS) * 6)
        except (docker.errors.DockerException, OSError) as exc:
            log.warning("could not wait for %s: %s", self._container_id[:12], exc)
            return None
        code = result.get("StatusCode")
        return None if code is None else int(code)

    def _process(self) -> str:
        return f"container {self._container_id[:12]}"

    def _hang_up(self) -> None:
        """SIGHUP a container still running, then SIGKILL it (PID 1 may ignore SIGHUP)."""
        try:
            running = self._api.inspect_container(self._container_id)["State"]["Running"]
        except docker.errors.NotFound:
            return
        if not running:
            return
        self._api.kill(self._container_id, "SIGHUP")
        try:
            self._api.wait(self._container_id, timeout=HANGUP_GRACE_SECONDS)
            return
        except (docker.errors.DockerException, OSError):
            pass
        try:
            self._api.kill(self._container_id, "SIGKILL")
        except docker.errors.APIError as exc:
            if exc.status_code != 409:  # 409: it stopped in the meantime
                raise


def _initial_size(session: TtySession, rows: int | None, cols: int | None) -> None:
    if rows and cols:
        try:
            session.resize(rows, cols)
        except RuntimeFailure as exc:  # the process may already have ended
            log.debug("initial resize failed: %s", exc)


def open_exec(
    client: docker.DockerClient,
    container_id: str,
    cmd: list[str],
    *,
    tty: bool,
    env: dict[str, str] | None = None,
    rows: int | None = None,
    cols: int | None = None,
    user: str = "",
    name: str = "",
) -> TtySession:
    """Run ``cmd`` (an argv list) in the running container ``container_id``.

    ``name`` (for example ``web.2``) names the dyno in error messages. Raises
    :class:`NotFound` when the container is gone or not running, :class:`RuntimeFailure`
    when Docker Engine fails otherwise.
    """
    what = _what(container_id, name)
    api = client.api
    try:
        created = api.exec_create(
            container_id,
            cmd,
            stdin=True,
            stdout=True,
            stderr=True,
            tty=tty,
            environment=env,
            user=user,
        )
        exec_id = str(created["Id"])
        hijacked = api.exec_start(exec_id, tty=tty, socket=True)
    except (docker.errors.DockerException, OSError) as exc:
        raise _translate(exc, what, "start a command") from exc
    session = _ExecSession(api, container_id, exec_id, hijacked, tty)
    if tty:
        _initial_size(session, rows, cols)
    return session


def open_attach(
    client: docker.DockerClient,
    container_id: str,
    *,
    tty: bool,
    rows: int | None = None,
    cols: int | None = None,
    name: str = "",
) -> TtySession:
    """Attach to the created (not started) container ``container_id``, then start it.

    The container must have been created with ``stdin_open=True, tty=tty`` and ``StdinOnce``
    (docker-py's ``containers.create(..., stdin_open=True)`` sets it unless ``detach=True``):
    without it Docker ends the output stream when stdin is half-closed instead of passing the
    end-of-file on.
    """
    what = _what(container_id, name)
    api = client.api
    params = {"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
    try:
        hijacked = api.attach_socket(container_id, params=params)
    except (docker.errors.DockerException, OSError) as exc:
        raise _translate(exc, what, "attach") from exc
    session = _AttachSession(api, container_id, hijacked, tty)
    try:
        _start(api, container_id)
    except (docker.errors.DockerException, OSError) as exc:
        session._close_connection()  # the process never ran: nothing to hang up
        raise _translate(exc, what, "start the container") from exc
    if tty:
        _initial_size(session, rows, cols)
    return session


def _start(api: docker.APIClient, container_id: str) -> None:
    """Start a created container. On a swarm node the engine tears its copy of an overlay
    network down when the node's last container leaves it; a start in that moment finds no
    network, and a moment later it does."""
    for delay in (0.2, 0.4, 0.8, 1.6):
        try:
            api.start(container_id)
            return
        except docker.errors.APIError as exc:
            text = str(exc.explanation or exc)
            if "network" not in text or "not found" not in text:
                raise
            time.sleep(delay)
    api.start(container_id)
