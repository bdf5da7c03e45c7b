"""The router: nginx with a routing table it holds in shared memory.

:func:`render` (nginx.conf) and :func:`render_table` (host -> app -> dyno addresses) are
pure. :meth:`NginxRouter.apply` saves the table and hands it to the running nginx through a
control socket; nginx reloads only when nginx.conf itself changes (an upgrade), because a
reload closes every keep-alive client connection after its current response and a client
that sends its next request in that instant gets a reset (measured: 132 read errors in 50
reloads under wrk). nginx runs in its own session, so it outlives ``moor server``; when it
starts it loads the table from the file the platform saved last.
"""

from __future__ import annotations

import base64
import hashlib
import os
import pwd
import resource
import secrets
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from moorage.errors import ComponentFailed
from moorage.router.certs import EdgeCerts
from moorage.spec.dyno import Route

PAGES = Path(__file__).parent / "pages"
LUA = Path(__file__).parent / "lua"
TABLE_MAX_BYTES = 4 << 20
NGINX = "/usr/sbin/nginx"
# read by app only when asked (moorage.logs.routerfiles, which shows an H10 line's dyno,
# the router's own 503 server, as none: a map here cost 1,500 instructions a request)
LOG_FORMAT = (
    '\'$msec $moorage_app $moorage_at method=$request_method path="$request_uri" host=$host '
    'request_id=$moorage_request_id fwd="$remote_addr" dyno=$upstream_addr '
    "connect=${upstream_connect_time}s service=${upstream_response_time}s "
    "status=$status bytes=$body_bytes_sent protocol=$scheme'"
)


MODULES = Path("/usr/lib/nginx/modules")
WORKER_USER = "moorage-router"  # nginx workers: not nobody, so nobody cannot read the logs


def log_dir(root: Path) -> Path:
    """Where nginx writes its access log (query strings) and error log: the workers' user's
    alone (0700), since the master hands the files to that user when it reopens them."""
    return root / "logs"


def access_log(root: Path) -> Path:
    return log_dir(root) / "access.log"


def ensure_worker_user() -> str:
    """The system user nginx workers run as, made once (Debian's ``useradd``)."""
    try:
        pwd.getpwnam(WORKER_USER)
    except KeyError:
        proc = subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home", "--home-dir",
             "/nonexistent", "--shell", "/usr/sbin/nologin", WORKER_USER],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if proc.returncode not in (0, 9):  # 9: made meanwhile
            raise ComponentFailed(
                f"cannot create the {WORKER_USER} user: {proc.stderr.strip()}"
            ) from None
    return WORKER_USER


def control_socket(root: Path) -> Path:
    """The socket the platform replaces the table through; its directory is root's alone
    (the table carries certificate keys and decides where every host goes)."""
    return root / "private" / "control.sock"


PAGE_STATUSES = (404, 503)  # the router's own answers: a host with no app, H10


def page_socket(root: Path, status: int) -> Path:
    """The socket of the router's own server answering ``status`` (see
    :func:`_page_servers`; lua/moorage_router.lua names the same paths)."""
    return root / "run" / f"{status}.sock"


def request_ids(root: Path) -> Path:
    """The file that makes request ids: ``set $moorage_request_id <prefix>-$connection-
    $connection_requests;``. nginx counts connections from 1 again at every start and
    reload, so :meth:`NginxRouter.reload` writes a new random prefix first; an id is
    unique as a trace id must be, not secret (OpenSSL's 16 random bytes per request, nginx's
    ``$request_id``, cost 6,600 instructions a request, more than the router's Lua)."""
    return root / "request_id.conf"


def write_request_ids(root: Path) -> None:
    prefix = secrets.token_hex(8)
    text = f"set $moorage_request_id {prefix}-$connection-$connection_requests;\n"
    staged = root / "request_id.conf.new"
    staged.write_text(text)
    os.replace(staged, request_ids(root))


@dataclass(frozen=True)
class Edge:
    """HTTPS at the edge: ``api.<domain>`` and ``registry.<domain>`` proxied to the
    loopback API and registry, every other host routed to apps, on ``port``."""

    domain: str
    port: int
    api: str  # 127.0.0.1:7070
    registry: str  # 127.0.0.1:7050
    certs: EdgeCerts
    # sent to the API on every request the edge forwards (clients' own copies replaced):
    # only then does the API believe the edge's X-Forwarded-For; nginx.conf is root's alone
    proof: str = ""


