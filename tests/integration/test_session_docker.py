"""TTY sessions on real containers: docker exec/attach, and the whole WebSocket path.

Every container made here carries the label ``moorage.test=session`` and is removed at the end.
"""

from __future__ import annotations

import contextlib
import io
import os
import pty
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import docker
import pytest
import uvicorn
from docker.models.containers import Container
from fastapi import FastAPI, WebSocket
from starlette.concurrency import run_in_threadpool
from websockets.sync.client import connect

from moorage.client.terminal import run_terminal
from moorage.errors import NotFound
from moorage.runtime.session import TtySession, open_attach, open_exec
from moorage.server.sessions.wsbridge import bridge

pytestmark = pytest.mark.integration

IMAGE = "moorage/stack:bookworm"
LABELS = {"moorage.test": "session"}


@pytest.fixture(scope="module")
def client() -> docker.DockerClient:
    try:
        c = docker.from_env()
        c.ping()
        c.images.get(IMAGE)
    except docker.errors.DockerException as exc:
        pytest.fail(f"needs Docker Engine and {IMAGE} (run ./bin/test): {exc}")
    return c


@pytest.fixture
def make(client: docker.DockerClient) -> Iterator[Callable[..., Container]]:
    """Create (not start) labelled containers; all are removed afterwards."""
    made: list[Container] = []

    def create(cmd: list[str], **options: Any) -> Container:
        c = client.containers.create(IMAGE, cmd, labels=LABELS, **options)
        made.append(c)
        return c

    yield create
    for c in made:
        with contextlib.suppress(docker.errors.NotFound):
            c.remove(force=True)


@pytest.fixture
def running(make: Callable[..., Container]) -> Container:
    c = make(["sleep", "infinity"])
    c.start()
    return c


def ident(c: Container) -> str:
    assert c.id is not None
    return c.id


def wait_for_process(c: Container, args: bytes, *, present: bool) -> None:
    """Until a process whose command line starts with ``args`` runs (or no longer runs);
    each look is a ``docker exec``, slow on a loaded host, hence the generous deadline."""
    deadline = time.monotonic() + 60
    while True:
        lines = c.exec_run(["ps", "-eo", "args"]).output.splitlines()
        if any(line.startswith(args) for line in lines) == present:
            return
        assert time.monotonic() < deadline, f"{args!r} {'never ran' if present else 'survived'}"
        time.sleep(0.05)


def read_all(session: TtySession, until: bytes | None = None) -> bytes:
    out = b""
    while chunk := session.read():
        out += chunk
        if until is not None and until in out:
            break
    return out


def test_exec_without_tty(client: docker.DockerClient, running: Container) -> None:
    session = open_exec(client, ident(running), ["ls", "/usr"], tty=False)
    try:
        out = read_all(session)
        assert b"bin" in out.split()
        assert b"\x01\x00\x00\x00" not in out  # stream headers were stripped
        assert session.exit_code() == 0
    finally:
        session.close()


def test_exec_exit_code_and_stderr(client: docker.DockerClient, running: Container) -> None:
    session = open_exec(client, ident(running), ["sh", "-c", "echo oops >&2; exit 3"], tty=False)
    try:
        assert read_all(session) == b"oops\n"
        assert session.exit_code() == 3
    finally:
        session.close()


def test_exec_close_stdin_gives_eof(client: docker.DockerClient, running: Container) -> None:
    session = open_exec(client, ident(running), ["cat"], tty=False, env={"X": "1"})
    try:
        session.write(b"abc\n")
        session.close_stdin()
        assert read_all(session) == b"abc\n"
        assert session.exit_code() == 0
    finally:
        session.close()


def test_exec_with_tty(client: docker.DockerClient, running: Container) -> None:
    session = open_exec(client, ident(running), ["sh"], tty=True, rows=30, cols=100)
    try:
        session.write(b"stty size; echo hi; exit 4\n")
        out = read_all(session)
        assert b"30 100" in out
        assert b"hi\r\n" in out
        assert session.exit_code() == 4
    finally:
        session.close()


def test_closing_an_exec_hangs_up_its_process(
    client: docker.DockerClient, running: Container
) -> None:
    session = open_exec(client, ident(running), ["sh"], tty=True)
    session.write(b"sleep 1000\n")
    wait_for_process(running, b"sleep 1000", present=True)
    session.close()
    wait_for_process(running, b"sleep 1000", present=False)


