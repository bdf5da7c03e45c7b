"""Tenant isolation holes an adversarial probe found (issue 23), one test per item.

User A is the platform's admin; user B gets a token of its own. Each test attacks as B (or
anonymously) and states its item number in its docstring.
"""

from __future__ import annotations

import hmac
import http.server
import os
import shutil
import socket
import sqlite3
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import jwt
import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from moorage.convert.load import load
from moorage.server.services.auth import hash_token
from tests import certgen
from tests.livefixtures import MOOR, OUTSIDE, LivePlatform, in_pty
from tests.security.tenants import User

pytestmark = pytest.mark.integration


def _name(prefix: str) -> str:
    return f"{prefix}-{os.urandom(3).hex()}"


def test_an_outsider_cannot_join_another_teams_group(users: tuple[User, User]) -> None:
    """Item 1: joining a group needs access to every app in it; outsiders learn no names."""
    a, b = users
    group = _name("shop")
    a_app, b_app = a.ok("POST", "/apps", {"name": _name("carts")}), None
    try:
        a.ok("PATCH", f"/apps/{a_app['name']}", {"moorage": {"group": group}})
        b_app = b.ok("POST", "/apps", {"name": _name("evil")})
        for aliases in ([], ["payments"], [f"{a_app['name']}.internal"]):
            joined = b(
                "PATCH", f"/apps/{b_app['name']}", {"moorage": {"group": group, "aliases": aliases}}
            )
            assert joined.status_code == 403, joined.text
            assert a_app["name"] not in joined.text
            assert "another team's" in joined.json()["message"]
        assert b.ok("GET", f"/apps/{b_app['name']}")["moorage"]["group"] is None
        # the owner adds B on every app of the group: now B may bring its app in
        a.ok("POST", f"/apps/{a_app['name']}/collaborators", {"user": b.email})
        joined = b("PATCH", f"/apps/{b_app['name']}", {"moorage": {"group": group}})
        assert joined.status_code == 200, joined.text
    finally:
        for owner, app in ((a, a_app), (b, b_app)):
            if app is not None:
                owner("DELETE", f"/apps/{app['name']}")


def _tail(user: User, app: str, ended: threading.Event, got: list[str]) -> threading.Thread:
    url = user.ok("POST", f"/apps/{app}/log-sessions", {"tail": True, "lines": 10})["logplex_url"]

    def read() -> None:
        try:
            with httpx.stream("GET", url, timeout=httpx.Timeout(10, read=300)) as resp:
                for chunk in resp.iter_text():
                    got.append(chunk)
        except httpx.HTTPError:
            pass
        ended.set()

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def _ends(ended: threading.Event, what: str) -> None:
    assert ended.wait(60), f"the log stream went on after {what}"


def test_logs_and_metrics_die_with_their_app_and_streams_with_access(
    platform: LivePlatform, users: tuple[User, User]
) -> None:
    """Item 2: a destroyed app's logs and metrics are gone, a new app of its name starts
    empty, and open tails end when the app goes or the reader loses access."""
    a, b = users
    name, secret = _name("x"), os.urandom(6).hex()
    b.ok("POST", "/apps", {"name": name})  # no release yet: the router answers for it
    router = f"http://127.0.0.1:{platform.router_port}/reset?password_reset_token={secret}"
    ended, got = threading.Event(), []
    _tail(b, name, ended, got)
    deadline = time.monotonic() + 60
    while secret not in "".join(got):  # B's own router line, in B's own tail
        assert time.monotonic() < deadline, "".join(got)
        # until the reconciler has published the new app's host, the router answers for
        # an unknown host, a line of no app: ask again
        httpx.get(router, headers={"Host": f"{name}.{platform.domain}"})
        time.sleep(1)
    # a release without a web process takes the app off the router: after the router line
    b.ok("PATCH", f"/apps/{name}/config-vars", {f"RESET_{secret.upper()}": "1"})
    b.ok("DELETE", f"/apps/{name}")
    _ends(ended, "its app was destroyed")
    assert not (platform.data / "logs" / name).exists()
    try:
        a.ok("POST", "/apps", {"name": name})
        session = a.ok("POST", f"/apps/{name}/log-sessions", {"lines": 1000})
        history = httpx.get(session["logplex_url"], timeout=30).text
        assert secret.upper() not in history.upper(), history
        metrics = a.ok_text(f"/apps/{name}/metrics")
        counted = [
            line
            for line in metrics.splitlines()
            if line.startswith("moorage_router_requests") and f'app="{name}"' in line
        ]
        assert counted == [], counted
    finally:
        a("DELETE", f"/apps/{name}")
    # a collaborator's open tail ends when the owner removes them
    shared = a.ok("POST", "/apps", {"name": _name("shared")})["name"]
    try:
        a.ok("POST", f"/apps/{shared}/collaborators", {"user": b.email})
        ended, got = threading.Event(), []
        _tail(b, shared, ended, got)
        time.sleep(3)  # the stream is open and idle
        assert not ended.is_set()
        a.ok("DELETE", f"/apps/{shared}/collaborators/{b.email}")
        _ends(ended, "the reader lost access")
    finally:
        a("DELETE", f"/apps/{shared}")