def _app_locations(root: Path) -> list[str]:
    """The locations of a server that routes to apps by host.

    The balancer routes (see lua/moorage_router.lua): it sets ``$moorage_app``, and
    ``$moorage_at`` for an app with no web dyno up (H10). ``/.well-known/acme-challenge/``
    answers from ``<root>/acme`` when the file is there (an ACME client's webroot, see
    docs/tls.md) and goes to the app otherwise."""
    pages = root / "pages"
    to_app = [
        "      set $moorage_app -; set $moorage_at at=info;",
        f"      include {request_ids(root)};",
        "      proxy_pass http://moorage_dynos; }",
    ]
    return [
        # counted for every request of an app, H10 pages included (see moorage_router.lua)
        "    log_by_lua_block { moorage.record() }",
        "    error_page 502 503 504 /503.html;",
        f"    location = /503.html {{ internal; root {pages}; }}",
        "    location ^~ /.well-known/acme-challenge/ {",
        f"      root {root / 'acme'}; try_files $uri @moorage_app; }}",
        "    location @moorage_app {",
        *to_app,
        "    location / {",
        *to_app,
        "  }",
    ]


def _page_servers(root: Path) -> list[str]:
    """The router's own answers for a host with no app (404) and an app with no web dyno
    up (503, H10), on unix sockets the balancer sends those requests to."""
    return [
        line
        for status in PAGE_STATUSES
        for line in (
            f"  server {{ listen unix:{page_socket(root, status)}; access_log off;",
            f"    error_page {status} /{status}.html; location / {{ return {status}; }}",
            f"    location = /{status}.html {{ internal; root {root / 'pages'}; }} }}",
        )
    ]


_PASS_HEADERS = [
    "      proxy_set_header Host $http_host;",
    "      proxy_set_header X-Request-Id $request_id;",
    "      proxy_set_header X-Forwarded-For $remote_addr;",
    "      proxy_set_header X-Forwarded-Proto https;",
    "      proxy_set_header X-Forwarded-Port $server_port;",
]


# What a client says about where it connected from, and how, is replaced by what the router
# saw (X-Forwarded-For/-Proto/-Port above), or removed: an app that trusts its proxy's
# headers (Flask's ProxyFix, Django's USE_X_FORWARDED_HOST, RFC 7239 parsers, IIS-style
# rewrites) must not get the client's word for them. nginx sends no header set to "".
_CLIENT_CLAIMS = [
    "  proxy_set_header X-Forwarded-Host $host;",
    "  proxy_set_header X-Real-IP $remote_addr;",
    '  proxy_set_header Forwarded "";',
    '  proxy_set_header X-Original-URL "";',
    '  proxy_set_header X-Rewrite-URL "";',
]


# How requests go to dynos: HTTP/1.1 with keep-alive, Heroku's headers, the client's claims
# about the connection replaced, a dyno that refuses the connection skipped.
_TO_DYNOS = [
    "  proxy_http_version 1.1;",
    '  proxy_set_header Connection "";',
    "  proxy_set_header Host $host;",
    "  proxy_set_header X-Request-Id $moorage_request_id;",
    "  proxy_set_header X-Forwarded-For $remote_addr;",
    "  proxy_set_header X-Forwarded-Proto $scheme;",
    "  proxy_set_header X-Forwarded-Port $server_port;",
    *_CLIENT_CLAIMS,
    "  proxy_next_upstream error timeout http_502;",
    "  proxy_connect_timeout 5s;",
    "  proxy_read_timeout 30s;",
]


