"""The terminal protocol end to end over a real uvicorn server: run_terminal <-> bridge.

The session behind the bridge is a fake (it echoes stdin uppercased); the Docker side is covered
by tests/integration/test_session_docker.py.
"""

from __future__ import annotations

import fcntl
import io
import os
import pty
import queue
import signal
import struct
import termios
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse
from websockets.sync.client import connect

from moorage.client.terminal import run_terminal
from moorage.errors import (
    ApiUnreachable,
    MoorageError,
    NotFound,
    RuntimeFailure,
    Unauthorized,
)
from moorage.server.sessions.wsbridge import bridge

TOKEN = "good-token"
CTRL_D = b"\x04"


class FakeSession:
    """Echoes stdin uppercased; ends on stdin EOF or a Ctrl-D byte."""

    def __init__(self, code: int = 0, blob: int = 0, fail: str = "") -> None:
        self.code = code
        self.fail = fail
        self.out: queue.Queue[bytes | None] = queue.Queue()
        self.resizes: list[tuple[int, int]] = []
        self.stdin_closed = threading.Event()
        self.closed = threading.Event()
        for _ in range(blob):
            self.out.put(b"x" * 65536)
        if blob:
            self.out.put(None)

    def read(self, n: int = 65536) -> bytes:
        if self.fail:
            raise RuntimeFailure(self.fail)
        item = self.out.get()
        if item is None:
            self.out.put(None)  # stay at EOF
            return b""
        return item

    def write(self, data: bytes) -> None:
        self.out.put(data.replace(CTRL_D, b"").upper())
        if CTRL_D in data:
            self.out.put(None)

    def close_stdin(self) -> None:
        self.stdin_closed.set()
        self.out.put(None)

    def resize(self, rows: int, cols: int) -> None:
        self.resizes.append((rows, cols))

    def exit_code(self) -> int | None:
        return self.code

    def close(self) -> None:
        self.closed.set()
        self.out.put(None)