def _readable_by_nobody(path: Path) -> bool:
    proc = subprocess.run(
        ["runuser", "-u", "nobody", "--", "head", "-c", "1", str(path)],
        capture_output=True,
        check=False,
    )
    return proc.returncode == 0


def test_the_data_folder_is_private_and_secrets_are_sealed_at_rest(
    platform: LivePlatform, actors: str, users: tuple[User, User]
) -> None:
    """Item 3: nobody (the host user of nginx workers and dynos) reads nothing of the state
    store, registry layers, app logs or the router's access log, and a root reading the
    state store's files finds no config value, add-on password or certificate key."""
    a, _ = users
    name, value = _name("vault"), f"config-{os.urandom(8).hex()}"
    a.ok("POST", "/apps", {"name": name})
    try:
        a.ok("PATCH", f"/apps/{name}/config-vars", {"VAULT_TOKEN": value})
        hostname = f"{name}.example.test"
        a.ok("POST", f"/apps/{name}/domains", {"hostname": hostname})
        key = ec.generate_private_key(ec.SECP256R1())
        pem_key = certgen.key_pem(key)
        chain = certgen.pem(certgen.cert(hostname, key, sans=(hostname,)))
        a.ok("POST", f"/apps/{name}/sni-endpoints", {"certificate_chain": chain,
                                                     "private_key": pem_key})  # fmt: skip
        password = urlsplit(a.ok("GET", f"/apps/{actors}/config-vars")["DATABASE_URL"]).password
        assert password
        httpx.get(
            f"http://127.0.0.1:{platform.router_port}/?q=x",
            headers={"Host": f"{actors}.{platform.domain}"},
        )
        data = platform.data
        layers = next((data / "registry" / "data").rglob("data"))
        private = [
            *data.glob("state.db*"),
            data / "server.log",
            data / "secret.key",
            layers,
            next(p for p in (data / "logs").rglob("*") if p.is_file()),
            data / "router" / "logs" / "access.log",
        ]
        readable = [str(p) for p in private if _readable_by_nobody(p)]
        assert readable == [], readable
        raw = b"".join(p.read_bytes() for p in data.glob("state.db*"))
        body = "".join(pem_key.splitlines()[1:-1]).encode()
        for secret in (value.encode(), password.encode(), body[:40]):
            assert secret not in raw, secret
    finally:
        a("DELETE", f"/apps/{name}")


def test_an_image_cannot_make_its_dyno_root(platform: LivePlatform, tmp_path: Path) -> None:
    """Item 5: ``USER root:root`` or a name the image maps to uid 0 still runs as nobody."""
    app = platform.create_app("rooty")
    for version, user, extra in (
        ("v1", "toor", "RUN echo 'toor:x:0:0::/:/bin/sh' >> /etc/passwd\n"),
        ("v2", "root:root", ""),
    ):
        (tmp_path / "Dockerfile").write_text(
            f"FROM python:3\n{extra}USER {user}\n"
            f'CMD ["sh", "-c", "cd /tmp && echo {version} $(id) > index.html && '
            'exec python3 -m http.server \\"$PORT\\""]\n'
        )
        platform.moor("container:push", "web", "-a", app, cwd=tmp_path)
        platform.moor("container:release", "web", "-a", app, cwd=tmp_path)
        body = platform.wait_for(app, version).text
        assert "uid=65534" in body and "gid=65534" in body, (user, body)
    platform.moor("apps:destroy", "-a", app, "--confirm", app)
    platform.apps.discard(app)


