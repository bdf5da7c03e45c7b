from __future__ import annotations

import datetime as dt
import http.server
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from moorage.egress import Egress, parse_allow
from moorage.errors import InvalidParams
from moorage.logs.drains import DrainForwarder, DrainManager, _frame, _header, parse_drain_url
from moorage.logs.format import LogLine

T = dt.datetime(2026, 11, 26, 10, 0, 0, 123456, tzinfo=dt.UTC)

LOCAL = Egress(parse_allow("127.0.0.0/8"))  # the test servers listen on loopback


def lines(count: int, process: str = "web.1") -> list[LogLine]:
    return [LogLine(T, "app", process, f"hello {i}") for i in range(count)]


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


def offer_returns(fwd: DrainForwarder, batch: list[LogLine], times: int) -> None:
    """Offer ``batch`` ``times`` times from another thread: every call must return (drop
    instead of waiting) while the drain is stuck. The bound only guards against a hang."""
    done = threading.Event()

    def offer() -> None:
        for _ in range(times):
            fwd.offer(batch)
        done.set()

    threading.Thread(target=offer, daemon=True).start()
    assert done.wait(30), "offer() blocked on a drain that does not read"


def unframe(data: bytes) -> list[bytes]:
    """Split RFC 6587 octet-counted frames; asserts the framing is exact."""
    frames = []
    while data:
        length, _, rest = data.partition(b" ")
        size = int(length)
        frames.append(rest[:size])
        assert len(rest) >= size
        data = rest[size:]
    return frames


# -- URLs and frames ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "normalised"),
    [
        ("syslog+tls://logs.example.com:6514", "syslog+tls://logs.example.com:6514"),
        ("SYSLOG+TCP://Logs.Example.com:514/", "syslog+tcp://logs.example.com:514"),
        ("syslog://10.0.0.1:514", "syslog+tcp://10.0.0.1:514"),
        ("syslog+tcp://[::1]:514", "syslog+tcp://[::1]:514"),
        ("https://user:pw@logs.example.com/in?x=1", "https://user:pw@logs.example.com/in?x=1"),
        ("HTTP://logs.example.com", "http://logs.example.com"),
    ],
)
def test_parse_drain_url(url: str, normalised: str) -> None:
    assert parse_drain_url(url) == normalised


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://x", "must be syslog+tls://HOST:PORT"),
        ("logs.example.com:514", "must be syslog+tls://HOST:PORT"),
        ("", "must be"),
        ("syslog+tls://logs.example.com", "needs a port"),
        ("syslog://logs.example.com:99999", "must be"),
        ("syslog+tcp://:514", "no host"),
        ("syslog+tcp://h:514/path", "only syslog+tcp://HOST:PORT"),
        ("https:///nohost", "no host"),
        ("https://a b", "must be"),
    ],
)
def test_parse_drain_url_rejects(url: str, why: str) -> None:
    with pytest.raises(InvalidParams, match=why.replace("+", r"\+")) as err:
        parse_drain_url(url)
    assert repr(url) in err.value.message


def syslog_frame(line: LogLine, app: str, hostname: str) -> bytes:
    """``line`` as one octet-counted RFC 5424 message, as a forwarder frames it."""
    return _frame(_header(line.source, app, hostname, line.process), line)


def test_syslog_frame() -> None:
    frame = syslog_frame(LogLine(T, "app", "web.1", "héllo"), "myapp", "moorage.test")
    body = b"<190>1 2026-11-26T10:00:00.123456+00:00 moorage.test myapp web.1 app - h\xc3\xa9llo"
    assert frame == b"%d %b" % (len(body), body)
    router = syslog_frame(LogLine(T, "router", "router", "at=info"), "myapp", "my host")
    assert router.split(b" ", 1)[1].startswith(b"<158>1 2026-11-26T10:00:00.123456+00:00 my_host ")
    platform = syslog_frame(LogLine(T, "moorage", "release", "v2"), "myapp", "h")
    assert b" <134>1 " in b" " + platform.split(b" ", 1)[1]
    assert platform.endswith(b" h myapp release moorage - v2")


# -- a self-signed CA ------------------------------------------------------------------