def test_exec_in_a_stopped_container_is_not_found(
    client: docker.DockerClient, make: Callable[..., Container]
) -> None:
    stopped = make(["true"])
    with pytest.raises(NotFound, match=r"Dyno web\.2 is not running"):
        open_exec(client, ident(stopped), ["ls"], tty=False, name="web.2")
    with pytest.raises(NotFound, match="does not exist"):
        open_exec(client, "moorage-no-such-container", ["ls"], tty=False)


def test_attach_then_start(client: docker.DockerClient, make: Callable[..., Container]) -> None:
    created = make(["sh", "-c", "echo start; read x; echo got $x"], stdin_open=True)
    session = open_attach(client, ident(created), tty=False)
    try:
        session.write(b"abc\n")
        out = read_all(session)
        assert out == b"start\ngot abc\n"
        assert session.exit_code() == 0
    finally:
        session.close()


def test_attach_close_stdin_and_tty(
    client: docker.DockerClient, make: Callable[..., Container]
) -> None:
    created = make(["cat"], stdin_open=True)
    assert created.attrs["Config"]["StdinOnce"]  # docker-py sets it unless detach=True
    session = open_attach(client, ident(created), tty=False)
    try:
        session.write(b"one\n")
        session.close_stdin()
        assert read_all(session) == b"one\n"
        assert session.exit_code() == 0
    finally:
        session.close()
    created = make(["sh"], stdin_open=True, tty=True)
    session = open_attach(client, ident(created), tty=True, rows=20, cols=70)
    try:
        session.write(b"stty size; exit 5\n")
        assert b"20 70" in read_all(session)
        assert session.exit_code() == 5
    finally:
        session.close()


def test_closing_an_attach_stops_the_container(
    client: docker.DockerClient, make: Callable[..., Container]
) -> None:
    created = make(["sh"], stdin_open=True, tty=True)
    session = open_attach(client, ident(created), tty=True)
    session.write(b"echo ready\n")
    read_all(session, until=b"ready\r\n")
    session.close()
    created.reload()
    assert created.status == "exited"


# -- the whole path: run_terminal -> uvicorn -> bridge -> docker exec --------------------------
@contextlib.contextmanager
def serve(client: docker.DockerClient, container_id: str) -> Iterator[str]:
    app = FastAPI()

    @app.websocket("/exec")
    async def exec_route(ws: WebSocket) -> None:
        tty = ws.query_params.get("tty") == "1"
        cmd = ws.query_params.getlist("cmd")
        session = await run_in_threadpool(lambda: open_exec(client, container_id, cmd, tty=tty))
        await bridge(ws, session)

    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"ws://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}/exec"
    finally:
        server.should_exit = True
        thread.join(10)


def test_end_to_end_under_a_pseudo_terminal(
    client: docker.DockerClient, running: Container
) -> None:
    master, slave = pty.openpty()
    seen = bytearray()

    def drain() -> None:
        with contextlib.suppress(OSError):
            while chunk := os.read(master, 65536):
                seen.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        with (
            serve(client, ident(running)) as url,
            open(slave, "r+b", buffering=0, closefd=False) as t,
        ):
            code = run_terminal(f"{url}?tty=1&cmd=ls&cmd=/usr", "token", stdin=t, stdout=t)
        assert code == 0
        deadline = time.monotonic() + 5
        while b"bin" not in seen:
            assert time.monotonic() < deadline, f"no 'bin' in {bytes(seen)!r}"
            time.sleep(0.05)
    finally:
        os.close(slave)
        os.close(master)
        reader.join(5)


def test_end_to_end_large_output(client: docker.DockerClient, running: Container) -> None:
    out = io.BytesIO()
    r, w = os.pipe()
    os.close(w)
    with serve(client, ident(running)) as url, open(r, "rb") as stdin:
        code = run_terminal(f"{url}?cmd=seq&cmd=1&cmd=2000000", "t", stdin=stdin, stdout=out)
    data = out.getvalue()
    assert code == 0
    assert len(data) > 10_000_000
    assert data.endswith(b"\n1999999\n2000000\n")
    assert data.count(b"\n") == 2_000_000


def test_end_to_end_disconnect_hangs_up(client: docker.DockerClient, running: Container) -> None:
    with serve(client, ident(running)) as url:
        with connect(f"{url}?tty=1&cmd=sh") as ws:
            ws.send(b"sleep 1000\n")
            echoed = b""
            while b"sleep 1000" not in echoed:
                message = ws.recv(timeout=10)
                assert isinstance(message, bytes)
                echoed += message
            wait_for_process(running, b"sleep 1000", present=True)
        wait_for_process(running, b"sleep 1000", present=False)