def test_revoking_a_token_ends_its_dashboard_sessions_and_registry_tokens(
    platform: LivePlatform,
) -> None:
    """Item 6: a dashboard session and a registry token made with an API token stop working
    once it is revoked (the registry token within its 15 s lifetime and the registry's
    60 s leeway)."""
    email = f"trudy-{os.urandom(3).hex()}@example.test"
    keep = User(platform.api, platform.new_token(email), email)
    token = platform.new_token(email)  # a second token of the same user, to revoke
    app = keep.ok("POST", "/apps", {"name": _name("revoked")})["name"]
    try:
        login = httpx.post(f"{platform.api}/dashboard/login", data={"token": token})
        cookie = {"Cookie": f"moorage_session={login.cookies['moorage_session']}"}
        assert app in httpx.get(f"{platform.api}/dashboard/", headers=cookie).text
        registry_token = httpx.get(
            f"{platform.api}/registry/token",
            params={"scope": f"repository:{app}/web:pull"},
            auth=("_", token),
        ).json()["token"]
        issued = time.monotonic()
        listing = f"http://{platform.registry}/v2/{app}/web/tags/list"
        bearer = {"Authorization": f"Bearer {registry_token}"}
        assert httpx.get(listing, headers=bearer).status_code == 404  # allowed, nothing pushed
        with sqlite3.connect(platform.data / "state.db") as db:  # which listed id it is
            (token_id,) = db.execute(
                "SELECT id FROM api_tokens WHERE token_hash = ?", (hash_token(token),)
            ).fetchone()
        keep.ok("DELETE", f"/oauth/authorizations/{token_id}")
        assert httpx.get(f"{platform.api}/account", auth=("_", token)).status_code == 401
        page = httpx.get(f"{platform.api}/dashboard/", headers=cookie)
        assert app not in page.text and page.status_code in (302, 303, 307), page.status_code
        # 15 s of life plus Distribution's 60 s of leeway for clock skew
        time.sleep(max(0.0, issued + 80 - time.monotonic()))
        assert httpx.get(listing, headers=bearer).status_code == 401
    finally:
        keep("DELETE", f"/apps/{app}")


def test_a_local_caller_cannot_choose_its_address_for_the_login_limit(
    platform: LivePlatform,
) -> None:
    """Item 9: X-Forwarded-For is believed only from the edge (which proves itself), so a
    caller on 127.0.0.1 rotating it is still refused after 20 bad tokens."""
    codes = []
    for n in range(25):
        resp = httpx.get(
            f"{platform.api}/account",
            headers={"Authorization": f"Bearer moor_bad{n}", "X-Forwarded-For": f"198.51.100.{n}"},
        )
        codes.append(resp.status_code)
    assert codes[:20] == [401] * 20 and 429 in codes[20:], codes
    # 127.0.0.1 is also the owner's own CLI here: wait the window out before going on
    wait = int(resp.headers.get("retry-after", "60"))
    time.sleep(wait + 1)
    assert platform.moor("auth:whoami", check=False).returncode == 0


def test_registry_tokens_name_repositories_by_app_name_only(
    platform: LivePlatform, users: tuple[User, User]
) -> None:
    """Item 10: a scope naming the app by its id grants nothing (such a repository would
    outlive the app)."""
    a, _ = users
    app = a.ok("POST", "/apps", {"name": _name("canon")})
    try:
        for name, granted in ((app["id"], False), (app["name"], True)):
            token = httpx.get(
                f"{platform.api}/registry/token",
                params={"scope": f"repository:{name}/web:pull,push"},
                auth=("_", a.token),
            ).json()["token"]
            claims = jwt.decode(token, options={"verify_signature": False})
            assert bool(claims["access"]) is granted, (name, claims["access"])
    finally:
        a("DELETE", f"/apps/{app['name']}")


