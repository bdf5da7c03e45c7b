"""Who may do what: another user's app looks missing, collaborators may use but not own,
tokens are stored hashed, revocable and rate-limited when wrong.

User A is the platform's admin (the ``actors`` app); user B gets a token of its own. Every
API operation B tries on A's app must answer exactly as it does for an app that does not
exist (404 ``not_found``) and change nothing A can see; the same for the registry (token
endpoint, Docker Distribution, ``docker pull``/``push``), the log stream, the exec and attach
WebSockets and the signed release output.

Token comparison: ``services/auth.authenticate`` hashes the presented token (SHA-256) and
looks the hash up in the store's unique index, so no secret is ever compared byte by byte
in Python and the time taken does not depend on how much of a guess was right. A test of
timing on a shared 2-core host would be noise, so instead we check what an attacker can
observe: two different wrong tokens (and a revoked one) get the very same answer.
"""

from __future__ import annotations

import json
import os
import sqlite3
import ssl
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import docker
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from moorage.server.services.auth import hash_token
from tests import certgen
from tests.faults import record
from tests.livefixtures import LivePlatform

pytestmark = pytest.mark.integration
COMMAND = ".venv/bin/python -m pytest -q tests/security/test_authz.py"


def _admin_token(platform: LivePlatform) -> str:
    return (platform.data / "admin@example.test.token").read_text().strip()


