"""Forwarding log lines to drains: syslog over TCP or TLS, and HTTPS (Heroku's logplex POSTs).

Every line becomes one RFC 5424 message with RFC 6587 octet-counting framing::

    83 <190>1 2026-11-26T10:00:00.123456+00:00 moorage.example myapp web.1 app - hello

Header fields (chosen so an RFC 5424 receiver can tell apps and processes apart):

* PRI: facility and severity as Heroku does: ``190`` (local7.info) for app output, ``158``
  (local3.info) for the router, ``134`` (local0.info) for the platform's own lines;
* HOSTNAME: the platform's host name (the ``hostname`` parameter);
* APP-NAME: the app's name; PROCID: the process (``web.1``, ``router``, ``release``);
* MSGID: the source (``app``, ``router``, ``moorage``); STRUCTURED-DATA: ``-``.

Header fields are limited to printable ASCII without spaces (other characters become ``_``)
and cut to the RFC's lengths. HTTPS drains receive batches of such frames, as Heroku sends
them: ``Content-Type: application/logplex-1``, ``Logplex-Msg-Count``, ``Logplex-Drain-Token``.

:class:`DrainForwarder` never blocks the writer: lines go into a bounded buffer (dropped and
counted when it is full) and a daemon thread sends them. A batch that cannot be sent even
after reconnecting is dropped and counted; the thread then backs off (0.5 s doubling to 30 s).
Nothing is lost silently: the next batch that goes out starts with Heroku's
``Error L10 (output buffer overflow): N messages dropped since ...`` line, and every drop is
reported to the ``on_drop`` hook (the platform's metrics).
"""

from __future__ import annotations

import logging
import select
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TypedDict
from urllib.parse import urlsplit

import httpx

from moorage.egress import Egress
from moorage.errors import InvalidParams
from moorage.logs.format import DropHook, LogLine, overflow
from moorage.spec.urls import shown_url

log = logging.getLogger(__name__)

PRI = {"app": 190, "router": 158, "moorage": 134}
"""Syslog PRI per source: local7.info, local3.info, local0.info."""

_ACCEPTED = "Drain URL must be syslog+tls://HOST:PORT, syslog+tcp://HOST:PORT or https://..."
_BACKOFF_START = 0.5
_BACKOFF_MAX = 30.0


class DrainStats(TypedDict):
    sent: int
    dropped: int
    errors: int
    last_error: str | None


class _SendFailed(Exception):
    """A batch could not be delivered; the message says why."""


def parse_drain_url(url: str) -> str:
    """The normalised form of a drain URL; :class:`InvalidParams` if it is not one.

    ``syslog://`` means ``syslog+tcp://``; syslog URLs need a host and a port and are
    reduced to ``scheme://host:port``; ``http(s)://`` URLs are kept as given (scheme
    lower-cased) and need a host.
    """
    text = url.strip()
    if not text or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in text):
        raise InvalidParams(f"{_ACCEPTED}; got {url!r}")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise InvalidParams(f"{_ACCEPTED}; got {url!r} ({exc})") from exc
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme in {"http", "https"}:
        if not host:
            raise InvalidParams(f"Drain URL has no host: {url!r}")
        return scheme + text[len(scheme) :]
    if scheme not in {"syslog", "syslog+tcp", "syslog+tls"}:
        raise InvalidParams(f"{_ACCEPTED}; got {url!r}")
    if not host:
        raise InvalidParams(f"Drain URL has no host: {url!r}")
    if port is None or port == 0:
        raise InvalidParams(f"Drain URL needs a port ({scheme}://HOST:PORT); got {url!r}")
    if parts.path not in {"", "/"} or parts.query or parts.fragment or parts.username:
        raise InvalidParams(f"A syslog drain URL is only {scheme}://HOST:PORT; got {url!r}")
    if scheme == "syslog":
        scheme = "syslog+tcp"
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}"


def _field(value: str, limit: int) -> str:
    """An RFC 5424 header field: printable ASCII without spaces, at most ``limit`` long."""
    cleaned = "".join(c if 33 <= ord(c) <= 126 else "_" for c in value[:limit])
    return cleaned or "-"