def test_collaborators_are_existing_users_who_may_leave(
    platform: LivePlatform, users: tuple[User, User]
) -> None:
    """Item 12: adding an unknown email makes no account; an invited user may leave."""
    a, b = users
    app = a.ok("POST", "/apps", {"name": _name("crew")})["name"]
    stranger = f"stranger-{os.urandom(3).hex()}@example.test"
    try:
        added = a("POST", f"/apps/{app}/collaborators", {"user": stranger})
        assert added.status_code == 404 and "moor setup" in added.json()["message"]
        with sqlite3.connect(platform.data / "state.db") as db:
            assert db.execute("SELECT 1 FROM users WHERE email = ?", (stranger,)).fetchall() == []
        a.ok("POST", f"/apps/{app}/collaborators", {"user": b.email})
        assert app in [x["name"] for x in b.ok("GET", "/apps")]
        b.ok("DELETE", f"/apps/{app}/collaborators/{b.email}")  # leaves
        assert app not in [x["name"] for x in b.ok("GET", "/apps")]
        assert a.ok("GET", f"/apps/{app}")["name"] == app  # the app is the owner's still
    finally:
        a("DELETE", f"/apps/{app}")


def test_urls_come_from_the_platforms_names_and_errors_hide_server_paths(
    platform: LivePlatform, actors: str, users: tuple[User, User], tmp_path: Path
) -> None:
    """Item 16: a client's Host and X-Forwarded-Proto do not shape the URLs the API hands
    out, and a failed restore does not show where the server keeps files."""
    a, _ = users
    spoofed = httpx.post(
        f"{platform.api}/apps/{actors}/log-sessions",
        json={"lines": 1},
        headers={
            "Authorization": f"Bearer {a.token}",
            "Host": "evil.example",
            "X-Forwarded-Proto": "javascript",
        },
    )
    assert spoofed.status_code == 201, spoofed.text
    assert spoofed.json()["logplex_url"].startswith(platform.api + "/log-sessions/")
    corrupt = tmp_path / "corrupt.dump"
    corrupt.write_bytes(b"PGDMP" + bytes(range(256)) * 40)
    bad = platform.moor(
        "pg:backups:restore", str(corrupt), "-a", actors, "--confirm", actors, check=False
    )
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert str(platform.data) not in bad.stderr and "uploads" not in bad.stderr, bad.stderr


def test_backups_go_with_their_addon(platform: LivePlatform) -> None:
    """Item 11: a destroyed add-on's backup files are removed (the app's destroy too)."""
    for destroy_app in (False, True):
        app = platform.create_app("backed")
        platform.moor("addons:create", "postgresql", "-a", app)
        [addon] = platform.json("addons", "-a", app)
        backup = platform.json("pg:backups:capture", "-a", app)
        assert backup["status"] == "completed"
        folder = platform.data / "backups" / addon["id"]
        assert any(folder.glob("*.dump"))
        if destroy_app:
            platform.moor("apps:destroy", "-a", app, "--confirm", app)
        else:
            platform.moor("addons:destroy", addon["name"], "-a", app, "--confirm", app)
            platform.moor("apps:destroy", "-a", app, "--confirm", app)
        platform.apps.discard(app)
        assert not folder.exists(), list(folder.rglob("*"))


TINY = Path(__file__).parents[1] / "integration" / "apps" / "tiny"