class Pki:
    def __init__(self, directory: Path) -> None:
        now = dt.datetime.now(dt.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "moorage test CA")])
        ca = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        san = x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        )
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(san, critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        self.ca_file = directory / "ca.pem"
        self.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        self.cert_file = directory / "cert.pem"
        self.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.key_file = directory / "key.pem"
        self.key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


# -- syslog receivers ------------------------------------------------------------------


class SyslogServer:
    """Accepts connections on 127.0.0.1 and collects everything received."""

    def __init__(self, context: ssl.SSLContext | None = None) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.context = context
        self.data = b""
        self.error: OSError | None = None
        self.conn: socket.socket | None = None
        self.connections = 0
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        try:
            while True:
                conn, _ = self.listener.accept()
                if self.context is not None:
                    conn = self.context.wrap_socket(conn, server_side=True)
                self.connections += 1
                self.conn = conn
                with conn:
                    while chunk := conn.recv(65536):
                        with self.lock:
                            self.data += chunk
        except OSError as exc:  # closed listener, refused handshake
            self.error = exc

    def drop(self) -> None:
        """End the current connection (as a receiver restart would)."""
        assert self.conn is not None
        self.conn.shutdown(socket.SHUT_RDWR)

    def frames(self) -> list[bytes]:
        with self.lock:
            return unframe(self.data)

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def forwarders() -> Iterator[list[DrainForwarder]]:
    made: list[DrainForwarder] = []
    yield made
    for fwd in made:
        fwd.close(timeout=1)


def test_syslog_tcp(forwarders: list[DrainForwarder]) -> None:
    server = SyslogServer()
    try:
        fwd = DrainForwarder(
            "d1", "myapp", f"syslog://127.0.0.1:{server.port}", hostname="h", egress=LOCAL
        )
        forwarders.append(fwd)
        fwd.offer(lines(1200))
        wait_for(lambda: len(server.data) > 0 and len(server.frames()) == 1200)
        frames = server.frames()
        assert frames[0] == b"<190>1 2026-11-26T10:00:00.123456+00:00 h myapp web.1 app - hello 0"
        assert frames[-1].endswith(b" - hello 1199")
        wait_for(lambda: fwd.stats()["sent"] == 1200)
        assert fwd.stats() == {"sent": 1200, "dropped": 0, "errors": 0, "last_error": None}
    finally:
        server.close()


def test_dropped_lines_are_announced_to_the_drain_with_an_l10_line(
    forwarders: list[DrainForwarder],
) -> None:
    server = SyslogServer()
    drops: list[tuple[str, str, int]] = []
    try:
        fwd = DrainForwarder(
            "d1",
            "myapp",
            f"syslog://127.0.0.1:{server.port}",
            hostname="h",
            egress=LOCAL,
            queue_size=10,
            on_drop=lambda app, consumer, n: drops.append((app, consumer, n)),
        )
        forwarders.append(fwd)
        fwd.offer(lines(100))  # room for 10: 90 dropped in the same breath
        wait_for(lambda: len(server.frames()) == 11)
        frames = server.frames()
        assert (
            b" h myapp logplex moorage - Error L10 (output buffer overflow): 90 messages"
            in (frames[0])
        )
        assert frames[1].endswith(b" - hello 0") and frames[-1].endswith(b" - hello 9")
        assert drops == [("myapp", "drain", 90)]
        assert fwd.stats()["dropped"] == 90
    finally:
        server.close()


def test_syslog_reconnects_when_the_receiver_hangs_up(forwarders: list[DrainForwarder]) -> None:
    server = SyslogServer()
    try:
        fwd = DrainForwarder(
            "d1", "myapp", f"syslog://127.0.0.1:{server.port}", hostname="h", egress=LOCAL
        )
        forwarders.append(fwd)
        fwd.offer(lines(5))
        wait_for(lambda: len(server.frames()) == 5)
        server.drop()
        time.sleep(0.1)
        fwd.offer(lines(5))
        wait_for(lambda: len(server.frames()) == 10)
        assert server.connections == 2
        assert fwd.stats() == {"sent": 10, "dropped": 0, "errors": 0, "last_error": None}
    finally:
        server.close()


def test_syslog_tls_with_ca_file(pki: Pki, forwarders: list[DrainForwarder]) -> None:
    server = SyslogServer(pki.server_context())
    try:
        url = f"syslog+tls://127.0.0.1:{server.port}"
        fwd = DrainForwarder(
            "d1", "myapp", url, hostname="h", egress=LOCAL, ca_file=str(pki.ca_file)
        )
        forwarders.append(fwd)
        fwd.offer(lines(10))
        wait_for(lambda: len(server.frames()) == 10)
        assert server.frames()[9].endswith(b"h myapp web.1 app - hello 9")
        assert fwd.stats()["errors"] == 0
    finally:
        server.close()


def test_syslog_tls_refuses_an_unknown_ca(pki: Pki, forwarders: list[DrainForwarder]) -> None:
    server = SyslogServer(pki.server_context())
    try:
        fwd = DrainForwarder(
            "d1", "a", f"syslog+tls://127.0.0.1:{server.port}", hostname="h", egress=LOCAL
        )
        forwarders.append(fwd)
        fwd.offer(lines(3))
        wait_for(lambda: fwd.stats()["errors"] > 0)
        assert "TLS" in (fwd.stats()["last_error"] or "")
        assert fwd.stats()["dropped"] == 3
        wait_for(lambda: server.error is not None)
    finally:
        server.close()


# -- HTTPS -----------------------------------------------------------------------------


class Collector(http.server.BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers.items()), body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_https_drain(pki: Pki, forwarders: list[DrainForwarder]) -> None:
    received: list[tuple[dict[str, str], bytes]] = []
    handler = type("H", (Collector,), {"received": received})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.socket = pki.server_context().wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"https://127.0.0.1:{server.server_address[1]}/logs"
        fwd = DrainForwarder(
            "d.123", "myapp", url, hostname="h", egress=LOCAL, ca_file=str(pki.ca_file), batch=100
        )
        forwarders.append(fwd)
        fwd.offer(lines(250))
        wait_for(lambda: sum(int(h["Logplex-Msg-Count"]) for h, _ in received) == 250)
        headers, _ = received[0]
        assert headers["Content-Type"] == "application/logplex-1"
        assert headers["Logplex-Drain-Token"] == "d.123"
        assert headers["User-Agent"] == "moorage-drain"
        frames = [f for _, b in received for f in unframe(b)]
        assert len(frames) == 250 and all(int(h["Logplex-Msg-Count"]) <= 100 for h, _ in received)
        assert frames[0] == b"<190>1 2026-11-26T10:00:00.123456+00:00 h myapp web.1 app - hello 0"
        wait_for(lambda: fwd.stats()["sent"] == 250)
    finally:
        server.shutdown()
        server.server_close()


def test_http_drain_error_status(forwarders: list[DrainForwarder]) -> None:
    class Failing(Collector):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Failing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://user:secret@127.0.0.1:{server.server_address[1]}/"
        fwd = DrainForwarder("d1", "a", url, hostname="h", egress=LOCAL)
        forwarders.append(fwd)
        fwd.offer(lines(7))
        wait_for(lambda: fwd.stats()["errors"] == 1)
        stats = fwd.stats()
        assert stats["dropped"] == 7 and stats["sent"] == 0
        assert "HTTP 503" in (stats["last_error"] or "")
        assert "secret" not in (stats["last_error"] or "")
    finally:
        server.shutdown()
        server.server_close()


# -- drains that do not take what is sent ----------------------------------------------


def test_stuck_drain_never_blocks_offer(forwarders: list[DrainForwarder]) -> None:
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts (in the kernel) but never reads
    try:
        port = listener.getsockname()[1]
        fwd = DrainForwarder(
            "d1", "a", f"syslog+tcp://127.0.0.1:{port}", hostname="h", egress=LOCAL, timeout=0.3
        )
        forwarders.append(fwd)
        batch = lines(1000)
        offer_returns(fwd, batch, times=100)
        assert fwd.stats()["dropped"] > 0
        # Keep offering until the socket buffers are full and a send times out.
        deadline = time.monotonic() + 20
        while fwd.stats()["errors"] == 0:
            assert time.monotonic() < deadline, fwd.stats()
            offer_returns(fwd, batch, times=1)
            time.sleep(0.005)
        assert "timed out" in (fwd.stats()["last_error"] or "")
    finally:
        listener.close()


def test_unreachable_drain_reports_connection_refused(forwarders: list[DrainForwarder]) -> None:
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    fwd = DrainForwarder("d1", "a", f"syslog+tcp://127.0.0.1:{port}", hostname="h", egress=LOCAL)
    forwarders.append(fwd)
    offer_returns(fwd, lines(1000), times=100)
    wait_for(lambda: fwd.stats()["errors"] > 0)
    stats = fwd.stats()
    assert "connection refused" in (stats["last_error"] or "").lower()
    assert stats["dropped"] > 0 and stats["sent"] == 0


# -- the manager -----------------------------------------------------------------------


def test_manager_sync_offer_and_close() -> None:
    one, two = SyslogServer(), SyslogServer()
    manager = DrainManager("h", egress=LOCAL)
    try:
        manager.sync(
            [
                ("d1", "app1", f"syslog://127.0.0.1:{one.port}"),
                ("d2", "app2", f"syslog://127.0.0.1:{two.port}"),
                ("bad", "app2", "ftp://nowhere"),
            ]
        )
        assert manager.stats("bad") is None
        manager.offer("app1", lines(3))
        manager.offer("app2", lines(2, process="worker.1"))
        manager.offer("app3", lines(5))
        wait_for(lambda: len(one.frames()) == 3 and len(two.frames()) == 2)
        assert all(b" app2 worker.1 " in f for f in two.frames())
        manager.sync([("d2", "app2", f"syslog://127.0.0.1:{two.port}")])
        assert manager.stats("d1") is None
        wait_for(lambda: one.connections == 1 and one.conn is not None and one.conn.fileno() < 0)
        manager.offer("app1", lines(1))
        wait_for(
            lambda: (
                manager.stats("d2") == {"sent": 2, "dropped": 0, "errors": 0, "last_error": None}
            )
        )
    finally:
        manager.close()
        one.close()
        two.close()
    assert manager.stats("d2") is None
