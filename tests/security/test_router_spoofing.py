"""The router routes by the host a request names and by nothing else a client says.

Two echo apps (``http.server`` answering with their name, the path and the request headers
as JSON) stand behind the plain HTTP router and the HTTPS edge. Requests are written byte by
byte (absolute-form targets, duplicate or odd Host headers) and each answer is classified:
one of the apps, the API (a ``{"id": ...}`` body), or a status code of the router itself.
``Host`` picks the app (that is routing); ``X-Forwarded-Host``, ``Forwarded``,
``X-Original-URL``, ``X-Rewrite-URL``, ``X-Forwarded-For``/``-Proto`` never move a request
to another app or to the API, ``api.<domain>`` is served by the HTTPS edge only, and an app
sees the client address and scheme the router saw, not the ones the client claimed.
"""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.faults import record
from tests.livefixtures import LivePlatform

pytestmark = pytest.mark.integration
COMMAND = ".venv/bin/python -m pytest -q tests/security/test_router_spoofing.py"

ECHO = """\
import http.server, json, os


class Echo(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = json.dumps({
            "app": os.environ.get("WHO"),
            "path": self.path,
            "headers": [[k.lower(), v] for k, v in self.headers.items()],
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("", int(os.environ["PORT"])), Echo).serve_forever()
"""
DOCKERFILE = 'FROM python:3\nCOPY echo.py /srv/echo.py\nCMD ["python3", "/srv/echo.py"]\n'
SPOOFS = (
    "X-Forwarded-For: 6.6.6.6\r\n"
    "X-Forwarded-Proto: https\r\n"
    "X-Forwarded-Port: 1\r\n"
    "X-Forwarded-Host: evil.example\r\n"
    "X-Real-IP: 6.6.6.6\r\n"
    "Forwarded: for=6.6.6.6;host=evil.example;proto=https\r\n"
    "X-Original-URL: /admin\r\n"
    "X-Rewrite-URL: /admin\r\n"
)


@dataclass
class Echoes:
    one: str
    two: str
    domain: str

    def host(self, app: str) -> str:
        return f"{app}.{self.domain}"


@pytest.fixture(scope="module")
def echoes(platform: LivePlatform, tmp_path_factory: pytest.TempPathFactory) -> Echoes:
    where = tmp_path_factory.mktemp("echo")
    (where / "Dockerfile").write_text(DOCKERFILE)
    (where / "echo.py").write_text(ECHO)
    names = []
    for prefix in ("echo-one", "echo-two"):
        app = platform.create_app(prefix)
        platform.moor("config:set", f"WHO={app}", "-a", app)
        platform.moor("container:push", "web", "-a", app, cwd=where)
        platform.moor("container:release", "web", "-a", app, cwd=where)
        platform.wait_for(app, f'"app": "{app}"')
        names.append(app)
    return Echoes(names[0], names[1], platform.domain)


def _exchange(sock: socket.socket, request: str) -> tuple[int, str]:
    sock.sendall(request.encode("latin-1"))
    chunks = []
    while data := sock.recv(65536):
        chunks.append(data)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
    return status, body.decode(errors="replace")


def _plain(port: int, request: str) -> tuple[int, str]:
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        return _exchange(sock, request)


def _tls(port: int, sni: str, ca: Path, request: str) -> tuple[int, str]:
    context = ssl.create_default_context(cafile=str(ca))
    with socket.create_connection(("127.0.0.1", port), timeout=15) as raw:
        with context.wrap_socket(raw, server_hostname=sni) as sock:
            return _exchange(sock, request)


def _who(status: int, body: str) -> str:
    """The echo app that answered, "API" for the platform's API, else the status code."""
    try:
        data = json.loads(body)
    except ValueError:
        return str(status)
    if isinstance(data, dict) and "headers" in data:
        return str(data["app"])
    if isinstance(data, dict) and "id" in data:
        return "API"
    return str(status)


def _get(target: str, *headers: str, extra: str = "") -> str:
    lines = "".join(f"{h}\r\n" for h in headers)
    return f"GET {target} HTTP/1.1\r\n{lines}{extra}Connection: close\r\n\r\n"


def _plain_cases(e: Echoes, p: LivePlatform) -> Iterator[tuple[str, str, set[str]]]:
    """(what, request, acceptable answers) on the plain HTTP router."""
    one, two, d = e.host(e.one), e.host(e.two), e.domain
    api_port = p.api.rsplit(":", 1)[1]
    lost = {"400", "404"}  # the router's own refusal: no app, never the API
    yield "Host names app one", _get("/", f"Host: {one}"), {e.one}
    yield "Host names app two", _get("/", f"Host: {two}"), {e.two}
    for header in (
        f"X-Forwarded-Host: {two}",
        f"X-Forwarded-Host: api.{d}",
        f"Forwarded: host={two};proto=https;for=6.6.6.6",
        f"Forwarded: host=api.{d}",
        "X-Original-URL: /account",
        "X-Rewrite-URL: /account",
        f"X-Forwarded-Server: {two}",
        f"X-Host: {two}",
        f"X-HTTP-Host-Override: {two}",
    ):
        yield f"Host one + {header}", _get("/", f"Host: {one}", header), {e.one}
    yield "all spoofed headers", _get("/", f"Host: {one}", extra=SPOOFS), {e.one}
    for host in (
        f"api.{d}",
        f"API.{d}",
        f"api.{d}.",
        f"api.{d}:{p.https_port}",
        f"registry.{d}",
        f"127.0.0.1:{api_port}",
        "localhost",
        d,
        e.one,
        f"{one}.evil.example",
        f"x.{one}",
        f"{two}@{one}",
        f"{one}/../{two}",
        "",
    ):
        yield f"Host: {host!r}", _get("/account", f"Host: {host}"), lost
    for host in (one.upper(), f"{one}:{p.router_port}", f"{one}:1", f"{one}."):
        yield f"Host: {host!r}", _get("/", f"Host: {host}"), {e.one, "404"}
    for target in (
        f"http://api.{d}/account",
        f"http://api.{d}:{p.https_port}/account",
        f"https://api.{d}/account",
        f"http://127.0.0.1:{api_port}/account",
        f"http://registry.{d}/v2/",
    ):
        yield f"absolute-form {target} with Host one", _get(target, f"Host: {one}"), lost
    yield "absolute-form names app two", _get(f"http://{two}/", f"Host: {one}"), {e.two}
    yield "path looks like a URL", _get(f"//api.{d}/account", f"Host: {one}"), {e.one}
    yield "two Host headers", _get("/", f"Host: {one}", f"Host: {two}"), {"400"}
    yield "HTTP/1.0 without Host", "GET /account HTTP/1.0\r\n\r\n", lost
    connect = f"CONNECT api.{d}:{p.https_port} HTTP/1.1\r\nHost: api.{d}\r\n\r\n"
    yield "CONNECT to the API", connect, lost | {"405"}