def test_release_output_links_end_with_their_token_and_release(
    platform: LivePlatform, actors: str, tmp_path: Path
) -> None:
    """Item 8: an ``output_stream_url`` stops working when the token it was handed to is
    revoked, and once its release has ended (a minute after)."""
    app = platform.create_app("phase")
    shutil.copytree(TINY, tmp_path / "app")
    (tmp_path / "app" / "heroku.yml").write_text('release:\n  command: ["sleep", "60"]\n')
    platform.moor("container:push", "web", "-a", app, cwd=tmp_path / "app")
    release = subprocess.Popen(
        [MOOR, "container:release", "web", "-a", app],
        cwd=tmp_path / "app",
        env=platform.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        email, second = "admin@example.test", tmp_path / "second.token"
        platform.moor("setup", "--email", email, "--token-file", str(second))
        viewer = User(platform.api, second.read_text().strip(), email)
        deadline, url = time.monotonic() + 60, None
        while url is None:
            assert time.monotonic() < deadline, "no pending release with an output stream"
            pending = [
                r for r in viewer.ok("GET", f"/apps/{app}/releases") if r["status"] == "pending"
            ]
            url = next((r.get("output_stream_url") for r in pending), None)
            time.sleep(0.5)
        with httpx.stream("GET", url, timeout=10) as live:
            assert live.status_code == 200
        with sqlite3.connect(platform.data / "state.db") as db:
            (token_id,) = db.execute(
                "SELECT id FROM api_tokens WHERE token_hash = ?", (hash_token(viewer.token),)
            ).fetchone()
        owner = User(platform.api, (platform.data / f"{email}.token").read_text().strip(), email)
        owner.ok("DELETE", f"/oauth/authorizations/{token_id}")
        assert httpx.get(url, timeout=10).status_code == 404  # its token is gone
        # a release that ended long ago: a correctly signed link for a live token is refused
        [old] = [r for r in owner.ok("GET", f"/apps/{actors}/releases") if r["version"] == 1]
        with sqlite3.connect(platform.data / "state.db") as db:
            (live_token,) = db.execute(
                "SELECT id FROM api_tokens WHERE token_hash = ?", (hash_token(owner.token),)
            ).fetchone()
        secret = (platform.data / "secret.key").read_bytes()
        message = f"release-output:{old['id']}:{live_token}".encode()
        signed = f"{live_token}.{hmac.new(secret, message, 'sha256').hexdigest()}"
        ended = httpx.get(f"{platform.api}/release-output/{old['id']}/{signed}", timeout=10)
        assert ended.status_code == 404, ended.text
    finally:
        release.kill()
        release.wait()


def test_chart_and_manifest_links_out_of_the_input_are_not_followed(tmp_path: Path) -> None:
    """Item 7: ``link -> /root/secret-file`` in a chart (read with ``.Files.Get``) or a
    manifest folder (a linked .yaml) is not read; a finding names the link."""
    secret = tmp_path / "outside" / "secret-file"
    secret.parent.mkdir()
    secret.write_text(f"sekrit-{os.urandom(6).hex()}")
    secret.chmod(0o600)
    (tmp_path / "outside" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: leak}\n"
        f"data: {{k: {secret.read_text()}}}\n"
    )
    chart = tmp_path / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: shop\nversion: 0.1.0\n")
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: conf}\n"
        'data: {token: {{ .Files.Get "link" | quote }}, own: {{ .Files.Get "inside" | quote }}}\n'
    )
    (chart / "real.txt").write_text("inside-value")
    (chart / "link").symlink_to(secret)
    (chart / "inside").symlink_to(chart / "real.txt")  # a link inside the chart is fine
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "leak.yaml").symlink_to(tmp_path / "outside" / "cm.yaml")
    for root in (chart, manifests):
        objects, findings = load([root])
        dumped = repr([o.body for o in objects])
        assert secret.read_text() not in dumped, dumped
        named = [f for f in findings if f.source.kind == "(symlink)"]
        assert named and all("not read" in f.why for f in named), findings
    objects, _ = load([chart])
    assert "inside-value" in repr([o.body for o in objects])


PROBE_METADATA = """
import socket
try:
    socket.create_connection(("169.254.169.254", 80), timeout=5).close()
    print("metadata: open")
except OSError as exc:
    print("metadata: closed", exc)
"""


