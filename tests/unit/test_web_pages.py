"""The dashboard through its HTTP surface: sessions, CSRF, masking, every page renders."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from moorage.server.app import create_app
from moorage.server.platform import Platform, edge_proof
from tests.unit.conftest import make_token

BASE = "https://api.moorage.localhost"  # the edge's name for the API (unit settings)


@pytest.fixture
def web(platform: Platform, api: TestClient) -> Iterator[tuple[TestClient, str]]:
    """A browser-like client (no API token) and a token to log in with."""
    assert api.post("/apps", json={"name": "shop"}).status_code == 201
    image = platform.registry.push("shop", "web", 1)  # type: ignore[attr-defined]
    updates = {"updates": [{"type": "web", "docker_image": image}]}
    assert api.patch("/apps/shop/formation", json=updates).is_success
    assert api.patch("/apps/shop/config-vars", json={"SECRET_KEY": "hunter2-xyz"}).is_success
    token = make_token(platform, "alice@example.test")
    platform.secret = b"s" * 32
    edge = {"X-Moorage-Edge": edge_proof(platform.secret)}  # as through the HTTPS edge
    with TestClient(
        create_app(platform), base_url=BASE, follow_redirects=False, headers=edge
    ) as client:
        yield client, token


def _login(client: TestClient, token: str) -> str:
    resp = client.post("/dashboard/login", data={"token": token})
    assert resp.status_code == 303 and resp.headers["location"] == "/dashboard/"
    page = client.get("/dashboard/apps/shop").text
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found
    return found.group(1)


def test_nothing_without_a_session(web: tuple[TestClient, str]) -> None:
    client, _ = web
    for path in ("/dashboard/", "/dashboard/apps/shop", "/dashboard/apps/shop/metrics"):
        resp = client.get(path)
        assert resp.status_code == 303 and resp.headers["location"] == "/dashboard/login"
    for path in ("/dashboard/apps/shop/config/SECRET_KEY", "/dashboard/apps/shop/logs/stream"):
        assert client.get(path).status_code == 401
    assert client.post("/dashboard/apps/shop/scale", data={"type": "web"}).status_code == 401
    client.cookies.set("moorage_session", "forged", domain="api.moorage.test", path="/dashboard")
    assert client.get("/dashboard/").status_code == 303


def test_login_sets_a_strict_cookie_and_a_bad_token_is_refused(
    web: tuple[TestClient, str],
) -> None:
    client, token = web
    bad = client.post("/dashboard/login", data={"token": "nope"})
    assert bad.status_code == 401 and "Invalid credentials" in bad.text
    resp = client.post("/dashboard/login", data={"token": token})
    cookie = resp.headers["set-cookie"]
    for flag in ("HttpOnly", "Secure", "SameSite=strict", "Path=/dashboard"):
        assert flag.lower() in cookie.lower()
    assert token not in cookie
    page = client.get("/dashboard/")
    assert page.status_code == 200 and ">shop</a>" in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]


def test_forms_need_the_csrf_token_and_the_own_origin(
    web: tuple[TestClient, str], api: TestClient
) -> None:
    client, token = web
    csrf = _login(client, token)
    form = {"type": "web", "quantity": "2"}
    assert client.post("/dashboard/apps/shop/scale", data=form).status_code == 403
    wrong = client.post("/dashboard/apps/shop/scale", data={**form, "csrf": csrf + "x"})
    assert wrong.status_code == 403 and "CSRF" in wrong.json()["message"]
    evil = client.post(
        "/dashboard/apps/shop/scale",
        data={**form, "csrf": csrf},
        headers={"Origin": "https://evil.example"},
    )
    assert evil.status_code == 403
    assert api.get("/apps/shop/formation/web").json()["quantity"] == 1
    ok = client.post(
        "/dashboard/apps/shop/scale", data={**form, "csrf": csrf}, headers={"Origin": BASE}
    )
    assert ok.status_code == 303 and "Scaled" in ok.headers["location"]
    assert api.get("/apps/shop/formation/web").json()["quantity"] == 2
    bad = client.post(
        "/dashboard/apps/shop/scale", data={"type": "worker", "quantity": "1", "csrf": csrf}
    )
    assert "error=Couldn" in bad.headers["location"]


def test_config_values_stay_out_of_the_html_until_revealed(web: tuple[TestClient, str]) -> None:
    client, token = web
    _login(client, token)
    page = client.get("/dashboard/apps/shop").text
    assert "SECRET_KEY" in page and "hunter2-xyz" not in page
    reveal = client.get("/dashboard/apps/shop/config/SECRET_KEY")
    assert reveal.json() == {"key": "SECRET_KEY", "value": "hunter2-xyz"}
    assert client.get("/dashboard/apps/shop/config/NOPE").status_code == 404


def test_every_page_renders(web: tuple[TestClient, str]) -> None:
    client, token = web
    _login(client, token)
    activity = client.get("/dashboard/apps/shop/activity").text
    assert "Set SECRET_KEY config vars" in activity and "alice@example.test" in activity
    assert "Roll back to v1" in activity
    logs = client.get("/dashboard/apps/shop/logs?source=router&dyno=web.1").text
    assert "/logs/stream?source=router&amp;dyno=web.1" in logs
    for span in ("1h", "24h"):
        metrics = client.get(f"/dashboard/apps/shop/metrics?range={span}").text
        assert metrics.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart"') == 5
    missing = client.get("/dashboard/apps/other")
    assert missing.status_code == 404 and "other" in missing.text
    assert client.get("/dashboard/static/dashboard.css").status_code == 200
    assert client.get("/dashboard/static/..%2fpages.py").status_code == 404


def test_a_private_app_shows_no_url_and_its_ports_and_volumes(
    web: tuple[TestClient, str], api: TestClient
) -> None:
    """Issue 18 item 1: the dashboard shows a private app as such, with its service ports."""
    client, token = web
    _login(client, token)
    ports = [{"port": 80, "target_port": 8080}]
    assert api.patch("/apps/shop/formation/web", json={"ports": ports}).is_success
    api.post("/apps/shop/volumes", json={"name": "data"})
    assert api.patch("/apps/shop", json={"internal_routing": True}).is_success
    page = client.get("/dashboard/apps/shop").text
    assert 'id="private"' in page and "https://shop." not in page
    assert "ports 80 → 8080" in page
    api.patch("/apps/shop/volumes/data", json={"process_type": "web", "path": "/data"})
    assert "volume data at /data" in client.get("/dashboard/apps/shop").text