def _edge_cases(e: Echoes, p: LivePlatform) -> Iterator[tuple[str, str, str, set[str]]]:
    """(what, SNI, request, acceptable answers) on the HTTPS edge."""
    one, two, d = e.host(e.one), e.host(e.two), e.domain
    api = f"api.{d}"
    yield "SNI and Host one", one, _get("/", f"Host: {one}"), {e.one}
    yield "SNI one, Host two (Host routes)", one, _get("/", f"Host: {two}"), {e.two}
    yield "SNI api, Host one (Host routes)", api, _get("/", f"Host: {one}"), {e.one}
    yield "SNI one, Host api (the edge serves api.)", one, _get("/account", f"Host: {api}"), {"API"}
    for header in (
        f"X-Forwarded-Host: {api}",
        f"X-Forwarded-Host: {two}",
        f"Forwarded: host={api}",
        "X-Original-URL: /account",
        "X-Rewrite-URL: /account",
    ):
        yield f"Host one + {header}", one, _get("/", f"Host: {one}", header), {e.one}
    yield "all spoofed headers", one, _get("/", f"Host: {one}", extra=SPOOFS), {e.one}


def test_only_the_host_a_request_names_picks_its_app(
    platform: LivePlatform, echoes: Echoes
) -> None:
    ca = platform.data / "tls" / "ca.crt"
    wrong: list[str] = []
    plain = list(_plain_cases(echoes, platform))
    for what, request, allowed in plain:
        got = _who(*_plain(platform.router_port, request))
        if got not in allowed:
            wrong.append(f"router, {what}: {got} (allowed {sorted(allowed)})")
    edge = list(_edge_cases(echoes, platform))
    for what, sni, request, allowed in edge:
        got = _who(*_tls(platform.https_port, sni, ca, request))
        if got not in allowed:
            wrong.append(f"edge, {what}: {got} (allowed {sorted(allowed)})")
    # the platform's own names cannot become an app or a custom domain
    for name in ("api", "registry"):
        made = platform.moor("apps:create", name, check=False)
        if made.returncode == 0:
            platform.apps.add(name)
            wrong.append(f"an app named {name} was created")
    for host in (f"api.{echoes.domain}", f"registry.{echoes.domain}"):
        added = platform.moor("domains:add", host, "-a", echoes.one, check=False)
        if added.returncode == 0:
            wrong.append(f"custom domain {host} was added")
    record(
        "Router: Host and forwarding headers cannot move a request to another app or the API",
        tried=f"{len(plain)} requests on the HTTP router, {len(edge)} on the HTTPS edge, "
        "2 reserved app names, 2 platform host names as custom domains",
        failures=len(wrong),
        recovery="n/a",
        command=COMMAND,
    )
    assert not wrong, "\n".join(wrong)


def _headers(body: str) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = {}
    for key, value in json.loads(body)["headers"]:
        seen.setdefault(key, []).append(value)
    return seen


def test_apps_see_what_the_router_saw_not_what_the_client_claimed(
    platform: LivePlatform, echoes: Echoes
) -> None:
    ca = platform.data / "tls" / "ca.crt"
    one = echoes.host(echoes.one)
    request = _get("/", f"Host: {one}", extra=SPOOFS)
    views = {
        "http": _headers(_plain(platform.router_port, request)[1]),
        "https": _headers(_tls(platform.https_port, one, ca, request)[1]),
    }
    wrong: list[str] = []
    for scheme, seen in views.items():
        port = str(platform.router_port if scheme == "http" else platform.https_port)
        expected = {
            "host": [one],
            "x-forwarded-for": ["127.0.0.1"],
            "x-forwarded-proto": [scheme],
            "x-forwarded-port": [port],
            "x-forwarded-host": [one],
            "x-real-ip": ["127.0.0.1"],
        }
        for key, value in expected.items():
            if seen.get(key) != value:
                wrong.append(f"{scheme}: {key} {seen.get(key)}, expected {value}")
        for key in ("forwarded", "x-original-url", "x-rewrite-url"):
            if key in seen:
                wrong.append(f"{scheme}: the client's {key} reached the app: {seen[key]}")
        if len(seen.get("x-request-id", [])) != 1:
            wrong.append(f"{scheme}: x-request-id {seen.get('x-request-id')}")
    record(
        "Router: apps see the real client address and scheme",
        tried="8 spoofed forwarding headers over HTTP and over HTTPS",
        failures=len(wrong),
        recovery="n/a",
        command=COMMAND,
    )
    assert not wrong, "\n".join(wrong)