@dataclass
class Api:
    """httpx against the API with one user's token."""

    base: str
    token: str | None

    def __call__(
        self, method: str, path: str, body: Any = None, content: bytes | None = None
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        kwargs: dict[str, Any] = {"content": content} if content is not None else {"json": body}
        if method in ("GET", "DELETE"):
            kwargs = {}
        return httpx.request(method, self.base + path, headers=headers, timeout=120, **kwargs)


@dataclass
class World:
    """A's app with one of everything, and B."""

    app: str
    app_id: str
    addon: str
    addon_id: str
    hostname: str
    cert: str
    drain: str
    schedule: str
    backup: str
    release_id: str
    admin: Api
    bob: Api
    bob_email: str


def _ok(resp: httpx.Response) -> Any:
    assert resp.is_success, (resp.request.method, resp.request.url, resp.status_code, resp.text)
    return resp.json() if "json" in resp.headers.get("content-type", "") else resp.text


def _wait_up(admin: Api, app: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        dynos = _ok(admin("GET", f"/apps/{app}/dynos"))
        releases = _ok(admin("GET", f"/apps/{app}/releases"))
        if (
            dynos
            and all(d["state"] == "up" for d in dynos)
            and all(r["status"] != "pending" for r in releases)
        ):
            return
        time.sleep(0.5)
    raise AssertionError(f"{app} never settled: {dynos} {releases[-1:]}")


@pytest.fixture(scope="module")
def world(platform: LivePlatform, actors: str) -> Iterator[World]:
    admin = Api(platform.api, _admin_token(platform))
    bob_email = f"bob-{os.urandom(3).hex()}@example.test"
    bob = Api(platform.api, platform.new_token(bob_email))
    _wait_up(admin, actors)
    app = _ok(admin("GET", f"/apps/{actors}"))
    addon = _ok(admin("GET", f"/apps/{actors}/addons"))[0]
    hostname = f"authz-{os.urandom(3).hex()}.example.test"
    _ok(admin("POST", f"/apps/{actors}/domains", {"hostname": hostname}))
    key = ec.generate_private_key(ec.SECP256R1())
    pair = {
        "certificate_chain": certgen.pem(certgen.cert(hostname, key, sans=(hostname,))),
        "private_key": certgen.key_pem(key),
    }
    cert = _ok(admin("POST", f"/apps/{actors}/sni-endpoints", pair))["name"]
    drain = _ok(admin("POST", f"/apps/{actors}/log-drains", {"url": "syslog://127.0.0.1:9"}))
    sched = _ok(
        admin("POST", f"/apps/{actors}/schedules", {"schedule": "0 0 1 1 *", "command": "true"})
    )
    backups = f"/apps/{actors}/addons/{addon['name']}/backups"
    backup = _ok(admin("POST", backups))["id"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # captured and verified by a restore
        done = _ok(admin("GET", f"{backups}/{backup}"))
        if done["status"] != "running" and done["verified"] != "pending":
            break
        time.sleep(1)
    releases = _ok(admin("GET", f"/apps/{actors}/releases"))
    w = World(
        app=actors,
        app_id=app["id"],
        addon=addon["name"],
        addon_id=addon["id"],
        hostname=hostname,
        cert=cert,
        drain=drain["id"],
        schedule=sched["id"],
        backup=backup,
        release_id=releases[0]["id"],
        admin=admin,
        bob=bob,
        bob_email=bob_email,
    )
    try:
        yield w
    finally:
        base = f"/apps/{actors}"
        admin("DELETE", f"{base}/schedules/{w.schedule}")
        admin("DELETE", f"{base}/log-drains/{w.drain}")
        admin("DELETE", f"{base}/domains/{hostname}")
        admin("DELETE", f"{base}/sni-endpoints/{cert}")
        admin("DELETE", f"{base}/addons/{w.addon}/backups/{backup}")


def _operations(w: World, bob_app: str, bob_pipeline: str) -> list[tuple[str, str, Any]]:
    """(method, path, body) of every operation on an app; ``{a}`` is the app's name."""
    ad = f"/apps/{{a}}/addons/{w.addon}"
    bk = f"{ad}/backups/{w.backup}"
    promote = {"pipeline": {"id": bob_pipeline}, "source": {"app": {"id": "{a}"}}, "targets": []}
    return [
        ("GET", "/apps/{a}", None),
        ("PATCH", "/apps/{a}", {"moorage": {"group": "evil"}}),
        ("DELETE", "/apps/{a}", None),
        ("GET", "/apps/{a}/config-vars", None),
        ("PATCH", "/apps/{a}/config-vars", {"EVIL": "1"}),
        ("GET", "/apps/{a}/releases/1/config-vars", None),
        ("GET", "/apps/{a}/formation", None),
        ("GET", "/apps/{a}/formation/web", None),
        ("PATCH", "/apps/{a}/formation", {"updates": [{"type": "web", "quantity": 0}]}),
        ("PATCH", "/apps/{a}/formation/web", {"quantity": 3}),
        ("GET", "/apps/{a}/releases", None),
        ("GET", "/apps/{a}/releases/1", None),
        ("POST", "/apps/{a}/releases", {"release": "1"}),
        ("GET", "/apps/{a}/dynos", None),
        ("GET", "/apps/{a}/dynos/web.1", None),
        ("DELETE", "/apps/{a}/dynos", None),
        ("DELETE", "/apps/{a}/dynos/web.1", None),
        ("DELETE", "/apps/{a}/formation/web/dynos", None),
        ("POST", "/apps/{a}/dynos/web.1/actions/stop", None),
        ("POST", "/apps/{a}/dynos", {"command": "env", "attach": False}),
        ("POST", "/apps/{a}/dynos", {"command": "sh", "attach": True}),
        ("POST", "/apps/{a}/log-sessions", {"lines": 100}),
        ("GET", "/apps/{a}/metrics", None),
        ("GET", "/apps/{a}/addons", None),
        ("POST", "/apps/{a}/addons", {"plan": "postgresql"}),
        ("GET", ad, None),
        ("GET", f"{ad}/facts", None),
        ("DELETE", ad, None),
        ("POST", f"{ad}/actions/rotate-credentials", None),
        ("POST", f"{ad}/actions/psql", {"command": "SELECT 1"}),
        ("GET", "/apps/{a}/addon-attachments", None),
        ("DELETE", f"/apps/{{a}}/addon-attachments/{w.addon}", None),
        ("GET", f"{ad}/backups", None),
        ("POST", f"{ad}/backups", None),
        ("GET", bk, None),
        ("GET", f"{bk}/download", None),
        ("DELETE", bk, None),
        ("POST", f"{ad}/actions/restore", {"backup": w.backup, "confirm": "{a}"}),
        ("PUT", f"{ad}/actions/restore?confirm={{a}}", b"PGDMP garbage"),
        ("PUT", f"{ad}/backup-schedule", {"at": "02:00 UTC", "keep": 3}),
        ("DELETE", f"{ad}/backup-schedule", None),
        ("GET", "/apps/{a}/domains", None),
        ("POST", "/apps/{a}/domains", {"hostname": f"evil-{os.urandom(2).hex()}.example.test"}),
        ("GET", f"/apps/{{a}}/domains/{w.hostname}", None),
        ("PATCH", f"/apps/{{a}}/domains/{w.hostname}", {"sni_endpoint": None}),
        ("DELETE", f"/apps/{{a}}/domains/{w.hostname}", None),
        ("GET", "/apps/{a}/sni-endpoints", None),
        ("GET", f"/apps/{{a}}/sni-endpoints/{w.cert}", None),
        ("PATCH", f"/apps/{{a}}/sni-endpoints/{w.cert}", {"certificate_chain": "x"}),
        ("DELETE", f"/apps/{{a}}/sni-endpoints/{w.cert}", None),
        ("GET", "/apps/{a}/collaborators", None),
        ("POST", "/apps/{a}/collaborators", {"user": w.bob_email}),
        ("DELETE", "/apps/{a}/collaborators/admin@example.test", None),
        ("GET", "/apps/{a}/log-drains", None),
        ("POST", "/apps/{a}/log-drains", {"url": "syslog://127.0.0.1:10"}),
        ("DELETE", f"/apps/{{a}}/log-drains/{w.drain}", None),
        ("GET", "/apps/{a}/schedules", None),
        ("POST", "/apps/{a}/schedules", {"schedule": "* * * * *", "command": "env"}),
        ("DELETE", f"/apps/{{a}}/schedules/{w.schedule}", None),
        # A's things named by id, or reached from B's own app
        ("GET", f"/addons/{w.addon}/addon-attachments", None),
        ("GET", f"/addons/{w.addon_id}/addon-attachments", None),
        ("POST", "/addon-attachments", {"addon": w.addon, "app": bob_app}),
        ("POST", "/addon-attachments", {"addon": w.addon_id, "app": bob_app}),
        ("POST", "/addon-attachments", {"addon": "{a}::DATABASE", "app": bob_app}),
        ("GET", f"/release-output/{w.release_id}/{'0' * 64}", None),
        # A's app is in A's pipeline; B has a pipeline of its own
        ("GET", "/apps/{a}/pipeline-couplings", None),
        ("GET", "/pipeline-couplings/{a}", None),
        ("PATCH", "/pipeline-couplings/{a}", {"stage": "production"}),
        ("DELETE", "/pipeline-couplings/{a}", None),
        ("POST", "/pipeline-couplings", {"app": "{a}", "pipeline": bob_pipeline, "stage": "test"}),
        ("POST", "/pipeline-promotions", promote),
        # git push builds, linked repositories, review apps
        ("GET", "/apps/{a}/builds", None),
        ("POST", "/apps/{a}/builds?version=abc", b"not a tar"),
        ("PUT", "/apps/{a}/repo-link", {"url": "https://github.com/evil/x.git"}),
        ("DELETE", "/apps/{a}/repo-link", None),
        ("POST", "/apps/{a}/review-builds?branch=evil", b"not a tar"),
        ("DELETE", "/apps/{a}/review-apps/evil", None),
    ]


def _snapshot(w: World) -> dict[str, Any]:
    """What A sees of its app (dynos by name and id: their states may change by themselves)."""
    base = f"/apps/{w.app}"
    paths = [
        "",
        "/config-vars",
        "/formation",
        "/releases",
        "/addons",
        "/addon-attachments",
        "/domains",
        "/sni-endpoints",
        "/collaborators",
        "/log-drains",
        "/schedules",
        f"/addons/{w.addon}/backups",
    ]
    seen: dict[str, Any] = {p: _ok(w.admin("GET", base + p)) for p in paths}
    for drain in seen["/log-drains"]:
        drain.pop("moorage_stats", None)
    for sched in seen["/schedules"]:
        sched.pop("last_run_at", None)
    seen["dynos"] = sorted((d["name"], d["id"]) for d in _ok(w.admin("GET", base + "/dynos")))
    return seen


def _fill(method: str, path: str, body: Any, app: str) -> tuple[str, str, Any]:
    if isinstance(body, dict):
        body = json.loads(json.dumps(body).replace("{a}", app))
    return method, path.replace("{a}", app), body


def _error(resp: httpx.Response, ident: str) -> tuple[int, str, str]:
    """Status, error id and message (the app named as ``<app>``) of an answer."""
    try:
        body = resp.json()
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    message = str(body.get("message", resp.text[:200])).replace(ident, "<app>")
    return resp.status_code, str(body.get("id")), message


def _send(api: Api, method: str, path: str, body: Any) -> httpx.Response:
    if isinstance(body, bytes):
        return api(method, path, content=body)
    return api(method, path, body)


def test_another_users_app_is_missing_to_every_api_operation(
    platform: LivePlatform, world: World
) -> None:
    bob_app = f"bob-{os.urandom(3).hex()}"
    _ok(world.bob("POST", "/apps", {"name": bob_app}))
    platform.apps.add(bob_app)
    missing = f"nosuch-{os.urandom(3).hex()}"
    pipeline = _ok(world.admin("POST", "/pipelines", {"name": f"authz-{os.urandom(3).hex()}"}))
    coupling = {"app": world.app, "pipeline": pipeline["id"], "stage": "staging"}
    _ok(world.admin("POST", "/pipeline-couplings", coupling))
    bob_pipeline = _ok(world.bob("POST", "/pipelines", {"name": f"bob-{os.urandom(3).hex()}"}))
    operations = _operations(world, bob_app, bob_pipeline["id"])
    before = _snapshot(world)
    breaches: list[str] = []
    for method, path, body in operations:
        for ident in (world.app, world.app_id):
            sent = _fill(method, path, body, ident)
            resp = _error(_send(world.bob, *sent), ident)
            if resp[:2] != (404, "not_found"):
                breaches.append(f"{method} {path} as {ident}: {resp}")
            if "{a}" in json.dumps([path, body], default=str):
                like = _error(_send(world.bob, *_fill(method, path, body, missing)), missing)
                if resp != like:
                    breaches.append(f"{method} {path}: {resp} but a missing app gets {like}")
            told = json.dumps(sent, default=str)  # what B said itself may be echoed
            for secret in (world.app, world.app_id, world.addon, world.addon_id):
                if secret in resp[2].replace("<app>", ident) and secret not in told:
                    breaches.append(f"{method} {path} told B {secret}: {resp}")
    reads = [(m, p) for m, p, _ in operations if m == "GET" and "{a}" in p]
    for method, path in reads:  # the paths are real: A reads every one of them
        assert world.admin(method, path.replace("{a}", world.app)).is_success, path
    after = _snapshot(world)
    changed = [key for key in before if before[key] != after[key]]
    # what B lists of its own shows nothing of A's
    listings = {
        "/apps": world.bob("GET", "/apps").text,
        "/users/~/apps": world.bob("GET", "/users/~/apps").text,
        "/addon-attachments": world.bob("GET", "/addon-attachments").text,
        "/metrics": world.bob("GET", "/metrics").text,
        "/oauth/authorizations": world.bob("GET", "/oauth/authorizations").text,
        "/pipelines": world.bob("GET", "/pipelines").text,
        "/pipeline-couplings": world.bob("GET", "/pipeline-couplings").text,
    }
    leaks = [
        k
        for k, text in listings.items()
        if world.app in text or "admin@" in text or pipeline["name"] in text
    ]
    for hidden in (f"/pipelines/{pipeline['id']}", f"/pipelines/{pipeline['name']}"):
        assert world.bob("GET", hidden).status_code == 404
        assert world.bob("DELETE", hidden).status_code == 404
    world.admin("DELETE", f"/pipelines/{pipeline['id']}")
    assert world.bob("GET", "/users/admin@example.test/apps").status_code == 404
    taken = world.bob("POST", f"/apps/{bob_app}/domains", {"hostname": world.hostname})
    assert taken.status_code == 409
    if world.app in taken.text:
        leaks.append(f"domain conflict names A's app: {taken.text}")
    record(
        "Authorization: another user's app through every API operation",
        tried=f"{len(operations)} operations x 2 ways to name the app (name, id), "
        f"{len(listings) + 2} listings and look-ups",
        failures=len(breaches) + len(changed) + len(leaks),
        recovery="n/a",
        command=COMMAND,
    )
    assert not breaches, "\n".join(breaches)
    assert not changed, f"B's requests changed A's {changed}"
    assert not leaks, leaks


def _registry_login(platform: LivePlatform, config: str, token: str) -> None:
    proc = subprocess.run(
        ["docker", "--config", config, "login", platform.registry, "-u", "_", "--password-stdin"],
        input=token,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def test_registry_grants_another_user_nothing(platform: LivePlatform, world: World) -> None:
    bob = world.bob.token or ""
    failures: list[str] = []
    scopes = [
        f"repository:{world.app}/web:pull,push",
        f"repository:{world.app}/web:*",
        f"repository:{world.app}/web/extra:pull",
        f"repository:{world.app.upper()}/web:pull",
        f"repository:{world.app_id}/web:pull",
        f"repository:{world.app}:web:pull",
        "registry:catalog:*",
    ]
    for scope in scopes:
        resp = httpx.get(f"{platform.api}/registry/token", params={"scope": scope}, auth=("_", bob))
        claims = jwt.decode(resp.json()["token"], options={"verify_signature": False})
        if claims["access"]:
            failures.append(f"{scope} granted {claims['access']}")
    token = httpx.get(
        f"{platform.api}/registry/token",
        params={"scope": scopes[0]},
        auth=("_", bob),
    ).json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    registry = f"http://{platform.registry}/v2/{world.app}/web"
    for method, url in [
        ("GET", f"{registry}/manifests/latest"),
        ("GET", f"{registry}/tags/list"),
        ("POST", f"{registry}/blobs/uploads/"),
    ]:
        if httpx.request(method, url, headers=bearer).status_code not in (401, 403):
            failures.append(f"Distribution answered {method} {url} with B's token")
    basic = httpx.get(f"{platform.api}/v2/{world.app}/web/manifests/latest", auth=("_", bob))
    if basic.status_code != 404:
        failures.append(f"manifest with Basic auth: {basic.status_code}")
    ca = str(platform.data / "tls" / "ca.crt")
    edge = httpx.get(
        f"https://registry.{platform.domain}:{platform.https_port}/v2/{world.app}/web/manifests/latest",
        auth=("_", bob),
        verify=ssl.create_default_context(cafile=ca),
    )
    if edge.status_code != 404:
        failures.append(f"manifest through the edge with Basic auth: {edge.status_code}")
    # docker itself, logged in as B in a config of its own
    image = f"{platform.registry}/{world.app}/web"
    evil = f"evil-{os.urandom(3).hex()}"
    client = docker.from_env()
    client.images.get(f"{image}:latest").tag(image, tag=evil)
    with tempfile.TemporaryDirectory() as config:
        _registry_login(platform, config, bob)
        try:
            for verb, ref in (("pull", f"{image}:latest"), ("push", f"{image}:{evil}")):
                proc = subprocess.run(
                    ["docker", "--config", config, verb, ref],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if proc.returncode == 0:
                    failures.append(f"docker {verb} {ref} as B succeeded")
        finally:
            client.images.remove(f"{image}:{evil}")
    admin_token = httpx.get(
        f"{platform.api}/registry/token",
        params={"scope": f"repository:{world.app}/web:pull"},
        auth=("_", world.admin.token or ""),
    ).json()["token"]
    tags = httpx.get(
        f"{registry}/tags/list", headers={"Authorization": f"Bearer {admin_token}"}
    ).json()["tags"]
    if evil in tags:
        failures.append(f"tag {evil} was pushed")
    record(
        "Authorization: another user's registry repository",
        tried=f"{len(scopes)} token scopes, 3 Distribution calls, 2 manifest reads "
        "(API, edge), docker pull and push",
        failures=len(failures),
        recovery="n/a",
        command=COMMAND,
    )
    assert not failures, failures


def _ws_status(url: str, token: str | None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with connect(url, additional_headers=headers, open_timeout=30) as ws:
            ws.close()
        return 101
    except InvalidStatus as exc:
        return exc.response.status_code


def test_logs_exec_and_attach_of_another_users_app(platform: LivePlatform, world: World) -> None:
    failures: list[str] = []
    ws = platform.api.replace("http", "ws", 1)
    bob, admin = world.bob.token, world.admin.token
    exec_url = f"{ws}/apps/{world.app}/dynos/web.1/exec?tty=0&command=%5B%22id%22%5D"
    for who, token, expected in (("B", bob, 404), ("nobody", None, 401)):
        status = _ws_status(exec_url, token)
        if status != expected:
            failures.append(f"exec as {who}: {status}")
    # a one-off of A's waiting to be attached: B cannot take it over
    oneoff = _ok(
        world.admin("POST", f"/apps/{world.app}/dynos", {"command": "true", "attach": True})
    )
    # attach_url is heroku run's rendezvous (a one-use secret); moor run's WebSocket is here
    attach = f"{ws}/apps/{world.app}/dynos/{oneoff['name']}/attach?tty=0"
    assert oneoff["attach_url"].startswith("rendezvous://")
    try:
        status = _ws_status(attach, bob)
        if status != 404:
            failures.append(f"attach as B: {status}")
    finally:
        with connect(
            attach,
            additional_headers={"Authorization": f"Bearer {admin}"},
            open_timeout=60,
        ) as conn:
            for _ in conn:  # until the one-off exits and the server closes
                pass
    # log sessions: B cannot make one; a used or made-up session URL streams nothing
    if world.bob("POST", f"/apps/{world.app}/log-sessions", {"lines": 10}).status_code != 404:
        failures.append("B created a log session")
    url = _ok(world.admin("POST", f"/apps/{world.app}/log-sessions", {"lines": 1}))["logplex_url"]
    assert httpx.get(url).status_code == 200
    for probe in (url, url[:-4] + "AAAA", f"{platform.api}/log-sessions/{'A' * 32}"):
        if httpx.get(probe).status_code != 404:
            failures.append(f"log session {probe} streamed")
    record(
        "Authorization: logs, exec and attach of another user's app",
        tried="exec as B and anonymously, attach to A's one-off as B, "
        "log session by B, 3 used or guessed session URLs",
        failures=len(failures),
        recovery="n/a",
        command=COMMAND,
    )
    assert not failures, failures


def test_collaborators_use_but_do_not_own(platform: LivePlatform, world: World) -> None:
    app, bob, email = world.app, world.bob, world.bob_email
    failures: list[str] = []
    platform.moor("access:add", email, "-a", app)
    try:
        assert email in platform.moor("access", "-a", app).stdout
        if bob("GET", f"/apps/{app}/config-vars").status_code != 200:
            failures.append("collaborator cannot read config")
        web = next(
            f for f in _ok(world.admin("GET", f"/apps/{app}/formation")) if f["type"] == "web"
        )
        scale = bob("PATCH", f"/apps/{app}/formation/web", {"quantity": web["quantity"]})
        if scale.status_code != 200:
            failures.append(f"collaborator cannot scale: {scale.text}")
        owner_only = [
            ("DELETE", f"/apps/{app}", None),
            ("POST", f"/apps/{app}/collaborators", {"user": "carol@example.test"}),
            ("DELETE", f"/apps/{app}/collaborators/admin@example.test", None),
        ]
        for method, path, body in owner_only:
            resp = bob(method, path, body)
            if resp.status_code != 403 or resp.json()["id"] != "forbidden":
                failures.append(f"collaborator {method} {path}: {resp.status_code}")
        assert _ok(world.admin("GET", f"/apps/{app}"))["name"] == app
    finally:
        platform.moor("access:remove", email, "-a", app)
    for path in ("", "/config-vars", "/formation"):
        if bob("GET", f"/apps/{app}{path}").status_code != 404:
            failures.append(f"removed collaborator still reads {path}")
    denied = platform.moor("apps:info", "-a", app, token=bob.token, check=False)
    if denied.returncode != 4:
        failures.append(f"removed collaborator: apps:info exit {denied.returncode}")
    record(
        "Authorization: collaborators added and removed",
        tried="read config and scale as collaborator, 3 owner-only operations, "
        "4 reads after removal",
        failures=len(failures),
        recovery="n/a",
        command=COMMAND,
    )
    assert not failures, failures


def _state_rows(platform: LivePlatform) -> Iterator[tuple[str, str]]:
    db = sqlite3.connect(f"file:{platform.data / 'state.db'}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in db.execute(f'SELECT * FROM "{table}"'):
                yield table, repr(row)
    finally:
        db.close()


def test_tokens_are_hashed_revocable_and_wrong_ones_look_alike(
    platform: LivePlatform, world: World
) -> None:
    carol_email = f"carol-{os.urandom(3).hex()}@example.test"
    carol = Api(platform.api, platform.new_token(carol_email))
    tokens = {"admin": world.admin.token or "", "bob": world.bob.token or "", "carol": carol.token}
    rows = list(_state_rows(platform))
    stored = [(who, table) for table, row in rows for who, t in tokens.items() if t and t in row]
    hashed = [who for who, t in tokens.items() if any(hash_token(t or "") in r for _, r in rows)]
    assert sorted(hashed) == ["admin", "bob", "carol"]
    # two different wrong tokens, a wrong prefix and no prefix, answer the very same
    wrong = [
        httpx.get(f"{platform.api}/account", headers={"Authorization": f"Bearer {t}"})
        for t in ("moor_" + os.urandom(32).hex(), "x")
    ]
    # revocation: one's own token only; afterwards it is refused like a wrong one
    mine = _ok(carol("GET", "/oauth/authorizations"))
    assert [a["user"]["email"] for a in mine] == [carol_email]
    admins = _ok(world.admin("GET", "/oauth/authorizations"))
    others = [carol("DELETE", f"/oauth/authorizations/{a['id']}").status_code for a in admins]
    revoked = _ok(carol("DELETE", f"/oauth/authorizations/{mine[0]['id']}"))
    after = carol("GET", "/account")
    again = world.admin("DELETE", f"/oauth/authorizations/{mine[0]['id']}")
    cli = platform.moor("apps", token=carol.token, check=False)
    failures = (
        len(stored)
        + sum(1 for code in others if code != 404)
        + (after.status_code != 401)
        + (wrong[0].json() != wrong[1].json())
        + (after.json() != wrong[0].json())
    )
    record(
        "Authorization: API tokens hashed at rest, revocable, wrong ones indistinguishable",
        tried=f"3 tokens searched in {len(rows)} state-store rows, 2 wrong tokens, "
        f"{len(admins)} revocations of another user's tokens, 1 own revocation",
        failures=failures,
        recovery="n/a",
        command=COMMAND,
    )
    assert not stored, f"raw tokens in the state store: {stored}"
    assert all(r.status_code == 401 for r in wrong)
    assert wrong[0].json() == wrong[1].json() == after.json()
    assert wrong[0].headers["www-authenticate"] == wrong[1].headers["www-authenticate"]
    assert others == [404] * len(admins)
    assert revoked["id"] == mine[0]["id"] and after.status_code == 401
    assert again.status_code == 404  # gone for everyone
    assert cli.returncode == 3 and "Invalid credentials" in cli.stderr
    assert _ok(world.admin("GET", "/account"))["email"] == "admin@example.test"


def _from(address: str, **kwargs: Any) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address, **kwargs), timeout=30)


def _hammer(get: Callable[[str], httpx.Response], n: int) -> list[int]:
    return [get(f"moor_wrong{i}").status_code for i in range(n)]


def test_failed_logins_are_rate_limited_per_client_address(
    platform: LivePlatform, world: World
) -> None:
    """127.0.0.2 and 127.0.0.3 stand for two remote clients: the owner's own CLI on
    127.0.0.1 keeps working while they are refused."""
    good = world.bob.token
    direct = _from("127.0.0.2")

    def api(token: str | None, **headers: str) -> httpx.Response:
        auth = {"Authorization": f"Bearer {token}"} if token else {}
        return direct.get(f"{platform.api}/account", headers={**auth, **headers})

    # direct callers: X-Forwarded-For is not believed from a peer other than the edge
    codes = [
        api(f"moor_wrong{i}", **{"X-Forwarded-For": f"10.0.0.{i}"}).status_code for i in range(20)
    ]
    refused = api("moor_wrong20")
    good_refused = api(good)
    started = time.monotonic()
    # through the HTTPS edge from 127.0.0.3, spoofing X-Forwarded-For on every request
    ca = str(platform.data / "tls" / "ca.crt")
    edge = _from("127.0.0.3", verify=ssl.create_default_context(cafile=ca))
    api_host = f"api.{platform.domain}"

    def via_edge(token: str) -> httpx.Response:
        return edge.get(
            f"https://127.0.0.1:{platform.https_port}/account",
            headers={
                "Host": f"{api_host}:{platform.https_port}",
                "Authorization": f"Bearer {token}",
                "X-Forwarded-For": f"10.9.{os.urandom(1)[0]}.1",
            },
            extensions={"sni_hostname": api_host},
        )

    edge_codes = _hammer(via_edge, 20)
    edge_refused = via_edge("moor_wrong20")
    owner = platform.moor("auth:whoami", check=False)  # 127.0.0.1, also the edge's address
    # the window passes: the same address gets in again
    wait = int(refused.headers.get("retry-after", "60"))
    time.sleep(max(0.0, wait - (time.monotonic() - started)) + 1)
    later = api(good)
    failures = (
        sum(c != 401 for c in codes + edge_codes)
        + (refused.status_code != 429)
        + (good_refused.status_code != 429)
        + (edge_refused.status_code != 429)
        + (owner.returncode != 0)
        + (later.status_code != 200)
    )
    record(
        "Failed logins rate-limited per client address",
        tried="21 wrong tokens direct (spoofed X-Forwarded-For), 21 through the HTTPS edge "
        "(spoofed X-Forwarded-For), a good token while refused, the owner's CLI meanwhile, "
        "a good token after Retry-After",
        failures=failures,
        recovery=f"{wait} s (Retry-After)",
        command=COMMAND,
    )
    assert codes == [401] * 20 and edge_codes == [401] * 20
    assert refused.status_code == 429, refused.text
    body = refused.json()
    assert body["id"] == "rate_limited"
    assert body["message"] == f"Too many failed logins from 127.0.0.2; wait {wait} s."
    assert 1 <= wait <= 60  # a wait is announced, never longer than the 60 s window
    assert good_refused.status_code == 429
    assert edge_refused.status_code == 429, edge_refused.text
    assert "from 127.0.0.3;" in edge_refused.json()["message"]
    assert owner.returncode == 0 and owner.stdout.strip() == "admin@example.test"
    assert later.status_code == 200, later.text