def _edge_servers(edge: Edge, root: Path) -> list[str]:
    """``api.``, ``git.`` and ``registry.``: long-lived, unbuffered streams (logs, pushes,
    exec).

    The Heroku CLI reads a manifest with HTTP Basic (``:token``), which Distribution's
    token auth does not take, so those requests go to the API, which checks the token and
    the app's access and asks the registry itself."""
    tls = [
        f"    ssl_certificate {edge.certs.cert}; ssl_certificate_key {edge.certs.key};",
        "    access_log off; client_max_body_size 0; proxy_request_buffering off;",
        "    proxy_buffering off; proxy_read_timeout 3600s; proxy_send_timeout 3600s;",
    ]
    proof = [f'      proxy_set_header X-Moorage-Edge "{edge.proof}";']
    return [
        "  map $http_upgrade $moorage_upgrade { default upgrade; '' ''; }",
        f'  map $http_authorization $moorage_registry {{ "~*^basic " {edge.api}; '
        f"default {edge.registry}; }}",
        f"  server {{ listen {edge.port} ssl; server_name api.{edge.domain};",
        *tls,
        f"    location / {{ proxy_pass http://{edge.api};",
        *_PASS_HEADERS,
        *proof,
        "      proxy_set_header Upgrade $http_upgrade;",
        "      proxy_set_header Connection $moorage_upgrade; } }",
        # the apps' git remotes: https://git.<domain>/<app>.git is the API's /git/<app>.git
        f"  server {{ listen {edge.port} ssl; server_name git.{edge.domain};",
        *tls,
        f"    location / {{ proxy_pass http://{edge.api}/git/;",
        *_PASS_HEADERS,
        *proof,
        '      proxy_set_header Connection ""; } }',
        f"  server {{ listen {edge.port} ssl; server_name registry.{edge.domain};",
        *tls,
        # the registry names its token service on loopback; a client (a Swarm node) that
        # reached it here fetches tokens here too (Basic auth: the map sends it to the API)
        "    header_filter_by_lua_block { local h = ngx.header['WWW-Authenticate'];",
        "      if h then ngx.header['WWW-Authenticate'] = (h:gsub('realm=\"[^\"]*\"',",
        "        'realm=\"https://' .. ngx.var.http_host .. '/registry/token\"', 1)) end }",
        "    location / { proxy_pass http://$moorage_registry;",
        *_PASS_HEADERS,
        *proof,
        '      proxy_set_header Connection ""; } }',
        f"  server {{ listen {edge.port} ssl default_server; server_name _;",
        f"    ssl_certificate {edge.certs.cert}; ssl_certificate_key {edge.certs.key};",
        "    ssl_certificate_by_lua_block { moorage.certificate() }",
        *_app_locations(root),
    ]


def render(*, port: int, root: Path, edge: Edge | None = None) -> str:
    """nginx.conf for a router under ``root`` on ``port``.

    The config names no app: host names and dyno addresses live in a table inside nginx
    (see ``lua/moorage_router.lua`` and :func:`render_table`), so deploys never reload it.
    """
    lines = [
        # a new router module (an upgrade) changes nginx.conf too, so nginx reloads with it
        f"# moorage_router.lua {_lua_version()}",
        f"load_module {MODULES}/ndk_http_module.so;",
        f"load_module {MODULES}/ngx_http_lua_module.so;",
        f"user {WORKER_USER} {WORKER_USER};",
        "worker_processes auto;",
        # client and dyno connections: up to the hard limit
        f"worker_rlimit_nofile {_open_files()};",
        f"pid {root}/nginx.pid;",
        f"error_log {log_dir(root)}/error.log warn;",
        "events { worker_connections 4096; }",
        "http {",
        f"  log_format moorage {LOG_FORMAT};",
        # buffered: a write a second, not one a request; moor server reads an app's lines
        # only when someone asks for them (history, a tail, a drain)
        f"  access_log {access_log(root)} moorage buffer=64k flush=1s;",
        *(f"  {kind}_temp_path {root}/temp/{sub};" for kind, sub in _TEMP_PATHS),
        "  server_tokens off;",
        "  uninitialized_variable_warn off;",
        "  client_max_body_size 100m;",
        *_TO_DYNOS,
        f"  lua_shared_dict moorage_routes {TABLE_MAX_BYTES // (1 << 20) * 2}m;",
        "  lua_shared_dict moorage_stats 16m;",  # ~18 counters an app
        f'  lua_package_path "{root}/lua/?.lua;;";',
        # a global: the hot handlers below call moorage.record() without a require call
        f'  init_by_lua_block {{ moorage = require("moorage_router"); moorage.init("{root}") }}',
        "  init_worker_by_lua_block { moorage.start() }",
        "  upstream moorage_dynos {",
        "    server 0.0.0.1;",  # never used: the balancer picks the dyno
        "    balancer_by_lua_block { moorage.balance() }",
        "    keepalive 64;",
        "  }",
        f"  server {{ listen unix:{control_socket(root)}; access_log off;",
        f"    client_max_body_size {TABLE_MAX_BYTES}; client_body_buffer_size {TABLE_MAX_BYTES};",
        "    location = /routes {",
        "      content_by_lua_block { moorage.serve_replace() } }",
        "    location = /stats {",
        "      content_by_lua_block { moorage.serve_stats() } }",
        "    location / { return 404; } }",
        *_page_servers(root),
        f"  server {{ listen {port} default_server; server_name _;",
        *_app_locations(root),
        *(_edge_servers(edge, root) if edge else []),
        "}",
    ]
    return "\n".join(lines) + "\n"


