"""Oversized input: request bodies (1 MiB), request heads (16 KiB), config vars.

Bodies and config vars go through the app in-process; the head limit is the HTTP server's,
so it is checked on a real uvicorn, started here as ``moor server`` starts it, on a free
port of 127.0.0.1, and stopped after.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from moorage.server.app import create_app
from moorage.server.http.limits import MAX_BODY_BYTES, BodyLimitMiddleware, exempt
from moorage.server.platform import Platform
from moorage.spec.names import MAX_CONFIG_KEY_CHARS, MAX_CONFIG_VALUE_BYTES
from tests.unit.conftest import make_token

RESERVED_PORTS = {443, 7050, 7070, 7080, 7432}


def _padded(size: int, **fields: Any) -> bytes:
    """A JSON object of exactly ``size`` bytes: ``fields`` and a ``pad`` string."""
    empty = json.dumps({**fields, "pad": ""}).encode()
    return json.dumps({**fields, "pad": "x" * (size - len(empty))}).encode()


def _assert_too_large(resp: httpx.Response) -> None:
    assert resp.status_code == 413, resp.text
    body = resp.json()
    assert body["id"] == "payload_too_large"
    assert "1 MiB" in body["message"] and "pg:backups:restore" in body["message"]


# -- bodies ---------------------------------------------------------------------------------
def test_a_body_over_1_mib_is_refused_and_nothing_is_made(api: TestClient) -> None:
    big = _padded(MAX_BODY_BYTES + 1, name="big-app")
    _assert_too_large(api.post("/apps", content=big, headers={"content-type": "application/json"}))
    assert api.get("/apps/big-app").status_code == 404


def test_a_body_of_exactly_1_mib_is_read(api: TestClient) -> None:
    body = _padded(MAX_BODY_BYTES, name="edge-app")
    resp = api.post("/apps", content=body, headers={"content-type": "application/json"})
    assert resp.status_code == 201, resp.text


def test_a_chunked_body_is_refused_too(api: TestClient) -> None:
    """No Content-Length (chunked): counted as it streams, refused once past the limit."""

    def chunks() -> Iterator[bytes]:
        yield b'{"name": "chunked-app", "pad": "'
        for _ in range(40):
            yield b"x" * (64 << 10)
        yield b'"}'

    resp = api.post("/apps", content=chunks(), headers={"content-type": "application/json"})
    _assert_too_large(resp)
    assert api.get("/apps/chunked-app").status_code == 404


class _Server:
    """The server side of one ASGI request: body chunks to give, messages the app sent."""

    def __init__(self, chunks: int, size: int) -> None:
        self.left, self.size = chunks, size
        self.pulled = 0
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        self.pulled += 1
        self.left -= 1
        return {"type": "http.request", "body": b"x" * self.size, "more_body": self.left > 0}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    def run(self, app: Any) -> None:
        scope = {"type": "http", "method": "POST", "path": "/apps", "headers": []}
        asyncio.run(BodyLimitMiddleware(app, max_body=1000)(scope, self.receive, self.send))


def test_nothing_is_read_past_the_limit_and_the_app_answer_is_dropped() -> None:
    got: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:  # reads all, then answers
        while (message := await receive())["type"] == "http.request" and message["more_body"]:
            pass
        got.append(message["type"])
        await send({"type": "http.response.start", "status": 400, "headers": []})
        await send({"type": "http.response.body", "body": b"client went away"})

    server = _Server(chunks=100, size=300)
    server.run(app)
    assert server.pulled == 4  # 1200 bytes > 1000: the fourth chunk was the last one read
    assert got == ["http.disconnect"]
    assert [m.get("status") for m in server.sent] == [413, None]
    assert json.loads(server.sent[1]["body"])["id"] == "payload_too_large"


def test_json_nested_too_deep_is_a_4xx(api: TestClient) -> None:
    """Small but 100,000 levels deep: the parser gives up, and the answer says so."""
    deep = b"[" * 100_000 + b"]" * 100_000
    resp = api.post("/apps", content=deep, headers={"content-type": "application/json"})
    assert resp.status_code == 400 and resp.json()["id"] == "http_error"


def test_every_api_operation_refuses_an_oversized_body(api: TestClient) -> None:
    """Whatever the method and route (real or not), except the two that take uploads."""
    spec = api.get("/openapi.json").json()
    big = b"[" + b"0," * (MAX_BODY_BYTES // 2) + b"0]"
    checked = 0
    for template, operations in spec["paths"].items():
        path = template.replace("{", "").replace("}", "")  # {ident} -> ident
        for method in operations:
            if exempt(method.upper(), path):
                continue
            resp = api.request(
                method, path, content=big, headers={"content-type": "application/json"}
            )
            assert resp.status_code == 413, (method, path, resp.status_code)
            checked += 1
    assert checked > 60


def test_uploads_are_exempt(api: TestClient) -> None:
    """The dump upload of pg:backups:restore and the registry proxy take bodies of any size."""
    big = b"\0" * (2 * MAX_BODY_BYTES)
    restore = api.put("/apps/nope/addons/db/actions/restore?confirm=nope", content=big)
    assert restore.status_code == 404, restore.text  # the app's check, not the size's
    registry = api.request("PUT", "/v2/nope/web/blobs/uploads/x", content=big)
    assert registry.status_code != 413


def test_an_answer_the_app_began_is_not_replaced() -> None:
    """A handler that answers before reading keeps its answer; it only stops getting body."""
    got: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 202, "headers": []})
        while (message := await receive())["type"] == "http.request" and message["more_body"]:
            pass
        got.append(message["type"])
        await send({"type": "http.response.body", "body": b"done"})

    server = _Server(chunks=3, size=600)
    server.run(app)
    assert got == ["http.disconnect"]
    assert [m.get("status") for m in server.sent] == [202, None]
    assert server.sent[1]["body"] == b"done"


# -- request heads, on a real uvicorn -------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    assert port not in RESERVED_PORTS
    return port


@pytest.fixture
def served(platform: Platform) -> Iterator[tuple[str, str]]:
    """The app on a real uvicorn, configured as ``moor server`` runs it: (base URL, token)."""
    port = _free_port()
    config = uvicorn.Config(
        create_app(platform), host="127.0.0.1", port=port, log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}", make_token(platform, "alice@example.test")
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        assert not thread.is_alive(), "uvicorn did not stop"


def _raw(base: str, request: bytes) -> bytes:
    """Send ``request`` on a fresh connection; everything the server answers before closing."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(request)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer


