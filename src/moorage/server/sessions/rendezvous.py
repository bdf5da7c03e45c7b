"""``heroku run``'s rendezvous: the Heroku CLI attaches to a one-off dyno over TLS.

The API answers ``POST /apps/{app}/dynos`` (``attach: true``) with ``attach_url``
``rendezvous://rendezvous.<domain>:<port>/<secret>``. The CLI (``lib/run/dyno.js``) opens a
TLS connection there, checking the certificate against the host name (the edge's
certificate names ``*.<domain>``), writes ``<secret>\\r\\n``, throws away the first data it
receives, and then relays its terminal. This listener takes the secret (one use, expires
after :data:`TICKET_SECONDS`), answers ``rendezvous\\r\\n``, attaches to the dyno the way
``moor run`` does (the runtime's :class:`TtySession`), and relays until the command ends,
then closes the connection. Without a TTY (``--no-tty``) the CLI ends stdin with a ``^D``
byte, which closes the command's stdin here. ``heroku run -x`` appends a shell command that
prints the exit status; the CLI reads it from the output.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from moorage.errors import MoorageError
from moorage.runtime.session import CHUNK, TtySession
from moorage.server.sessions.dynos import DynoSessions
from moorage.spec.dyno import Dyno

log = logging.getLogger("moorage.rendezvous")
TICKET_SECONDS = 60.0  # a created one-off nobody attaches to is removed after this too
HELLO_TIMEOUT = 10.0  # for the secret line
EOT = b"\x04"


@dataclass(frozen=True)
class Ticket:
    app: str
    dyno: str  # run.N
    tty: bool
    rows: int | None
    cols: int | None
    expires: float


class Rendezvous:
    def __init__(self, sessions: DynoSessions, host: str, port: int, bind: str) -> None:
        self.sessions = sessions
        self.host, self.port, self.bind = host, port, bind
        self._tickets: dict[str, Ticket] = {}
        self._lock = threading.Lock()

    def issue(self, app: str, dyno: str, tty: bool, size: tuple[int | None, int | None]) -> str:
        """The attach URL of a one-use ticket for ``app``'s one-off ``dyno``."""
        secret = secrets.token_urlsafe(32)
        now = time.monotonic()
        with self._lock:
            self._tickets = {k: t for k, t in self._tickets.items() if t.expires > now}
            self._tickets[secret] = Ticket(app, dyno, tty, *size, now + TICKET_SECONDS)
        return f"rendezvous://{self.host}:{self.port}/{secret}"

    def _take(self, secret: str) -> Ticket | None:
        with self._lock:
            ticket = self._tickets.pop(secret, None)
        return ticket if ticket is not None and ticket.expires > time.monotonic() else None

    def serve(self, stop: threading.Event, cert: Path, key: Path) -> None:
        """Accept connections until ``stop`` is set (one thread per session)."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        with socket.create_server((self.bind, self.port), reuse_port=False) as server:
            server.settimeout(1.0)
            while not stop.is_set():
                try:
                    raw, _ = server.accept()
                except TimeoutError:
                    continue
                except OSError as exc:
                    log.warning("rendezvous accept failed: %s", exc)
                    continue
                threading.Thread(target=self._session, args=(context, raw), daemon=True).start()

    def _session(self, context: ssl.SSLContext, raw: socket.socket) -> None:
        try:
            raw.settimeout(HELLO_TIMEOUT)
            conn = context.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError) as exc:
            log.info("rendezvous handshake failed: %s", exc)
            raw.close()
            return
        with conn:
            try:
                secret = _line(conn)
            except OSError:
                return
            ticket = self._take(secret)
            conn.sendall(b"rendezvous\r\n")  # the CLI throws this first chunk away
            if ticket is None:
                conn.sendall(b"This attach URL is unknown or expired; run the command again.\r\n")
                return
            self._relay(conn, ticket)

    def _relay(self, conn: ssl.SSLSocket, ticket: Ticket) -> None:
        dyno: Dyno | None = None
        try:
            dyno = self.sessions.find_dyno(ticket.app, ticket.dyno)
            session = self.sessions.open_attach(
                dyno, tty=ticket.tty, rows=ticket.rows, cols=ticket.cols
            )
        except MoorageError as exc:
            conn.sendall(f"Cannot attach to {ticket.dyno}: {exc.message}\r\n".encode())
            return
        conn.settimeout(None)
        feeder = threading.Thread(target=_feed, args=(conn, session, ticket.tty), daemon=True)
        feeder.start()
        try:
            while data := session.read(CHUNK):
                conn.sendall(data)
        except OSError:
            pass  # the client left
        finally:
            session.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                conn.unwrap()
            self.sessions.finish_oneoff(dyno)


def _line(conn: ssl.SSLSocket) -> str:
    """The secret line (at most 200 bytes before its newline)."""
    buf = b""
    while b"\n" not in buf and len(buf) < 200:
        chunk = conn.recv(200)
        if not chunk:
            break
        buf += chunk
    return buf.split(b"\n", 1)[0].strip().decode(errors="replace")


def _feed(conn: ssl.SSLSocket, session: TtySession, tty: bool) -> None:
    """Client -> the command's stdin. Without a TTY a ^D byte ends stdin (the CLI sends one
    when its own stdin ends); with one, the TTY reads it as end-of-file itself."""
    try:
        while data := conn.recv(CHUNK):
            if not tty and EOT in data:
                head = data.split(EOT, 1)[0]
                if head:
                    session.write(head)
                session.close_stdin()
                return
            session.write(data)
    except (OSError, MoorageError):
        return
    if not tty:
        with contextlib.suppress(MoorageError, OSError):
            session.close_stdin()
