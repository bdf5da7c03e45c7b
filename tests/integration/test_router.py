"""The nginx router on its own: routing table changes reach nginx without a reload."""

from __future__ import annotations

import http.server
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from moorage.logs.routerfiles import render
from moorage.router.nginx import NginxRouter
from moorage.spec.dyno import Route

pytestmark = pytest.mark.integration


class _Named(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = self.server.server_name.encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def backends() -> Iterator[list[str]]:
    servers = []
    for name in ("one", "two"):
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Named)
        srv.server_name = name
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
    yield [f"127.0.0.1:{s.server_address[1]}" for s in servers]
    for srv in servers:
        srv.shutdown()
        srv.server_close()


@pytest.fixture
def router() -> Iterator[NginxRouter]:
    root = Path(tempfile.mkdtemp(prefix="moorage-router-"))
    root.chmod(0o755)  # nginx workers run as nobody and read the error pages from here
    r = NginxRouter(root, _free_port())
    yield r
    r.stop()
    shutil.rmtree(root, ignore_errors=True)


def _workers(master: int) -> set[int]:
    """The children of ``master``; a process that exits while we look is skipped."""
    found = set()
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses
        if stat.rsplit(")", 1)[1].split()[1] == str(master):
            found.add(int(p))
    return found


def _all_workers(master: int, timeout: float = 30) -> set[int]:
    """``master``'s workers once it has forked all of them (``worker_processes auto``: one
    per CPU) and the set has stayed the same for a second."""
    expected = {os.cpu_count(), len(os.sched_getaffinity(0))}
    deadline = time.monotonic() + timeout
    workers, since = _workers(master), time.monotonic()
    while len(workers) not in expected or time.monotonic() - since < 1:
        assert time.monotonic() < deadline, f"nginx workers never settled: {workers}"
        time.sleep(0.1)
        now = _workers(master)
        if now != workers:
            workers, since = now, time.monotonic()
    return workers


def test_hosts_backends_h10_and_404(router: NginxRouter, backends: list[str]) -> None:
    router.apply([Route("a", ("a.test",), tuple(backends)), Route("idle", ("idle.test",), ())])
    url = f"http://127.0.0.1:{router.port}/"
    seen = {httpx.get(url, headers={"Host": "a.test"}).text for _ in range(6)}
    assert seen == {"one", "two"}
    idle = httpx.get(url, headers={"Host": "idle.test"})
    assert idle.status_code == 503 and "Application error" in idle.text
    unknown = httpx.get(url, headers={"Host": "nobody.test"})
    assert unknown.status_code == 404


def test_a_deploy_keeps_nginx_and_client_connections(
    router: NginxRouter, backends: list[str]
) -> None:
    router.apply([Route("a", ("a.test",), (backends[0],))])
    master = router._pid()
    assert master is not None
    workers = _all_workers(master)  # the master forks its workers just after it answers
    url = f"http://127.0.0.1:{router.port}/"
    with httpx.Client(headers={"Host": "a.test"}) as client:
        assert client.get(url).text == "one"
        assert router.apply([Route("a", ("a.test",), (backends[1],))])
        assert client.get(url).text == "two"  # the same keep-alive connection
        assert client.get(url).extensions["network_stream"] is not None
    assert router._pid() == master and _workers(master) == workers
    assert not router.apply([Route("a", ("a.test",), (backends[1],))])


def test_a_restarted_nginx_serves_the_saved_table(router: NginxRouter, backends: list[str]) -> None:
    router.apply([Route("a", ("a.test",), (backends[1],))])
    router.stop()
    for _ in range(50):
        if not router.running():
            break
        threading.Event().wait(0.1)
    fresh = NginxRouter(router.root, router.port)  # as after a `moor server` restart
    fresh.reload()  # starts nginx
    resp = httpx.get(f"http://127.0.0.1:{router.port}/", headers={"Host": "a.test"})
    assert resp.text == "two"


def test_log_lines_request_ids_and_counters(router: NginxRouter, backends: list[str]) -> None:
    router.apply([Route("a", ("a.test",), (backends[0],)), Route("idle", ("idle.test",), ())])
    url = f"http://127.0.0.1:{router.port}/"
    with httpx.Client() as client:
        for _ in range(3):
            assert client.get(url, headers={"Host": "a.test"}).status_code == 200
        assert client.get(url, headers={"Host": "idle.test"}).status_code == 503
        assert client.get(url, headers={"Host": "nobody.test"}).status_code == 404
    router.reload()  # a new request id prefix: nginx counts connections from 1 again
    time.sleep(1)
    assert httpx.get(url, headers={"Host": "a.test"}).status_code == 200
    log = router.root / "logs" / "access.log"
    deadline = time.monotonic() + 10
    while len(log.read_text().splitlines()) < 6:  # nginx writes its buffer once a second
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)
    lines = log.read_text().splitlines()
    apps = [line.split()[1] for line in lines]
    assert apps == ["a", "a", "a", "idle", "-", "a"]
    ids = [line.split("request_id=")[1].split()[0] for line in lines]
    assert len(set(ids)) == 6 and ids[0].split("-")[0] != ids[5].split("-")[0]
    assert "at=error code=H10 desc=" in lines[3] and "status=503" in lines[3]
    h10 = render(lines[3].split(" ", 2)[0] + " " + lines[3].split(" ", 2)[2])
    assert h10 is not None and ' code=H10 desc="App crashed" method=GET' in h10
    assert " dyno= connect= service= status=503 " in h10
    stats = router.stats()
    assert stats["a"]["2xx"] == 4 and stats["idle"]["5xx"] == 1
    assert sum(v for k, v in stats["a"].items() if k.startswith("b")) == 4
    assert not any(k.startswith("b") for k in stats["idle"])  # an H10 has no response time