def test_a_header_over_16_kib_gets_a_4xx_and_the_server_stays_up(
    served: tuple[str, str],
) -> None:
    base, token = served
    huge = b"GET /account HTTP/1.1\r\nHost: api\r\nX-Big: " + b"a" * (17 << 10) + b"\r\n\r\n"
    status_line = _raw(base, huge).split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 4"), status_line  # h11: 400, connection closed
    many = b"GET /account HTTP/1.1\r\nHost: api\r\n" + b"X-H: 1234567\r\n" * 2000 + b"\r\n"
    assert _raw(base, many).split(b"\r\n", 1)[0].startswith(b"HTTP/1.1 4")
    ok = httpx.get(f"{base}/account", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert ok.status_code == 200
    near = {"Authorization": f"Bearer {token}", "X-Big": "a" * (8 << 10)}
    assert httpx.get(f"{base}/account", headers=near, timeout=10).status_code == 200


def test_a_real_server_answers_an_oversized_body_with_413(served: tuple[str, str]) -> None:
    """Declared and chunked: the client gets the JSON 413 (uvicorn drains what it sends)."""
    base, token = served
    headers = {"Authorization": f"Bearer {token}", "content-type": "application/json"}
    big = _padded(MAX_BODY_BYTES + 1, name="big-app")
    _assert_too_large(httpx.post(f"{base}/apps", content=big, headers=headers, timeout=30))

    def chunks() -> Iterator[bytes]:
        yield b'{"pad": "'
        for _ in range(24):
            yield b"x" * (64 << 10)
        yield b'"}'

    _assert_too_large(httpx.post(f"{base}/apps", content=chunks(), headers=headers, timeout=30))
    after = httpx.get(f"{base}/apps/big-app", headers=headers, timeout=10)
    assert after.status_code == 404


# -- config vars ----------------------------------------------------------------------------
@pytest.fixture
def app_name(api: TestClient) -> str:
    assert api.post("/apps", json={"name": "limits-app"}).status_code == 201
    return "limits-app"


def test_config_keys_up_to_255_characters(api: TestClient, app_name: str) -> None:
    url = f"/apps/{app_name}/config-vars"
    longest = "K" * MAX_CONFIG_KEY_CHARS
    assert api.patch(url, json={longest: "1"}).status_code == 200
    resp = api.patch(url, json={"K" * (MAX_CONFIG_KEY_CHARS + 1): "1", "SHORT": "1"})
    assert resp.status_code == 422
    message = resp.json()["message"]
    assert "256 characters long" in message and "at most 255" in message
    assert len(message) < 200  # the key is not echoed whole
    assert "SHORT" not in api.get(url).json()  # all or nothing


def test_config_values_up_to_32_kib(api: TestClient, app_name: str) -> None:
    url = f"/apps/{app_name}/config-vars"
    assert api.patch(url, json={"BIG": "v" * MAX_CONFIG_VALUE_BYTES}).status_code == 200
    over = api.patch(url, json={"BIG": "v" * (MAX_CONFIG_VALUE_BYTES + 1), "OTHER": "1"})
    assert over.status_code == 422
    assert "32769 bytes" in over.json()["message"]
    assert "at most 32 KiB" in over.json()["message"]
    wide = api.patch(url, json={"WIDE": "é" * (MAX_CONFIG_VALUE_BYTES // 2 + 1)})  # bytes count
    assert wide.status_code == 422 and "WIDE" in wide.json()["message"]
    assert set(api.get(url).json()) == {"BIG"}
