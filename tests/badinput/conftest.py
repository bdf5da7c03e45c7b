"""A platform with something in it, for the bad-input tests.

The unit fixtures (``settings``, ``platform``, ``reconciler``) come from tests/unit, with their
fakes at the seams; :class:`World` adds what fuzzing needs to get past "no such app": an app
with releases, dynos, an add-on, a backup record, a domain, a certificate, a schedule, a drain,
a collaborator, a spare API token, and an app of another user. It is made through the API.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from fastapi.testclient import TestClient

from moorage.server.app import create_app
from moorage.server.background.metrics import Recorder
from moorage.server.background.reconciler import Reconciler
from moorage.server.platform import Platform
from moorage.server.services import auth, backups
from moorage.server.store.models import Addon
from tests import certgen
from tests.unit.conftest import api, make_token, platform, reconciler, settings
from tests.unit.fakes import FakeProvider

__all__ = ["api", "platform", "reconciler", "settings"]

ACCEPT = "application/vnd.heroku+json; version=3"
APP, OTHER_APP = "fuzz-app", "fuzz-other"
OWNER, COLLABORATOR, STRANGER = "alice@example.test", "bob@example.test", "carol@example.test"
HOSTNAME = "www.fuzz.test"
PARTS = ("app", "addon", "domain", "cert", "schedule", "drain", "collab", "dynos", "spare")
REPAIRS: dict[str, tuple[str, ...]] = {  # what a successful fuzzed request may have removed
    "DELETE /apps/{ident}": PARTS,
    "DELETE /apps/{ident}/collaborators/{who}": ("collab",),
    "DELETE /apps/{ident}/addons/{addon}": ("addon",),
    "DELETE /apps/{ident}/addons/{addon}/backups/{backup}": ("addon",),
    "DELETE /apps/{ident}/log-drains/{drain}": ("drain",),
    "DELETE /apps/{ident}/domains/{hostname}": ("domain",),
    "DELETE /apps/{ident}/sni-endpoints/{name}": ("cert",),
    "DELETE /apps/{ident}/schedules/{sched}": ("schedule",),
    "POST /apps/{ident}/dynos/{name}/actions/stop": ("dynos",),
    "DELETE /oauth/authorizations/{token_id}": ("spare",),
}


class World:
    """The seeded platform, and the ids fuzzing may use as path parameters."""

    def __init__(self, platform: Platform, reconciler: Reconciler) -> None:
        platform.providers.update(
            {"postgresql": FakeProvider(), "redis": FakeProvider("redis", "REDIS")}
        )
        # no reconciler loop runs here, so a request that waits for a pass (DELETE /apps)
        # would wait its full timeout; passes run in _seed_dynos instead
        reconciler.request = lambda wait=True, timeout=0.0: None  # type: ignore[method-assign]
        platform.reconciler = reconciler
        platform.metrics = Recorder(platform.store)
        self.platform = platform
        self.app: FastAPI = create_app(platform)
        self.tokens = {who: make_token(platform, who) for who in (OWNER, COLLABORATOR, STRANGER)}
        self.ids: dict[str, str] = {}
        self.dynos: list[str] = []
        key = ec.generate_private_key(ec.SECP256R1())
        self.cert = {
            "certificate_chain": certgen.pem(certgen.cert(HOSTNAME, key, sans=(HOSTNAME,))),
            "private_key": certgen.key_pem(key),
        }
        ca = platform.settings.tls_dir / "ca.crt"
        ca.parent.mkdir(parents=True, exist_ok=True)
        ca.write_text(self.cert["certificate_chain"])
        self.seed(*PARTS)

    def client(self, who: str = OWNER) -> TestClient:
        headers = {"Authorization": f"Bearer {self.tokens[who]}", "Accept": ACCEPT}
        return TestClient(self.app, headers=headers)

    def seed(self, *parts: str) -> None:
        """Make (again) these parts of the world and read their ids; conflicts are fine."""
        api = self.client()
        for part in parts:
            getattr(self, f"_seed_{part}")(api)

    def repair(self, label: str) -> None:
        """After a successful fuzzed ``label``: make again what it may have removed."""
        self.seed(*REPAIRS.get(label, ()))

    def path_values(self, name: str) -> list[str]:
        """Values of path parameter ``name`` that reach past the lookups, into the handlers."""
        i = self.ids
        dynos = (self.dynos + ["web.1"] * 3)[:3]  # as many every time: hypothesis replays draws
        known = {
            "ident": [APP, i["app"], OTHER_APP],
            "app": [APP, OTHER_APP],
            "who": ["~", OWNER, i["user"], COLLABORATOR],
            "addon": ["DATABASE", "DATABASE_URL", i["addon"], i["addon_id"], f"{APP}::DATABASE"],
            "release": ["v1", "1", "2", "v3", i["release"], "0"],
            "release_id": [i["release"]],
            "ptype": ["web", "worker", "release", "run"],
            "name": [*dynos, "worker.1", i["cert"]],
            "target": ["web", "worker", *dynos],
            "domain": [HOSTNAME, i["domain"], f"{i['app']}-default"],
            "hostname": [HOSTNAME, i["domain"]],
            "backup": ["b001", "b1", "1"],
            "sched": [i["schedule"], i["schedule"][:6]],
            "drain": [i["drain"], i["drain_url"]],
            "token_id": [i["spare"]],
        }
        return known.get(name, [])

    # -- the parts ------------------------------------------------------------------------
    def _seed_app(self, api: TestClient) -> None:
        api.post("/apps", json={"name": APP})
        self.client(STRANGER).post("/apps", json={"name": OTHER_APP})
        for n, ptype in enumerate(("web", "worker"), start=1):
            image = self.platform.registry.push(APP, ptype, n)  # type: ignore[attr-defined]
            update = {"type": ptype, "docker_image": image}
            api.patch(f"/apps/{APP}/formation", json={"updates": [update]})
        api.patch(f"/apps/{APP}/config-vars", json={"GREETING": "hello"})
        self.ids["app"] = api.get(f"/apps/{APP}").json()["id"]
        self.ids["release"] = _rows(api, f"/apps/{APP}/releases")[0]["id"]
        self.ids["user"] = api.get("/account").json()["id"]

    def _seed_addon(self, api: TestClient) -> None:
        """A postgresql add-on (DATABASE) with one completed backup record, b001."""
        api.post(f"/apps/{APP}/addons", json={"plan": "postgresql"})
        with self.platform.store.session() as s:
            addon = s.query(Addon).filter(Addon.service == "postgresql").first()
            if addon is not None and not addon.backups:
                backups.start(s, addon, "manual").status = "completed"
        rows = _rows(api, f"/apps/{APP}/addons")
        row = next((r for r in rows if r["name"].startswith("postgresql-")), rows[0])
        self.ids["addon"], self.ids["addon_id"] = row["name"], row["id"]

    def _seed_domain(self, api: TestClient) -> None:
        api.post(f"/apps/{APP}/domains", json={"hostname": HOSTNAME})
        self.ids["domain"] = _rows(api, f"/apps/{APP}/domains")[-1]["id"]

    def _seed_cert(self, api: TestClient) -> None:
        if not _rows(api, f"/apps/{APP}/sni-endpoints"):
            api.post(f"/apps/{APP}/sni-endpoints", json=self.cert)
        self.ids["cert"] = _rows(api, f"/apps/{APP}/sni-endpoints")[0]["name"]

    def _seed_schedule(self, api: TestClient) -> None:
        if not _rows(api, f"/apps/{APP}/schedules"):
            api.post(f"/apps/{APP}/schedules", json={"schedule": "*/5 * * * *", "command": "x"})
        self.ids["schedule"] = _rows(api, f"/apps/{APP}/schedules")[0]["id"]

    def _seed_drain(self, api: TestClient) -> None:
        api.post(f"/apps/{APP}/log-drains", json={"url": "https://drain.fuzz.test/logs"})
        row = _rows(api, f"/apps/{APP}/log-drains")[0]
        self.ids["drain"], self.ids["drain_url"] = row["id"], row["url"]

    def _seed_collab(self, api: TestClient) -> None:
        api.post(f"/apps/{APP}/collaborators", json={"user": COLLABORATOR})

    def _seed_dynos(self, api: TestClient) -> None:
        """web.1 up (a reconciler pass over the fake runtime), and a one-off run.N."""
        if not any(d["type"] == "run" for d in _rows(api, f"/apps/{APP}/dynos")):
            api.post(f"/apps/{APP}/dynos", json={"command": "sleep 1"})
        assert self.platform.reconciler is not None
        self.platform.reconciler.run_once()
        self.platform.reconciler.wait_idle(timeout=10)
        self.dynos = [d["name"] for d in _rows(api, f"/apps/{APP}/dynos")]

    def _seed_spare(self, api: TestClient) -> None:
        """A token of the owner's that fuzzing may revoke (not the one it sends)."""
        spare = [r for r in _rows(api, "/oauth/authorizations") if r["description"] == "spare"]
        if not spare:
            with self.platform.store.session() as s:
                auth.create_token(s, auth.ensure_user(s, OWNER), "spare")
            spare = [r for r in _rows(api, "/oauth/authorizations") if r["description"] == "spare"]
        self.ids["spare"] = spare[0]["id"]


def _rows(api: TestClient, path: str) -> list[dict[str, Any]]:
    rows = api.get(path).json()
    assert isinstance(rows, list), f"{path}: {rows}"
    return rows


@pytest.fixture
def world(platform: Platform, reconciler: Reconciler) -> Iterator[World]:
    yield World(platform, reconciler)
