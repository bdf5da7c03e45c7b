"""imagePullSecrets become the app's registry logins; the password is never shown."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from moorage.convert.importer import Current, plan_app
from moorage.convert.output import render_findings, to_json, write
from moorage.convert.plan import convert
from tests.unit.test_convert_plan import obj

PASSWORD = "ghp_pullTokenThatMustNeverBeShown123"


def _objects() -> list:  # type: ignore[type-arg]
    config = {
        "auths": {
            "https://ghcr.io": {"auth": base64.b64encode(f"bot:{PASSWORD}".encode()).decode()}
        }
    }
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "regcred"},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": base64.b64encode(json.dumps(config).encode()).decode()},
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "api"},
        "spec": {
            "template": {
                "spec": {
                    "imagePullSecrets": [{"name": "regcred"}],
                    "containers": [{"name": "api", "image": "ghcr.io/acme/api:1.2"}],
                }
            }
        },
    }
    return [obj(secret), obj(deployment)]


def test_pull_secrets_become_sealed_logins_that_no_output_shows(tmp_path: Path) -> None:
    conv = convert(_objects())
    [app] = conv.apps
    [login] = app.registry_logins
    assert (login.host, login.username, login.password) == ("ghcr.io", "bot", PASSWORD)
    assert conv.uncovered() == []
    steps = plan_app(app, Current(), None, images=True)
    put = next(s for s in steps if "registry-logins" in s.path)
    assert put.path == f"/apps/{app.name}/registry-logins/ghcr.io"
    assert put.body == {"username": "bot", "password": PASSWORD}
    whats = [s.what for s in steps]
    assert "add registry credentials for ghcr.io (user bot)" in whats
    assert "release worker from ghcr.io/acme/api:1.2" in whats  # no Service: a worker
    write(conv, tmp_path)
    written = "".join(p.read_text() for p in tmp_path.rglob("*") if p.is_file())
    shown = [written, json.dumps(to_json(conv)), render_findings(conv.findings), " ".join(whats)]
    assert all(PASSWORD not in text for text in shown)
    assert plan_app(app, Current(registry_logins={"ghcr.io": "bot"}), None) == [
        s for s in plan_app(app, Current(), None) if "registry-logins" not in s.path
    ]
