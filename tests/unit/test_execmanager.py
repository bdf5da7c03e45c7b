"""heroku ps:exec's exec manager and SSH grants (issue 24 item 2), on the fakes: a key is
granted one dyno of an app its user may use, once; another app's dyno never."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from moorage.server.background.reconciler import Reconciler
from moorage.server.platform import Platform
from moorage.server.sessions.sshgate import Gateway, asyncssh
from tests.unit.conftest import make_token
from tests.unit.test_reconciler import _deployed


def _basic(app: str, token: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{app}:{token}".encode()).decode()}


@pytest.fixture
def gate(platform: Platform, reconciler: Reconciler, tmp_path: Path) -> Gateway:
    platform.reconciler = reconciler
    assert platform.sessions is not None
    platform.sshgate = Gateway(platform.sessions, tmp_path / "host_key", "127.0.0.3", 80)
    return platform.sshgate


def test_a_key_gets_one_session_in_a_dyno_of_its_users_app(
    api: TestClient, platform: Platform, reconciler: Reconciler, gate: Gateway
) -> None:
    _deployed(api, platform, reconciler)
    token = api.headers["Authorization"].split()[1]
    key = asyncssh.generate_private_key("ssh-rsa", key_size=2048)
    public = key.export_public_key("openssh").decode()
    assert api.get("/apps/demo/buildpack-installations").json() == []
    assert api.get("/apps/demo/features/runtime-heroku-exec").json()["enabled"] is True
    listed = api.get("/api/v2", headers=_basic("demo", token))
    assert listed.json() == [{"dyno_name": "web.1"}]
    answer = api.put("/api/v2/web.1", headers=_basic("demo", token), json={"client_key": public})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["tunnel_host"] == "127.0.0.3" and body["proxy_public_key"] == gate.public_key()
    user = body["client_user"]
    assert gate.grants.check(user, key.public_data)
    other = asyncssh.generate_private_key("ssh-ed25519")
    assert not gate.grants.check(user, other.public_data)  # only the key it was given
    assert gate.grants.use(user) is not None  # for as long as the client keeps using it
    assert gate.grants.use("u-someone-else") is None

    eve = make_token(platform, "eve@example.test")
    refused = api.put("/api/v2/web.1", headers=_basic("demo", eve), json={"client_key": public})
    assert refused.status_code in (403, 404)  # not her app: no grant, no name leaked
    missing = api.put("/api/v2/web.9", headers=_basic("demo", token), json={"client_key": public})
    assert missing.status_code == 404
    bad = api.put("/api/v2/web.1", headers=_basic("demo", token), json={"client_key": "nope"})
    assert bad.status_code == 422