def test_dynos_cannot_reach_link_local_addresses(platform: LivePlatform) -> None:
    """Item 14: a dyno's connection to 169.254.169.254 (cloud metadata) is refused."""
    app = platform.create_app("meta")
    platform.moor("container:push", "web", "-a", app, cwd=TINY)
    platform.moor("container:release", "web", "-a", app, cwd=TINY)
    code, output = in_pty(platform, "run", "-a", app, "--", "python3", "-c", PROBE_METADATA)
    assert code == 0 and "metadata: closed" in output, output
    platform.moor("apps:destroy", "-a", app, "--confirm", app)
    platform.apps.discard(app)


def test_a_database_login_sees_no_other_tenants_names(
    platform: LivePlatform, users: tuple[User, User]
) -> None:
    """Item 13: databases and roles have opaque names, and an add-on login cannot list the
    cluster's databases, roles or sessions."""
    a, _ = users
    app = a.ok("POST", "/apps", {"name": _name("catalog")})["name"]
    try:
        a.ok("POST", f"/apps/{app}/addons", {"plan": "postgresql"})
        url = a.ok("GET", f"/apps/{app}/config-vars")["DATABASE_URL"]
        parts = urlsplit(url)
        database = parts.path.lstrip("/")
        assert app.replace("-", "_") not in database and app not in (parts.username or "")
        loopback = parts._replace(  # as the host reaches it (dynos use the bridge gateway)
            scheme="postgresql", netloc=f"{parts.netloc.rsplit('@', 1)[0]}@127.0.0.1:{parts.port}"
        ).geturl()
        with psycopg.connect(loopback, connect_timeout=10, autocommit=True) as conn:
            for catalog in ("pg_database", "pg_roles", "pg_stat_activity", "pg_user"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(f"SELECT count(*) FROM pg_catalog.{catalog}")
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        a("DELETE", f"/apps/{app}")


class _Redirect(http.server.BaseHTTPRequestHandler):
    target = ""

    def do_GET(self) -> None:
        self.send_response(302)
        self.send_header("Location", self.target)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_restores_and_drains_reach_no_internal_address(
    platform: LivePlatform, actors: str, users: tuple[User, User]
) -> None:
    """Item 4: no fetch or drain to loopback (directly, by name, or by a redirect from an
    allowed host), and the refusal reads the same for an open and a closed port."""
    a, _ = users
    api_port = platform.api.rsplit(":", 1)[1]
    _Redirect.target = f"http://127.0.0.1:{api_port}/account"
    server = http.server.ThreadingHTTPServer((OUTSIDE, 0), _Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    listener = socket.create_server(("127.0.0.1", 0))  # stands for another tenant's service
    listener.settimeout(1)
    try:
        answers = {}
        for name, url in (
            ("open", f"http://127.0.0.1:{api_port}/"),
            ("closed", "http://127.0.0.1:1/"),
            ("by name", f"http://localhost:{api_port}/"),
            ("redirect", f"http://{OUTSIDE}:{server.server_address[1]}/backup.dump"),
        ):
            out = platform.moor(
                "pg:backups:restore", url, "-a", actors, "--confirm", actors, check=False
            )
            assert out.returncode != 0 and "MOORAGE_EGRESS_ALLOW" in out.stderr, (name, out)
            answers[name] = out.stderr.replace(api_port, "PORT").replace(":1/", ":PORT/")
        assert answers["open"] == answers["closed"], answers
        drain = f"syslog+tcp://127.0.0.1:{listener.getsockname()[1]}"
        a.ok("POST", f"/apps/{actors}/log-drains", {"url": drain})
        try:
            deadline = time.monotonic() + 60
            while True:  # a line for the drain to carry (again, until its forwarder runs)
                platform.get(actors, f"/?drain={os.urandom(3).hex()}")
                rows = {r["url"]: r for r in a.ok("GET", f"/apps/{actors}/log-drains")}
                stats = rows[drain]["moorage_stats"]
                if stats["errors"]:
                    break
                assert time.monotonic() < deadline, stats
                time.sleep(1)
            assert "MOORAGE_EGRESS_ALLOW" in (stats["last_error"] or ""), stats
            with pytest.raises(TimeoutError):
                listener.accept()  # nothing connected
        finally:
            a("DELETE", f"/apps/{actors}/log-drains/{rows[drain]['id']}")
    finally:
        server.shutdown()
        server.server_close()
        listener.close()