_Header = tuple[bytes, bytes]
"""What goes before and after the timestamp in a message."""


def _header(source: str, app: str, hostname: str, process: str) -> _Header:
    pri = PRI.get(source, PRI["moorage"])
    fields = (_field(hostname, 255), _field(app, 48), _field(process, 128), _field(source, 32))
    return f"<{pri}>1 ".encode(), (" " + " ".join(fields) + " - ").encode()


def _frame(header: _Header, line: LogLine) -> bytes:
    stamp = line.time.astimezone(UTC).isoformat(timespec="microseconds").encode()
    body = b"".join((header[0], stamp, header[1], line.message.encode("utf-8", "replace")))
    return b"%d %b" % (len(body), body)


class DrainForwarder:
    """Sends one app's lines to one drain from a daemon thread; :meth:`offer` never blocks."""

    def __init__(
        self,
        drain_id: str,
        app: str,
        url: str,
        *,
        hostname: str,
        ca_file: str | None = None,
        egress: Egress | None = None,
        queue_size: int = 10_000,
        batch: int = 500,
        timeout: float = 5.0,
        on_drop: DropHook | None = None,
    ) -> None:
        if queue_size < 1 or batch < 1:
            raise ValueError("queue_size and batch must be positive")
        self.drain_id = drain_id
        self.app = app
        self.started = time.time()  # it gets the lines made from then on
        self.url = parse_drain_url(url)
        self._shown = shown_url(self.url)
        self.hostname = hostname
        self._ca_file = ca_file
        self._egress = egress or Egress()  # public addresses only, unless allowed
        self._queue_size = queue_size
        self._batch = batch
        self._timeout = timeout
        self._buffer: deque[LogLine] = deque()
        self._cond = threading.Condition()
        self._stats = DrainStats(sent=0, dropped=0, errors=0, last_error=None)
        self._on_drop = on_drop
        self._unreported = 0  # dropped lines the drain has not been told about (L10)
        self._dropped_since: datetime | None = None
        self._stopping = False
        self._deadline = 0.0
        self._headers: dict[tuple[str, str], _Header] = {}
        self._sock: socket.socket | None = None
        self._client: httpx.Client | None = None
        self._thread = threading.Thread(target=self._run, name=f"drain-{drain_id}", daemon=True)
        self._thread.start()

    def offer(self, lines: Sequence[LogLine]) -> None:
        """Queue ``lines`` for sending; what does not fit is dropped and counted."""
        with self._cond:
            if self._stopping:
                self._drop(len(lines))
                return
            room = self._queue_size - len(self._buffer)
            if room >= len(lines):
                self._buffer.extend(lines)
            else:
                self._buffer.extend(lines[: max(room, 0)])
                self._drop(len(lines) - max(room, 0))
            self._cond.notify()

    def _drop(self, count: int) -> None:
        """Count ``count`` lost lines (the caller holds ``_cond``); the next batch sent
        starts with an L10 line saying how many, as Heroku's logplex does."""
        self._stats["dropped"] += count
        self._unreported += count
        if self._dropped_since is None:
            self._dropped_since = datetime.now(UTC)
        if self._on_drop is not None:
            self._on_drop(self.app, "drain", count)

    def stats(self) -> DrainStats:
        """Counters: lines ``sent`` and ``dropped``, send ``errors``, the ``last_error``."""
        with self._cond:
            return DrainStats(**self._stats)

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to end after sending what is queued for at most ``timeout`` seconds
        (what is left then is dropped); returns at once. Later calls change nothing."""
        with self._cond:
            if not self._stopping:
                self._stopping = True
                self._deadline = time.monotonic() + timeout
            self._cond.notify_all()

    def close(self, timeout: float = 5.0) -> None:
        """:meth:`stop`, then wait up to ``timeout`` seconds for the thread to end."""
        self.stop(timeout)
        self._thread.join(timeout)

    # -- the sending thread ------------------------------------------------------------------

    def _run(self) -> None:
        backoff = _BACKOFF_START
        try:
            while True:
                batch = self._take()
                if batch is None:
                    return
                try:
                    self._deliver(batch)
                except Exception as exc:
                    if not isinstance(exc, _SendFailed):
                        log.exception("log drain %s: unexpected error", self.drain_id)
                    self._failed(len(batch), str(exc) or repr(exc))
                    if self._wait(backoff):
                        return
                    backoff = min(backoff * 2, _BACKOFF_MAX)
                else:
                    backoff = _BACKOFF_START
                    with self._cond:
                        self._stats["sent"] += len(batch)
        finally:
            self._disconnect()
            with self._cond:
                self._drop(len(self._buffer))
                self._buffer.clear()

    def _take(self) -> list[LogLine] | None:
        """The next batch; None when closing and nothing (or no time) is left."""
        with self._cond:
            while not self._buffer:
                if self._stopping:
                    return None
                self._cond.wait()
            if self._stopping and time.monotonic() > self._deadline:
                return None
            count = min(self._batch, len(self._buffer))
            batch = [self._buffer.popleft() for _ in range(count)]
            if self._unreported and self._dropped_since is not None:
                batch.insert(0, overflow(self._unreported, self._dropped_since))
                self._unreported, self._dropped_since = 0, None
            return batch

    def _wait(self, seconds: float) -> bool:
        """Back off for ``seconds``; True if the forwarder is closing meanwhile."""
        with self._cond:
            self._cond.wait_for(lambda: self._stopping, seconds)
            return self._stopping

    def _failed(self, count: int, message: str) -> None:
        log.warning("log drain %s (%s) failed: %s", self.drain_id, self.app, message)
        with self._cond:
            self._drop(count)
            self._stats["errors"] += 1
            self._stats["last_error"] = message

    def _deliver(self, batch: list[LogLine]) -> None:
        """Send ``batch``, reconnecting once on failure; :class:`_SendFailed` if that fails."""
        payload = b"".join([self._encode(line) for line in batch])
        for attempt in (1, 2):
            try:
                if self.url.startswith("http"):
                    self._post(payload, len(batch))
                else:
                    self._send_syslog(payload)
                return
            except (OSError, httpx.TransportError) as exc:
                self._disconnect()
                if attempt == 2:
                    raise _SendFailed(f"send to {self._shown} failed: {_describe(exc)}") from exc

    def _encode(self, line: LogLine) -> bytes:
        key = (line.source, line.process)
        header = self._headers.get(key)
        if header is None:
            if len(self._headers) > 1000:
                self._headers.clear()
            header = _header(line.source, self.app, self.hostname, line.process)
            self._headers[key] = header
        return _frame(header, line)

    def _send_syslog(self, payload: bytes) -> None:
        sock = self._sock
        if sock is not None and _peer_closed(sock, self._timeout):
            self._disconnect()
            sock = None
        if sock is None:
            sock = self._sock = self._connect()
        sock.sendall(payload)

    def _connect(self) -> socket.socket:
        parts = urlsplit(self.url)
        host, port = parts.hostname or "", parts.port or 0
        try:
            sock = self._egress.connect(host, port, self._timeout)
        except InvalidParams as exc:
            raise _SendFailed(exc.message) from exc
        except OSError as exc:
            raise _SendFailed(f"connect to {host}:{port} failed: {_describe(exc)}") from exc
        if parts.scheme != "syslog+tls":
            return sock
        try:
            return self._tls_context().wrap_socket(sock, server_hostname=host)
        except OSError as exc:
            sock.close()
            raise _SendFailed(f"TLS handshake with {host}:{port} failed: {_describe(exc)}") from exc

    def _tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self._ca_file)

    def _post(self, payload: bytes, count: int) -> None:
        if self._client is None:
            verify: ssl.SSLContext | bool = (
                self._tls_context() if self.url.startswith("https") else False
            )
            self._client = httpx.Client(verify=verify, timeout=self._timeout)
        headers = {
            "Content-Type": "application/logplex-1",
            "Logplex-Msg-Count": str(count),
            "Logplex-Drain-Token": self.drain_id,
            "User-Agent": "moorage-drain",
        }
        try:
            response = self._egress.post(self._client, self.url, payload, headers)
        except InvalidParams as exc:
            raise _SendFailed(exc.message) from exc
        if not response.is_success:
            raise _SendFailed(f"{self._shown} answered HTTP {response.status_code}")

    def _disconnect(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
            self._sock = None
        if self._client is not None:
            self._client.close()
            self._client = None


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, TimeoutError) and "timed out" not in text:
        text = f"timed out ({text})"
    return text


def _peer_closed(sock: socket.socket, timeout: float) -> bool:
    """Whether the receiver has closed the connection (syslog receivers never write)."""
    readable, _, _ = select.select([sock], [], [], 0)
    if not readable:
        return False
    sock.setblocking(False)
    try:
        return sock.recv(4096) == b""
    except (ssl.SSLWantReadError, BlockingIOError):
        return False
    except OSError:
        return True
    finally:
        sock.settimeout(timeout)


class DrainManager:
    """The forwarders for all apps' drains, kept in step with the drain list by :meth:`sync`."""

    def __init__(
        self,
        hostname: str,
        ca_file: str | None = None,
        egress: Egress | None = None,
        on_drop: DropHook | None = None,
    ) -> None:
        self.hostname = hostname
        self.on_drop = on_drop
        self.ca_file = ca_file
        self.egress = egress or Egress()
        self._lock = threading.Lock()
        self._forwarders: dict[str, DrainForwarder] = {}
        self._by_app: dict[str, tuple[DrainForwarder, ...]] = {}

    def sync(self, drains: Iterable[tuple[str, str, str]]) -> None:
        """Run exactly the ``(drain_id, app, url)`` drains: start new ones, stop removed ones.

        A drain whose URL is invalid is logged and skipped.
        """
        wanted: dict[str, tuple[str, str]] = {}
        for drain_id, app, url in drains:
            try:
                wanted[drain_id] = (app, parse_drain_url(url))
            except InvalidParams as exc:
                log.warning("skipping log drain %s of %s: %s", drain_id, app, exc)
        stale: list[DrainForwarder] = []
        with self._lock:
            for drain_id, fwd in list(self._forwarders.items()):
                if wanted.get(drain_id) != (fwd.app, fwd.url):
                    stale.append(self._forwarders.pop(drain_id))
            for drain_id, (app, url) in wanted.items():
                if drain_id not in self._forwarders:
                    self._forwarders[drain_id] = DrainForwarder(
                        drain_id,
                        app,
                        url,
                        hostname=self.hostname,
                        ca_file=self.ca_file,
                        egress=self.egress,
                        on_drop=self.on_drop,
                    )
            by_app: dict[str, list[DrainForwarder]] = {}
            for fwd in self._forwarders.values():
                by_app.setdefault(fwd.app, []).append(fwd)
            self._by_app = {app: tuple(fwds) for app, fwds in by_app.items()}
        _close_all(stale, 1.0)

    def apps(self) -> dict[str, float]:
        """The apps that have a drain, and since when (the oldest drain's start)."""
        by_app = self._by_app
        return {app: min(fwd.started for fwd in fwds) for app, fwds in by_app.items()}

    def wants(self, app: str) -> bool:
        """Whether ``app`` has a drain (the log store makes line objects only then)."""
        return app in self._by_app

    def offer(self, app: str, lines: Sequence[LogLine]) -> None:
        """Hand ``lines`` to every drain of ``app``; never blocks (a LogStore listener)."""
        for fwd in self._by_app.get(app, ()):
            fwd.offer(lines)

    def stats(self, drain_id: str) -> DrainStats | None:
        """The counters of one drain, or None if it is not running."""
        fwd = self._forwarders.get(drain_id)
        return None if fwd is None else fwd.stats()

    def close(self, timeout: float = 2.0) -> None:
        """Stop every forwarder, giving them ``timeout`` seconds in all to send what is queued."""
        with self._lock:
            fwds = list(self._forwarders.values())
            self._forwarders.clear()
            self._by_app = {}
        _close_all(fwds, timeout)


def _close_all(fwds: Sequence[DrainForwarder], timeout: float) -> None:
    """Stop ``fwds`` together, then wait for them, ``timeout`` seconds in all."""
    deadline = time.monotonic() + timeout
    for fwd in fwds:
        fwd.stop(timeout)
    for fwd in fwds:
        fwd.close(max(0.0, deadline - time.monotonic()))