def make_app(sessions: list[FakeSession]) -> FastAPI:
    app = FastAPI()

    @app.exception_handler(MoorageError)
    async def _error(_: Request, exc: MoorageError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.websocket("/apps/{name}/terminal")
    async def terminal(ws: WebSocket, name: str) -> None:
        if ws.headers.get("authorization") != f"Bearer {TOKEN}":
            raise Unauthorized("Invalid credentials provided.")
        if name != "demo":
            raise NotFound(f"Couldn't find that app: {name}.")
        q = ws.query_params
        session = FakeSession(int(q.get("code", "0")), int(q.get("blob", "0")), q.get("fail", ""))
        sessions.append(session)
        await bridge(ws, session)

    return app


class Server:
    def __init__(self, tls: tuple[Path, Path] | None = None) -> None:
        self.sessions: list[FakeSession] = []
        self.scheme = "wss" if tls else "ws"
        config = uvicorn.Config(
            make_app(self.sessions),
            host="127.0.0.1",
            port=0,
            log_level="warning",
            lifespan="off",
            ssl_certfile=tls and str(tls[0]),
            ssl_keyfile=tls and str(tls[1]),
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.base = f"{self.scheme}://127.0.0.1:{port}"
        return self

    def __exit__(self, *_: Any) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    def url(self, app: str = "demo", **query: Any) -> str:
        qs = "&".join(f"{k}={v}" for k, v in query.items())
        return f"{self.base}/apps/{app}/terminal" + (f"?{qs}" if qs else "")

    def session(self) -> FakeSession:
        deadline = time.monotonic() + 5
        while not self.sessions:
            assert time.monotonic() < deadline, "no session was opened"
            time.sleep(0.01)
        return self.sessions[-1]


@pytest.fixture
def server() -> Iterator[Server]:
    with Server() as s:
        yield s


def pipe_with(data: bytes) -> io.BufferedReader:
    r, w = os.pipe()
    os.write(w, data)
    os.close(w)
    return open(r, "rb")


def wait_for(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition never became true"
        time.sleep(0.01)


def set_size(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def test_pipes_stdin_eof_output_and_exit_code(server: Server) -> None:
    out = io.BytesIO()
    with pipe_with(b"hello\nworld\n") as stdin:
        code = run_terminal(server.url(code=3), TOKEN, stdin=stdin, stdout=out)
    assert code == 3
    assert out.getvalue() == b"HELLO\nWORLD\n"
    session = server.session()
    assert session.stdin_closed.is_set()
    assert session.resizes == []  # not a terminal: no window size to send
    wait_for(session.closed.is_set)


def test_tty_raw_mode_resize_and_sigwinch(server: Server) -> None:
    master, slave = pty.openpty()
    set_size(slave, 30, 100)
    saved = termios.tcgetattr(slave)
    out = io.BytesIO()

    def drive() -> None:
        session = server.session()
        wait_for(lambda: len(session.resizes) >= 1)
        set_size(slave, 40, 120)
        os.kill(os.getpid(), signal.SIGWINCH)
        wait_for(lambda: len(session.resizes) >= 2)
        os.write(master, b"ls -l" + CTRL_D)

    helper = threading.Thread(target=drive, daemon=True)
    helper.start()
    try:
        with open(slave, "rb", buffering=0, closefd=False) as stdin:
            code = run_terminal(server.url(code=0), TOKEN, stdin=stdin, stdout=out)
        helper.join(5)
        assert code == 0
        assert out.getvalue() == b"LS -L"  # raw mode: no line buffering, Ctrl-D is a byte
        assert server.session().resizes == [(30, 100), (40, 120)]
        assert termios.tcgetattr(slave) == saved
    finally:
        os.close(master)
        os.close(slave)


def test_client_disconnect_closes_session(server: Server) -> None:
    with connect(server.url(), additional_headers={"Authorization": f"Bearer {TOKEN}"}) as ws:
        ws.send(b"ping")
        assert ws.recv(timeout=5) == b"PING"
        ws.send('{"resize": [24, 80]}')
        ws.send("not json")
        ws.send('{"resize": [0, true]}')
        ws.send(b"again")
        assert ws.recv(timeout=5) == b"AGAIN"
    session = server.session()
    wait_for(session.closed.is_set)
    assert session.resizes == [(24, 80)]
    assert not session.stdin_closed.is_set()


def test_large_output_arrives_whole(server: Server) -> None:
    out = io.BytesIO()
    with pipe_with(b"") as stdin:
        code = run_terminal(server.url(blob=200), TOKEN, stdin=stdin, stdout=out)
    assert code == 0
    assert len(out.getvalue()) == 200 * 65536  # 13 MB


def test_session_error_becomes_runtime_failure(server: Server) -> None:
    with pipe_with(b""), pytest.raises(RuntimeFailure, match="docker went away"):
        run_terminal(server.url(fail="docker%20went%20away"), TOKEN, stdout=io.BytesIO())


@pytest.mark.parametrize(
    ("app", "token", "error", "message"),
    [
        ("demo", "bad-token", Unauthorized, "Invalid credentials provided."),
        ("nope", TOKEN, NotFound, "Couldn't find that app: nope."),
    ],
)
def test_handshake_rejection_maps_to_error(
    server: Server, app: str, token: str, error: type[MoorageError], message: str
) -> None:
    with pipe_with(b"") as stdin, pytest.raises(error) as caught:
        run_terminal(server.url(app), token, stdin=stdin, stdout=io.BytesIO())
    assert caught.value.message == message
    assert server.sessions == []


def test_unreachable_api() -> None:
    with pipe_with(b"") as stdin, pytest.raises(ApiUnreachable, match="Cannot reach"):
        run_terminal("ws://127.0.0.1:9/x", TOKEN, stdin=stdin, stdout=io.BytesIO())


def _cert(
    name: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer_name, signer = issuer or (subject, key)
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if issuer is not None:
        san = x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))])
        builder = builder.add_extension(san, critical=False)
    return builder.sign(signer, hashes.SHA256())


def make_tls(tmp: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1: (ca, cert, key) files."""
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _cert("moorage test CA", ca_key, None)
    cert = _cert("127.0.0.1", key, (ca.subject, ca_key))
    paths = tmp / "ca.pem", tmp / "cert.pem", tmp / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


def test_wss_trusts_moorage_ca_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ca, cert, key = make_tls(tmp_path)
    with Server(tls=(cert, key)) as server:
        monkeypatch.delenv("MOORAGE_CA_FILE", raising=False)
        with pipe_with(b"x") as stdin, pytest.raises(ApiUnreachable, match="MOORAGE_CA_FILE"):
            run_terminal(server.url(), TOKEN, stdin=stdin, stdout=io.BytesIO())
        monkeypatch.setenv("MOORAGE_CA_FILE", str(ca))
        out = io.BytesIO()
        with pipe_with(b"secure\n") as stdin:
            assert run_terminal(server.url(code=2), TOKEN, stdin=stdin, stdout=out) == 2
        assert out.getvalue() == b"SECURE\n"