_TEMP_PATHS = (
    ("client_body", "body"),
    ("proxy", "proxy"),
    ("fastcgi", "fastcgi"),
    ("uwsgi", "uwsgi"),
    ("scgi", "scgi"),
)


def _open_files() -> int:
    """The open files limit for nginx workers: its hard limit, at most 65536 (raising it
    further needs CAP_SYS_RESOURCE)."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)


def _lua_version() -> str:
    return hashlib.sha256((LUA / "moorage_router.lua").read_bytes()).hexdigest()[:16]


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def render_table(routes: list[Route]) -> str:
    """The routing table for ``routes``: ``host <name> <app>``, ``app <app> <ip:port>...``
    and ``cert <host> <chain> <key>`` (base64 PEM) for the hosts with a custom certificate."""
    lines = []
    for route in sorted(routes, key=lambda r: r.app):
        lines += [f"host {host} {route.app}" for host in sorted(route.hosts)]
        lines.append(" ".join(["app", route.app, *sorted(route.backends)]))
        lines += [
            f"cert {c.host} {_b64(c.chain)} {_b64(c.key)}"
            for c in sorted(route.certs, key=lambda c: c.host)
            if c.host in route.hosts
        ]
    return "\n".join(lines) + "\n"


class NginxRouter:
    """Owns one nginx master under ``root``; adopts a running one by its pid file."""

    def __init__(self, root: Path, port: int, edge: Edge | None = None) -> None:
        self.root = root
        self.port = port
        self.edge = edge
        self.conf = root / "nginx.conf"
        self._last: str | None = None
        self.apply_seconds = 0.0

    def _pid(self) -> int | None:
        try:
            pid = int((self.root / "nginx.pid").read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return None
        return pid if b"nginx" in cmdline else None

    def running(self) -> bool:
        return self._pid() is not None

    def _check(self, path: Path) -> None:
        proc = subprocess.run(
            [
                NGINX,
                "-t",
                "-q",
                "-p",
                str(self.root),
                "-e",
                str(log_dir(self.root) / "error.log"),
                "-c",
                str(path),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise ComponentFailed(f"nginx rejected the router config: {proc.stderr.strip()}")

    def apply(self, routes: list[Route]) -> bool:
        """Serve exactly ``routes``; False when nothing changed.

        The table file is written first, so an nginx that starts later serves it too.
        """
        started = time.monotonic()
        table = render_table(routes)
        if len(table) > TABLE_MAX_BYTES:
            raise ComponentFailed(f"the routing table is over {TABLE_MAX_BYTES} bytes")
        if table == self._last and self.running():
            return False
        staged = self.root / "routes.new"
        fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds keys
        with os.fdopen(fd, "w") as fh:
            fh.write(table)
        os.chmod(staged, 0o600)
        os.replace(staged, self.root / "routes")
        if not self._ensure_config():
            self._put_table(table)
        self._last = table
        self.apply_seconds = time.monotonic() - started  # the last change (/metrics)
        return True

    def _ensure_config(self) -> bool:
        """Write nginx.conf and start or reload nginx if needed; False when it ran as is."""
        text = render(port=self.port, root=self.root, edge=self.edge)
        current = self.conf.read_text() if self.conf.exists() else None
        if text == current and self.running():
            return False
        user = ensure_worker_user()
        for sub in ("temp/body", "temp/proxy", "temp/fastcgi", "temp/uwsgi", "temp/scgi"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
            shutil.chown(self.root / sub, user, user)
        self._private_logs(user)
        (self.root / "acme" / ".well-known" / "acme-challenge").mkdir(parents=True, exist_ok=True)
        private = control_socket(self.root).parent
        private.mkdir(mode=0o700, exist_ok=True)
        private.chmod(0o700)
        (self.root / "control.sock").unlink(missing_ok=True)  # where earlier versions kept it
        # workers connect to the page servers' sockets
        page_socket(self.root, 404).parent.mkdir(mode=0o755, exist_ok=True)
        if not request_ids(self.root).exists():  # nginx -t reads it; reload() renews it
            write_request_ids(self.root)
        # nginx workers read the pages and code from our root
        shutil.copytree(PAGES, self.root / "pages", dirs_exist_ok=True)
        shutil.copytree(LUA, self.root / "lua", dirs_exist_ok=True)
        staged = self.root / "nginx.conf.new"
        fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # the edge proof
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        staged.chmod(0o600)
        self._check(staged)
        os.replace(staged, self.conf)
        self.reload()  # nginx loads the table file as it (re)starts
        return True

    def _private_logs(self, user: str) -> None:
        """The log folder (and logs an earlier version kept in ``root``) readable by root
        and the workers' user only."""
        logs = log_dir(self.root)
        logs.mkdir(mode=0o700, exist_ok=True)
        shutil.chown(logs, user, user)
        logs.chmod(0o700)
        for name in ("access.log", "access.log.1", "error.log", "access.offset"):
            old = self.root / name
            if old.exists():
                old.chmod(0o600)
                shutil.chown(old, "root", "root")
        (logs / "access.offset").unlink(missing_ok=True)  # an earlier version's reader
        for log in logs.iterdir():
            log.chmod(0o600)

    def _put_table(self, table: str) -> None:
        transport = httpx.HTTPTransport(uds=str(control_socket(self.root)))
        try:
            with httpx.Client(transport=transport, timeout=10) as client:
                resp = client.put("http://router/routes", content=table.encode())
        except httpx.HTTPError as exc:
            raise ComponentFailed(f"the router's control socket did not answer: {exc}") from exc
        if resp.status_code != 200:
            raise ComponentFailed(f"the router refused the routing table: {resp.text.strip()}")

    def stats(self) -> dict[str, dict[str, float]]:
        """The request counters nginx keeps per app (see lua/moorage_router.lua): app ->
        {"2xx": n, ..., "b0": n, ..., "sum": seconds}; empty when nginx does not answer."""
        transport = httpx.HTTPTransport(uds=str(control_socket(self.root)))
        try:
            with httpx.Client(transport=transport, timeout=10) as client:
                resp = client.get("http://router/stats")
        except httpx.HTTPError:
            return {}
        out: dict[str, dict[str, float]] = {}
        for line in resp.text.splitlines():
            app, _, rest = line.partition(" ")
            name, _, value = rest.partition(" ")
            try:
                out.setdefault(app, {})[name] = float(value)
            except ValueError:
                continue
        return out

    def reload(self) -> None:
        """Graceful reload, or start nginx when none runs; either way with a new request
        id prefix (see :func:`request_ids`)."""
        write_request_ids(self.root)
        pid = self._pid()
        if pid is not None:
            os.kill(pid, signal.SIGHUP)
            return
        # an nginx that died (kill -9, power loss) leaves its sockets behind, and a new one
        # cannot bind while the files are there
        control_socket(self.root).unlink(missing_ok=True)
        for status in PAGE_STATUSES:
            page_socket(self.root, status).unlink(missing_ok=True)
        proc = subprocess.run(
            [
                NGINX,
                "-p",
                str(self.root),
                "-e",
                str(log_dir(self.root) / "error.log"),
                "-c",
                str(self.conf),
            ],
            capture_output=True,
            text=True,
            check=False,
            start_new_session=True,
        )
        if proc.returncode != 0:
            raise ComponentFailed(
                f"nginx failed to start on port {self.port}: {proc.stderr.strip()}. "
                "Is another process using that port? Set MOORAGE_ROUTER_PORT."
            )

    def reopen_logs(self) -> None:
        """Make nginx reopen its log files (after the access log was moved aside)."""
        pid = self._pid()
        if pid is not None:
            os.kill(pid, signal.SIGUSR1)

    def stop(self) -> None:
        pid = self._pid()
        if pid is not None:
            os.kill(pid, signal.SIGQUIT)
